package escpos

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/unicode/bidi"
)

// arabicJSON holds the contextual forms of the Arabic letters.
//
//go:embed arabic.json
var arabicJSON []byte

// shaping is the parsed table: letter → its forms (isolated, final,
// initial, medial; two for a right-joining letter, one for a non-joining
// one), lam-alef ligatures, and the marks a join passes over.
type shaping struct {
	forms       map[rune][]rune
	lamAlef     map[rune][2]rune
	transparent [][2]rune
}

const lam = 0x0644

func parseShaping(data []byte) (shaping, error) {
	var raw struct {
		Comment     string              `json:"_comment"`
		Letters     map[string][]string `json:"letters"`
		LamAlef     map[string][]string `json:"lam_alef"`
		Transparent [][]string          `json:"transparent"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return shaping{}, fmt.Errorf("escpos: arabic.json: %w", err)
	}
	hex := func(s string) (rune, error) {
		n, err := strconv.ParseUint(s, 16, 32)
		if err != nil || len(s) != 4 {
			return 0, fmt.Errorf("escpos: arabic.json: code point %q", s)
		}
		return rune(n), nil
	}
	sh := shaping{forms: map[rune][]rune{}, lamAlef: map[rune][2]rune{}}
	for k, fs := range raw.Letters {
		c, err := hex(k)
		if err != nil {
			return shaping{}, err
		}
		if n := len(fs); n != 1 && n != 2 && n != 4 {
			return shaping{}, fmt.Errorf("escpos: arabic.json: %s has %d forms", k, n)
		}
		for _, f := range fs {
			r, err := hex(f)
			if err != nil {
				return shaping{}, err
			}
			sh.forms[c] = append(sh.forms[c], r)
		}
	}
	for k, fs := range raw.LamAlef {
		c, err := hex(k)
		if err != nil || len(fs) != 2 {
			return shaping{}, fmt.Errorf("escpos: arabic.json: lam-alef %s", k)
		}
		a, err1 := hex(fs[0])
		b, err2 := hex(fs[1])
		if err1 != nil || err2 != nil {
			return shaping{}, fmt.Errorf("escpos: arabic.json: lam-alef %s", k)
		}
		sh.lamAlef[c] = [2]rune{a, b}
	}
	for _, r := range raw.Transparent {
		if len(r) != 2 {
			return shaping{}, fmt.Errorf("escpos: arabic.json: transparent range %v", r)
		}
		a, err1 := hex(r[0])
		b, err2 := hex(r[1])
		if err1 != nil || err2 != nil || b < a {
			return shaping{}, fmt.Errorf("escpos: arabic.json: transparent range %v", r)
		}
		sh.transparent = append(sh.transparent, [2]rune{a, b})
	}
	return sh, nil
}

// arabic is the embedded table (checked by the tests).
var arabic, arabicErr = parseShaping(arabicJSON)

func (sh shaping) isTransparent(r rune) bool {
	for _, t := range sh.transparent {
		if r >= t[0] && r <= t[1] {
			return true
		}
	}
	return false
}

// joinsAfter reports whether r connects to the letter after it (it has
// initial and medial forms).
func (sh shaping) joinsAfter(r rune) bool { return len(sh.forms[r]) == 4 }

// joinsPrev reports whether r connects to the letter before it.
func (sh shaping) joinsPrev(r rune) bool { return len(sh.forms[r]) >= 2 }

// shape replaces the Arabic letters of s (in logical order) by their
// contextual presentation forms, and lam followed by alef by their
// ligature. Other characters pass unchanged.
func (sh shaping) shape(s string) string {
	rs := []rune(s)
	// neighbour finds the next letter from i in direction d, skipping
	// marks.
	neighbour := func(i, d int) rune {
		for j := i + d; j >= 0 && j < len(rs); j += d {
			if !sh.isTransparent(rs[j]) {
				return rs[j]
			}
		}
		return 0
	}
	var out []rune
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		fs, ok := sh.forms[r]
		if !ok {
			out = append(out, r)
			continue
		}
		prev := neighbour(i, -1)
		joinPrev := sh.joinsPrev(r) && sh.joinsAfter(prev)
		if r == lam {
			// Lam and the alef after it (marks between them kept after).
			j := i + 1
			for j < len(rs) && sh.isTransparent(rs[j]) {
				j++
			}
			if j < len(rs) {
				if lig, ok := sh.lamAlef[rs[j]]; ok {
					if joinPrev {
						out = append(out, lig[1])
					} else {
						out = append(out, lig[0])
					}
					out = append(out, rs[i+1:j]...)
					i = j
					continue
				}
			}
		}
		joinNext := sh.joinsAfter(r) && sh.joinsPrev(neighbour(i, 1))
		switch {
		case joinPrev && joinNext:
			out = append(out, fs[3])
		case joinPrev:
			out = append(out, fs[1])
		case joinNext:
			out = append(out, fs[2])
		default:
			out = append(out, fs[0])
		}
	}
	return string(out)
}

// Visual returns s shaped and in the order its characters are drawn from
// left to right (Unicode bidirectional algorithm, golang.org/x/text): an
// Arabic line right to left, numbers and Latin words in it left to right.
// rtl reports whether the line's own direction is right to left.
func Visual(s string) (visual string, rtl bool) {
	shaped := s
	if arabicErr == nil {
		shaped = arabic.shape(s)
	}
	var p bidi.Paragraph
	if _, err := p.SetString(shaped, bidi.DefaultDirection(bidi.LeftToRight)); err != nil {
		return shaped, false
	}
	o, err := p.Order()
	if err != nil {
		return shaped, false
	}
	rtl = !p.IsLeftToRight()
	runs := make([]string, o.NumRuns())
	for i := range runs {
		r := o.Run(i)
		if r.Direction() == bidi.RightToLeft {
			runs[i] = bidi.ReverseString(r.String())
		} else {
			runs[i] = r.String()
		}
	}
	if rtl {
		for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
			runs[i], runs[j] = runs[j], runs[i]
		}
	}
	return strings.Join(runs, ""), rtl
}
