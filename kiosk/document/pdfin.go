package document

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
)

// Scanners that deliver PDF send one page per file with one image on it.
// This file takes that image over as it is (no re-encoding): a small PDF
// object parser, enough for the objects such files are made of. Whatever
// it does not understand is a malformed page, never a panic.

// jpegFromPDF extracts the page image of the one-page PDF at path into a
// new JPEG file in dir and returns its name.
func jpegFromPDF(path string, dir Folder, opt Options) (string, error) {
	data, err := os.ReadFile(path) // bounded by MaxPageBytes when written
	if err != nil {
		return "", fmt.Errorf("document: %w", err)
	}
	jpg, err := ExtractJPEG(data)
	if err != nil {
		return "", err
	}
	f, err := dir.CreateTemp(".page-*")
	if err != nil {
		return "", fmt.Errorf("document: %w", err)
	}
	_, err = f.Write(jpg)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dir.Remove(f.Name())
		return "", fmt.Errorf("document: %w", err)
	}
	return f.Name(), nil
}

// errNotDCT marks a PDF whose page image is not a JPEG (a CCITT or Flate
// bilevel scan, say); Ingest then has MuPDF rasterise the page.
var errNotDCT = errors.New("PDF page image is not DCT (JPEG) encoded")

var objHeader = regexp.MustCompile(`(\d{1,10})\s+(\d{1,5})\s+obj\b`)

// ExtractJPEG returns the bytes of the largest DCT-encoded image in the PDF
// data (the page image of a scanner's one-page PDF). An input that is not a
// PDF, or has no such image, gives an error wrapping ErrMalformedPage.
func ExtractJPEG(data []byte) ([]byte, error) {
	if i := bytes.Index(data, []byte("%PDF-")); i < 0 || i > 1024 {
		return nil, malformed("not a PDF")
	}
	heads := objHeader.FindAllSubmatchIndex(data, -1)
	objs := make(map[int64]int, len(heads)) // object number -> value offset
	for _, h := range heads {
		n, err := strconv.ParseInt(string(data[h[2]:h[3]]), 10, 64)
		if err == nil {
			objs[n] = h[1]
		}
	}
	var best []byte
	bestArea := int64(-1)
	var why error
	pageObjs := 0
	for _, h := range heads {
		p := &pdfParser{b: data, pos: h[1]}
		v, err := p.value(0)
		if err != nil {
			continue
		}
		d, ok := v.(pdfDict)
		if ok && d["Type"] == pdfName("Page") {
			pageObjs++
		}
		if !ok || d["Subtype"] != pdfName("Image") {
			continue
		}
		if !isDCT(d["Filter"]) {
			why = fmt.Errorf("%w: %w", ErrMalformedPage, errNotDCT)
			continue
		}
		p.skipSpace()
		if !bytes.HasPrefix(data[p.pos:], []byte("stream")) {
			continue
		}
		start := p.pos + len("stream")
		if bytes.HasPrefix(data[start:], []byte("\r\n")) {
			start += 2
		} else if start < len(data) && data[start] == '\n' {
			start++
		} else {
			continue
		}
		length, ok := resolveInt(data, objs, d["Length"])
		if !ok || length < 0 || length > int64(len(data)-start) {
			// Length missing or wrong: fall back to the endstream keyword.
			e := bytes.Index(data[start:], []byte("endstream"))
			if e < 0 {
				continue
			}
			length = int64(len(bytes.TrimRight(data[start:start+e], "\r\n")))
		}
		w, _ := resolveInt(data, objs, d["Width"])
		ht, _ := resolveInt(data, objs, d["Height"])
		if area := w * ht; area > bestArea && w > 0 && ht > 0 {
			bestArea = area
			best = data[start : start+int(length)]
		}
	}
	if pageObjs > 1 {
		// One file, one page: taking one image of several would lose the
		// others without a word.
		return nil, malformed("PDF has %d pages, want 1", pageObjs)
	}
	if best == nil {
		if why != nil {
			return nil, why
		}
		return nil, malformed("no page image in PDF")
	}
	return best, nil
}

func isDCT(f any) bool {
	switch v := f.(type) {
	case pdfName:
		return v == "DCTDecode" || v == "DCT"
	case []any:
		return len(v) == 1 && isDCT(v[0])
	}
	return false
}

// resolveInt returns v as an integer, following one indirect reference.
func resolveInt(data []byte, objs map[int64]int, v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case pdfRef:
		off, ok := objs[x.num]
		if !ok {
			return 0, false
		}
		p := &pdfParser{b: data, pos: off}
		n, err := p.value(0)
		if err != nil {
			return 0, false
		}
		i, ok := n.(int64)
		return i, ok
	}
	return 0, false
}

type (
	pdfName string
	pdfDict map[string]any
	pdfRef  struct{ num, gen int64 }
)

var errSyntax = errors.New("pdf syntax")

// pdfParser reads PDF values (ISO 32000-1, 7.3) from b at pos.
type pdfParser struct {
	b   []byte
	pos int
}

func isSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c byte) bool {
	return isSpace(c) || bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0
}

func (p *pdfParser) skipSpace() {
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if c == '%' {
			for p.pos < len(p.b) && p.b[p.pos] != '\n' && p.b[p.pos] != '\r' {
				p.pos++
			}
			continue
		}
		if !isSpace(c) {
			return
		}
		p.pos++
	}
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 32

func (p *pdfParser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errSyntax
	}
	p.skipSpace()
	if p.pos >= len(p.b) {
		return nil, errSyntax
	}
	b := p.b
	switch c := b[p.pos]; {
	case c == '<' && p.pos+1 < len(b) && b[p.pos+1] == '<':
		p.pos += 2
		d := pdfDict{}
		for {
			p.skipSpace()
			if p.pos+1 < len(b) && b[p.pos] == '>' && b[p.pos+1] == '>' {
				p.pos += 2
				return d, nil
			}
			k, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			name, ok := k.(pdfName)
			if !ok {
				return nil, errSyntax
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			d[string(name)] = v
		}
	case c == '<':
		e := bytes.IndexByte(b[p.pos:], '>')
		if e < 0 {
			return nil, errSyntax
		}
		s := string(b[p.pos+1 : p.pos+e])
		p.pos += e + 1
		return s, nil
	case c == '[':
		p.pos++
		var a []any
		for {
			p.skipSpace()
			if p.pos < len(b) && b[p.pos] == ']' {
				p.pos++
				return a, nil
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	case c == '(':
		nest := 0
		start := p.pos + 1
		for p.pos++; p.pos < len(b); p.pos++ {
			switch b[p.pos] {
			case '\\':
				p.pos++
			case '(':
				nest++
			case ')':
				if nest == 0 {
					p.pos++
					return string(b[start : p.pos-1]), nil
				}
				nest--
			}
		}
		return nil, errSyntax
	case c == '/':
		p.pos++
		start := p.pos
		for p.pos < len(b) && !isDelim(b[p.pos]) {
			p.pos++
		}
		return pdfName(b[start:p.pos]), nil
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		start := p.pos
		for p.pos < len(b) && !isDelim(b[p.pos]) {
			p.pos++
		}
		tok := string(b[start:p.pos])
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(tok, 64)
			if ferr != nil {
				return nil, errSyntax
			}
			return f, nil
		}
		// "n g R" is a reference.
		save := p.pos
		p.skipSpace()
		gs := p.pos
		for p.pos < len(b) && b[p.pos] >= '0' && b[p.pos] <= '9' {
			p.pos++
		}
		if p.pos > gs && p.pos-gs < 6 {
			gen, _ := strconv.ParseInt(string(b[gs:p.pos]), 10, 64)
			p.skipSpace()
			if p.pos < len(b) && b[p.pos] == 'R' && (p.pos+1 == len(b) || isDelim(b[p.pos+1])) {
				p.pos++
				return pdfRef{n, gen}, nil
			}
		}
		p.pos = save
		return n, nil
	default:
		start := p.pos
		for p.pos < len(b) && !isDelim(b[p.pos]) {
			p.pos++
		}
		switch string(b[start:p.pos]) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		return nil, errSyntax
	}
}
