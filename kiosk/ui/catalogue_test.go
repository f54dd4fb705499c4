package ui

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/kiosk/session"
	"github.com/einwurf/einwurf/kiosk/speech"
)

func catalogue(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := assets.ReadFile("assets/i18n/" + lang + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", lang, err)
	}
	return m
}

var placeholder = regexp.MustCompile(`\{\w+\}`)

// Every key exists in every language, with the same placeholders; every
// error the visit names has its message; every key the page uses exists;
// every language can be spoken.
func TestCataloguesComplete(t *testing.T) {
	de := catalogue(t, "de")
	var need []string
	for _, k := range session.ErrorKeys() {
		need = append(need, "err."+k)
	}
	html, _ := assets.ReadFile("assets/index.html")
	js, _ := assets.ReadFile("assets/app.js")
	for _, m := range regexp.MustCompile(`data-t(?:-label)?="([^"]+)"`).FindAllSubmatch(html, -1) {
		need = append(need, string(m[1]))
	}
	for _, m := range regexp.MustCompile(`(?:setT\([^,]+, |[^A-Za-z]t\(|tLabel = )"([a-z][a-z.-]+)"`).FindAllSubmatch(js, -1) {
		if k := string(m[1]); !strings.HasSuffix(k, ".") { // a prefix: composed below
			need = append(need, k)
		}
	}
	// Keys the script composes: "err." + error key, "warn." + warning.
	need = append(need, "warn.several-numbers", "reason.out-of-service.maintenance",
		"reason.out-of-service.technical-fault", "reason.out-of-service.closed")
	if len(need) < 100 {
		t.Fatalf("found only %d keys in use", len(need))
	}
	for _, k := range need {
		if _, ok := de[k]; !ok {
			t.Errorf("de: no %q", k)
		}
	}
	voices := speech.Languages()
	for _, lang := range languages {
		c := catalogue(t, lang)
		for k, v := range de {
			tr, ok := c[k]
			if !ok || strings.TrimSpace(tr) == "" {
				t.Errorf("%s: no %q", lang, k)
				continue
			}
			if a, b := placeholder.FindAllString(v, -1), placeholder.FindAllString(tr, -1); !sameSet(a, b) {
				t.Errorf("%s %q: placeholders %v, German %v", lang, k, b, a)
			}
		}
		for k := range c {
			if _, ok := de[k]; !ok {
				t.Errorf("%s: %q is not in German", lang, k)
			}
		}
		if !slices.Contains(voices, lang) {
			t.Errorf("%s: no voice", lang)
		}
		if !strings.Contains(string(html), `data-lang="`+lang+`"`) {
			t.Errorf("%s: not in the language switch", lang)
		}
	}
}

func sameSet(a, b []string) bool {
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// A mechanical check of the translations (no native speaker checked them
// here): each is in its own script, none is the English left in place,
// Latin words inside Arabic and Cyrillic text are only the German terms
// the job centre's letters use, and time layouts are Go layouts.
func TestTranslationsLookTranslated(t *testing.T) {
	// Keys whose value may be the same in every language.
	neutral := map[string]bool{"receipt.layout": true, "receipt.team": true}
	// Latin words allowed in Arabic, Ukrainian and Russian: the numbers'
	// German names, as printed on the letters, A4, QR.
	latinOK := map[string]bool{"A": true, "BG": true, "Kundennummer": true, "Nummer": true, "QR": true}
	scripts := map[string]*regexp.Regexp{
		"ar": regexp.MustCompile(`[\x{0600}-\x{06FF}]`),
		"uk": regexp.MustCompile(`[\x{0400}-\x{04FF}]`),
		"ru": regexp.MustCompile(`[\x{0400}-\x{04FF}]`),
	}
	latinWord := regexp.MustCompile(`[A-Za-z]+`)
	en := catalogue(t, "en")
	for _, lang := range languages {
		c := catalogue(t, lang)
		for k, v := range c {
			if neutral[k] {
				continue
			}
			if lang != "en" && v == en[k] {
				t.Errorf("%s %q is the English %q", lang, k, v)
			}
			if re, ok := scripts[lang]; ok {
				if !re.MatchString(v) {
					t.Errorf("%s %q has no letter of its script: %q", lang, k, v)
				}
				for _, w := range latinWord.FindAllString(placeholder.ReplaceAllString(v, ""), -1) {
					if !latinOK[w] {
						t.Errorf("%s %q: Latin word %q in %q", lang, k, w, v)
					}
				}
			}
		}
		if lang == "tr" && !strings.ContainsAny(strings.Join(slices.Collect(maps.Values(c)), ""), "ıİşŞğĞ") {
			t.Errorf("tr: no Turkish letter anywhere")
		}
		if l := c["receipt.layout"]; time.Date(2026, 12, 1, 9, 41, 0, 0, time.UTC).Format(l) == l {
			t.Errorf("%s: receipt.layout %q is no Go time layout", lang, l)
		}
	}
}
