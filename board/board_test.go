package board

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestBuiltinProfilesParse(t *testing.T) {
	names := BuiltinProfiles()
	for _, want := range []string{"rpi4", "generic", "sim"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Fatalf("built-in profiles %v lack %q", names, want)
		}
	}
	for _, n := range names {
		p, err := LoadProfile(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if p.Name != n {
			t.Fatalf("profile file %s.json is named %q", n, p.Name)
		}
		// Every built-in profile maps every signal: a kiosk board has all
		// of them, and a forgotten one would only show on site.
		for _, s := range Signals {
			if _, ok := p.Lines[s]; !ok {
				t.Errorf("%s lacks %s", n, s)
			}
		}
	}
}

func TestLoadProfileFromPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.json")
	if err := os.WriteFile(path, []byte(`{"name":"mine","chip":"gpiochip1","lines":{"buzzer":{"offset":3}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mine" || *p.Lines[Buzzer].Offset != 3 {
		t.Fatalf("profile %+v", p)
	}
	if _, err := LoadProfile("nosuch"); !errors.Is(err, ErrProfile) {
		t.Fatalf("err = %v", err)
	}
	if _, err := LoadProfile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseProfileRefusesBad(t *testing.T) {
	for name, tc := range map[string]struct{ json, want string }{
		"syntax":       {`{"name":`, "unexpected EOF"},
		"unknownfield": {`{"name":"x","lines":{"buzzer":{"name":"A"}},"colour":1}`, "unknown field"},
		"trailing":     {`{"name":"x","lines":{"buzzer":{"name":"A"}}} {}`, "data after"},
		"noname":       {`{"lines":{"buzzer":{"name":"A"}}}`, "no name"},
		"nolines":      {`{"name":"x","lines":{}}`, "no lines"},
		"unknownsig":   {`{"name":"x","lines":{"laser":{"name":"A"}}}`, `unknown signal "laser"`},
		"both":         {`{"name":"x","chip":"c","lines":{"buzzer":{"name":"A","offset":1}}}`, "both"},
		"neither":      {`{"name":"x","lines":{"buzzer":{}}}`, "names no line"},
		"negative":     {`{"name":"x","chip":"c","lines":{"buzzer":{"offset":-1}}}`, "negative"},
		"offsetnochip": {`{"name":"x","lines":{"buzzer":{"offset":1}}}`, "no chip"},
		"pull":         {`{"name":"x","lines":{"buzzer":{"name":"A","pull":"sideways"}}}`, "unknown pull"},
		"dupname":      {`{"name":"x","lines":{"buzzer":{"name":"A"},"tamper":{"name":"A"}}}`, "buzzer and tamper use the same line"},
		"dupoffset":    {`{"name":"x","chip":"c","lines":{"buzzer":{"offset":2},"tamper":{"offset":2,"chip":"c"}}}`, "same line"},
		"toolarge":     {`{"name":"` + strings.Repeat("x", maxProfileSize) + `"}`, "larger"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseProfile([]byte(tc.json))
			if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrProfile containing %q", err, tc.want)
			}
		})
	}
}

func chipsFixture() []ChipInfo {
	return []ChipInfo{
		{Name: "gpiochip0", Label: "pinctrl-bcm2711", Lines: []string{"ID_SDA", "ID_SCL", "GPIO2", "GPIO3", "GPIO4"}},
		{Name: "gpiochip1", Label: "raspberrypi-exp-gpio", Lines: []string{"BT_ON", "WL_ON", "", "GPIO4"}},
	}
}

func TestResolve(t *testing.T) {
	p, err := ParseProfile([]byte(`{"name":"x","chip":"pinctrl-bcm2711","lines":{
		"buzzer":{"name":"GPIO2"},
		"tamper":{"offset":3},
		"light_red":{"chip":"gpiochip1","offset":2},
		"light_green":{"chip":"gpiochip1","name":"WL_ON"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	refs, err := Resolve(p, chipsFixture())
	if err != nil {
		t.Fatal(err)
	}
	want := map[Signal]LineRef{
		Buzzer:     {Chip: "gpiochip0", Offset: 2, Name: "GPIO2"},
		Tamper:     {Chip: "gpiochip0", Offset: 3, Name: "GPIO3"},
		LightRed:   {Chip: "gpiochip1", Offset: 2, Name: ""},
		LightGreen: {Chip: "gpiochip1", Offset: 1, Name: "WL_ON"},
	}
	for s, w := range want {
		if refs[s] != w {
			t.Errorf("%s -> %+v, want %+v", s, refs[s], w)
		}
	}
	if len(refs) != len(want) {
		t.Fatalf("refs %v", refs)
	}
}

func TestResolveRefusesMissingAndDouble(t *testing.T) {
	for name, tc := range map[string]struct{ json, want string }{
		"nochip":      {`{"name":"x","chip":"gpiochip9","lines":{"buzzer":{"offset":0}}}`, `no GPIO chip "gpiochip9"`},
		"noline":      {`{"name":"x","chip":"gpiochip0","lines":{"buzzer":{"name":"GPIO99"}}}`, `no line named "GPIO99"`},
		"offsetrange": {`{"name":"x","chip":"gpiochip0","lines":{"buzzer":{"offset":5}}}`, "has no line 5"},
		"anywhere":    {`{"name":"x","lines":{"buzzer":{"name":"NOPE"}}}`, `no line named "NOPE" on this board`},
		"ambiguous":   {`{"name":"x","lines":{"buzzer":{"name":"GPIO4"}}}`, "on 2 chips"},
		// A name and an offset can only be found to be the same line
		// against the chip.
		"nameoffset": {`{"name":"x","chip":"gpiochip0","lines":{"buzzer":{"name":"GPIO2"},"tamper":{"offset":2}}}`, "both use gpiochip0 line 2"},
		"labelname":  {`{"name":"x","lines":{"buzzer":{"chip":"gpiochip0","offset":1},"tamper":{"chip":"pinctrl-bcm2711","offset":1}}}`, "both use"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := ParseProfile([]byte(tc.json))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			_, err = Resolve(p, chipsFixture())
			if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrProfile containing %q", err, tc.want)
			}
		})
	}
}

// This machine (and CI) has no /dev/gpiochip*: the real path must say so.
func TestOpenWithoutGPIOChips(t *testing.T) {
	if m, _ := filepath.Glob("/dev/gpiochip*"); len(m) > 0 {
		t.Skip("this machine has GPIO chips; the no-chip path is not reachable here")
	}
	p, err := LoadProfile("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(p)
	if !errors.Is(err, ErrNoGPIO) || b != nil {
		t.Fatalf("Open = %v, %v; want ErrNoGPIO", b, err)
	}
	if _, err := openChips(p, nil); !errors.Is(err, ErrNoGPIO) {
		t.Fatalf("openChips(nil) err = %v", err)
	}
	// A bad profile is refused before any hardware is touched.
	if _, err := Open(Profile{Name: "x"}); !errors.Is(err, ErrProfile) {
		t.Fatalf("err = %v", err)
	}
}

func TestLineActiveLow(t *testing.T) {
	pin := &gpiotest.Pin{N: "P"}
	l := Line{PinIO: pin, Signal: ServiceKey, ActiveLow: true}
	if err := l.Set(true); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low || !l.Asserted() {
		t.Fatalf("active-low set(true) left level %v", pin.Read())
	}
	if err := l.Set(false); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.High || l.Asserted() {
		t.Fatal("active-low set(false) should be high")
	}
	h := Line{PinIO: pin, Signal: Buzzer}
	_ = h.Set(true)
	if pin.Read() != gpio.High || !h.Asserted() {
		t.Fatal("active-high set(true) should be high")
	}
}

func FuzzParseProfile(f *testing.F) {
	for _, n := range BuiltinProfiles() {
		b, err := builtin.ReadFile("profiles/" + n + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"name":"x","chip":"c","lines":{"buzzer":{"offset":2},"tamper":{"offset":2}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data)
		if err != nil {
			if !errors.Is(err, ErrProfile) {
				t.Fatalf("error %v does not wrap ErrProfile", err)
			}
			return
		}
		if p.Name == "" || len(p.Lines) == 0 {
			t.Fatalf("accepted profile without name or lines: %+v", p)
		}
		// Whatever was accepted resolves or is refused cleanly.
		if _, err := Resolve(p, chipsFixture()); err != nil && !errors.Is(err, ErrProfile) {
			t.Fatalf("Resolve error %v does not wrap ErrProfile", err)
		}
	})
}
