package sensors

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSoCTemperature(t *testing.T) {
	path := filepath.Join(t.TempDir(), "temp")
	if err := os.WriteFile(path, []byte("48312\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tt, err := SoCTemperature(path)
	if err != nil {
		t.Fatal(err)
	}
	if c := Celsius(tt); c < 48.311 || c > 48.313 {
		t.Fatalf("got %v °C, want 48.312", c)
	}
	if _, err := SoCTemperature(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{"", "\n", "abc\n", "48.3\n", "999999\n", "-70000", "1 2", "48312\n\n"} {
		if _, err := ParseMilliCelsius([]byte(in)); !errors.Is(err, ErrBadReading) {
			t.Errorf("%q: err = %v", in, err)
		}
	}
	tt, err := ParseMilliCelsius([]byte("-5000"))
	if err != nil || Celsius(tt) != -5 {
		t.Fatalf("-5000: %v, %v", Celsius(tt), err)
	}
}

func FuzzParseMilliCelsius(f *testing.F) {
	f.Add([]byte("48312\n"))
	f.Add([]byte("-1000"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tt, err := ParseMilliCelsius(b)
		if err != nil {
			if !errors.Is(err, ErrBadReading) {
				t.Fatalf("err %v not ErrBadReading", err)
			}
			return
		}
		if c := Celsius(tt); c < -60 || c > 200 {
			t.Fatalf("accepted %v °C", c)
		}
	})
}
