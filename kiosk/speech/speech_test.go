package speech

import (
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// stat measures a WAV file with sox: its length in seconds and RMS
// amplitude.
func stat(t *testing.T, sox, wav string) (length, rms float64) {
	t.Helper()
	out, err := exec.Command(sox, wav, "-n", "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("sox: %v: %s", err, out)
	}
	num := func(label string) float64 {
		m := regexp.MustCompile(label + `:\s+([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no %s in %s", label, out)
		}
		f, _ := strconv.ParseFloat(string(m[1]), 64)
		return f
	}
	return num(`Length \(seconds\)`), num(`RMS\s+amplitude`)
}

// Every UI language is spoken: espeak-ng renders speech of a plausible
// length, and a louder volume is louder.
func TestEveryLanguageSpoken(t *testing.T) {
	prog := testtool.NeedTool(t, "espeak-ng")
	sox := testtool.NeedTool(t, "sox")
	texts := map[string]string{
		"de": "Bitte legen Sie Ihre Blätter in den Einzug.", "de-x-ls": "Legen Sie die Blätter in das Gerät.",
		"en": "Please put your sheets into the feeder.", "ar": "يرجى وضع أوراقك في وحدة التغذية.",
		"tr": "Lütfen sayfalarınızı besleyiciye koyun.", "uk": "Будь ласка, покладіть аркуші в лоток.",
		"ru": "Пожалуйста, положите листы в лоток.",
	}
	if len(texts) != len(Languages()) {
		t.Fatalf("voices for %v, tested %d", Languages(), len(texts))
	}
	dir := t.TempDir()
	for lang, text := range texts {
		e := NewEspeak(nil)
		e.Program, e.WAV = prog, filepath.Join(dir, lang+".wav")
		if err := e.Say(lang, text); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		length, rms := stat(t, sox, e.WAV)
		if length < 1 || length > 10 || rms < 0.01 {
			t.Errorf("%s: %.2fs, RMS %.3f", lang, length, rms)
		}
	}
	// Leichte Sprache is slower than German for the same words.
	e := NewEspeak(nil)
	e.Program = prog
	same := "Bitte legen Sie Ihre Blätter in den Einzug."
	e.WAV = filepath.Join(dir, "de-same.wav")
	e.Say("de", same)
	de, _ := stat(t, sox, e.WAV)
	e.WAV = filepath.Join(dir, "ls-same.wav")
	e.Say("de-x-ls", same)
	ls, _ := stat(t, sox, e.WAV)
	if ls <= de {
		t.Errorf("Leichte Sprache %.2fs, German %.2fs", ls, de)
	}
}

func TestVolumeAndRepeat(t *testing.T) {
	prog := testtool.NeedTool(t, "espeak-ng")
	sox := testtool.NeedTool(t, "sox")
	dir := t.TempDir()
	e := NewEspeak(nil)
	e.Program = prog
	e.WAV = filepath.Join(dir, "soft.wav")
	e.Volume(-3)
	if err := e.Say("en", "Is anybody still there?"); err != nil {
		t.Fatal(err)
	}
	_, soft := stat(t, sox, e.WAV)
	if v := e.Volume(+5); v != 8 {
		t.Fatalf("volume %d", v)
	}
	e.WAV = filepath.Join(dir, "loud.wav")
	if err := e.Repeat(); err != nil {
		t.Fatal(err)
	}
	length, loud := stat(t, sox, e.WAV)
	if loud <= soft*1.5 || length < 0.5 {
		t.Errorf("louder RMS %.3f, softer %.3f (repeat %.2fs)", loud, soft, length)
	}
	if e.Volume(100) != 10 || e.Volume(-100) != 0 {
		t.Error("volume not bounded")
	}
}

func TestUnknownLanguage(t *testing.T) {
	if err := NewEspeak(nil).Say("xx", "hello"); !errors.Is(err, ErrLanguage) {
		t.Fatalf("%v", err)
	}
}
