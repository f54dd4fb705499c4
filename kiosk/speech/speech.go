// Package speech speaks the kiosk's screens and errors aloud, in the
// customer's language, through espeak-ng to the kiosk's speaker (usually a
// headphone jack, EN 301 549 chapter 5: closed functionality).
//
// A Speaker says one text at a time: a new text interrupts the one being
// spoken. Repeat says the last text again; Louder and Softer change the
// volume of what is said next.
package speech

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Speaker says texts aloud.
type Speaker interface {
	// Say interrupts what is being said and says text in lang (a UI
	// language code such as "de", "de-x-ls", "ar").
	Say(lang, text string) error
	// Repeat says the last text again.
	Repeat() error
	// Volume changes the volume by delta steps and returns the new one
	// (0–10).
	Volume(delta int) int
}

// ErrLanguage is a language without a voice.
var ErrLanguage = errors.New("speech: no voice for this language")

// MaxText bounds one text (a screen says far less).
const MaxText = 2000

// voice is how a UI language is spoken: the espeak-ng voice and the speed
// in words per minute.
type voice struct {
	name  string
	speed int
}

// voices maps the UI's languages to espeak-ng voices. Leichte Sprache is
// German, spoken slower.
var voices = map[string]voice{
	"de": {"de", 160}, "de-x-ls": {"de", 125}, "en": {"en-gb", 165}, "ar": {"ar", 150},
	"tr": {"tr", 160}, "uk": {"uk", 155}, "ru": {"ru", 155},
}

// Espeak speaks through the espeak-ng program.
type Espeak struct {
	// Program is the espeak-ng binary (default "espeak-ng").
	Program string
	// Device, when set, is given to espeak-ng's -d (an audio device name).
	Device string
	// WAV, when set, makes each text render to this file instead of the
	// speaker (tests, diagnostics).
	WAV string
	Log *slog.Logger

	mu     sync.Mutex
	volume int // 0–10
	last   struct{ lang, text string }
	cancel context.CancelFunc
	done   chan struct{}
}

// NewEspeak returns a Speaker at a middle volume that logs espeak-ng's
// failures to log (nil: discarded).
func NewEspeak(log *slog.Logger) *Espeak {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Espeak{volume: 6, Log: log}
}

var _ Speaker = (*Espeak)(nil)

// Say implements Speaker. It returns when espeak-ng has started (or, when
// rendering to a WAV file, when the file is written).
func (e *Espeak) Say(lang, text string) error {
	v, ok := voices[lang]
	if !ok {
		return fmt.Errorf("%w: %q", ErrLanguage, lang)
	}
	if len(text) > MaxText {
		text = text[:MaxText]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last.lang, e.last.text = lang, text
	return e.say(v, text)
}

// say stops what is being said and starts text. Caller holds e.mu.
func (e *Espeak) say(v voice, text string) error {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
	prog := e.Program
	if prog == "" {
		prog = "espeak-ng"
	}
	// Amplitude 0–200 (espeak-ng's default is 100).
	args := []string{"-v", v.name, "-s", strconv.Itoa(v.speed), "-a", strconv.Itoa(e.volume * 20)}
	if e.Device != "" {
		args = append(args, "-d", e.Device)
	}
	if e.WAV != "" {
		args = append(args, "-w", e.WAV)
	}
	// The text on standard input: never parsed as an option.
	args = append(args, "--stdin")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = strings.NewReader(text)
	if e.WAV != "" {
		defer cancel()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("speech: %v: %s", err, out)
		}
		return nil
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return fmt.Errorf("speech: %w", err)
	}
	done := make(chan struct{})
	e.cancel, e.done = cancel, done
	go func() {
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			e.Log.Warn("speech: espeak-ng failed", "err", err)
		}
		close(done)
	}()
	return nil
}

// Repeat implements Speaker.
func (e *Espeak) Repeat() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last.text == "" {
		return nil
	}
	return e.say(voices[e.last.lang], e.last.text)
}

// Volume implements Speaker.
func (e *Espeak) Volume(delta int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.volume = min(10, max(0, e.volume+delta))
	return e.volume
}

// Stop ends what is being said.
func (e *Espeak) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

// Languages lists the languages with a voice.
func Languages() []string {
	var l []string
	for k := range voices {
		l = append(l, k)
	}
	return l
}
