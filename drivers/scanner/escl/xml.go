package escl

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/einwurf/einwurf/drivers/scanner"
)

// XML namespaces of eSCL. Devices disagree on which of the two an element
// lives in (pwg:State versus scan:State, pwg:DocumentFormat versus
// scan:DocumentFormat), so parsing matches on local names and only checks
// that the root element is in one of these (or none).
const (
	NSScan = "http://schemas.hp.com/imaging/escl/2011/05/03"
	NSPWG  = "http://www.pwg.org/schemas/2010/12/sm"
)

// maxXML bounds every XML document read from a device, so a broken or
// hostile device cannot make the kiosk allocate without limit.
const maxXML = 1 << 20

// ErrXML marks a capabilities or status document that could not be parsed.
var ErrXML = errors.New("escl: malformed XML")

// ScannerCapabilities is the decoded ScannerCapabilities document. Each
// field holds the element its tag names, found in either namespace.
type ScannerCapabilities struct {
	Version      string     `xml:"Version"`
	MakeAndModel string     `xml:"MakeAndModel"`
	SerialNumber string     `xml:"SerialNumber"`
	Manufacturer string     `xml:"Manufacturer"`
	UUID         string     `xml:"UUID"`
	Platen       *InputCaps `xml:"Platen>PlatenInputCaps"`
	AdfSimplex   *InputCaps `xml:"Adf>AdfSimplexInputCaps"`
	AdfDuplex    *InputCaps `xml:"Adf>AdfDuplexInputCaps"`
	AdfOptions   []string   `xml:"Adf>AdfOptions>AdfOption"`
	FeederCap    int        `xml:"Adf>FeederCapacity"`
}

// InputCaps are the capabilities of one input source; sizes are in 1/300
// inch.
type InputCaps struct {
	MinWidth  int       `xml:"MinWidth"`
	MaxWidth  int       `xml:"MaxWidth"`
	MinHeight int       `xml:"MinHeight"`
	MaxHeight int       `xml:"MaxHeight"`
	Profiles  []Profile `xml:"SettingProfiles>SettingProfile"`
}

// Profile is one SettingProfile: colour modes, formats and resolutions that
// go together.
type Profile struct {
	ColorModes      []string     `xml:"ColorModes>ColorMode"`
	DocumentFormats []string     `xml:"DocumentFormats>DocumentFormat"`
	FormatsExt      []string     `xml:"DocumentFormats>DocumentFormatExt"`
	Discrete        []Resolution `xml:"SupportedResolutions>DiscreteResolutions>DiscreteResolution"`
	Range           *ResRange    `xml:"SupportedResolutions>ResolutionRange"`
}

// Resolution is one discrete resolution pair.
type Resolution struct {
	X int `xml:"XResolution"`
	Y int `xml:"YResolution"`
}

// ResRange is a resolution range (X only; eSCL devices give equal X and Y).
type ResRange struct {
	Min  int `xml:"XResolution>Min"`
	Max  int `xml:"XResolution>Max"`
	Step int `xml:"XResolution>Step"`
}

// ScannerStatus is the decoded ScannerStatus document. Each field holds
// the element its tag names, found in either namespace.
type ScannerStatus struct {
	Version  string    `xml:"Version"`
	State    string    `xml:"State"`
	AdfState string    `xml:"AdfState"`
	Jobs     []JobInfo `xml:"Jobs>JobInfo"`
}

// JobInfo is one job in ScannerStatus, as its elements say.
type JobInfo struct {
	JobURI           string   `xml:"JobUri"`
	JobUUID          string   `xml:"JobUuid"`
	Age              int      `xml:"Age"`
	ImagesCompleted  int      `xml:"ImagesCompleted"`
	ImagesToTransfer int      `xml:"ImagesToTransfer"`
	JobState         string   `xml:"JobState"`
	JobStateReasons  []string `xml:"JobStateReasons>JobStateReason"`
}

// decodeRoot reads at most maxXML bytes of r and decodes them into v,
// checking that the root element has the given local name in an eSCL
// namespace.
func decodeRoot(r io.Reader, root string, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxXML+1))
	if err != nil {
		return fmt.Errorf("escl: reading %s: %w", root, err)
	}
	if len(data) > maxXML {
		return fmt.Errorf("%w: %s larger than %d bytes", ErrXML, root, maxXML)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	// Devices announce odd charsets ("utf8", "UTF-8 ") but send UTF-8 or
	// ASCII; refusing them would refuse working scanners.
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		l := strings.ToLower(strings.TrimSpace(label))
		switch l {
		case "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1":
			return in, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %s: no root element: %v", ErrXML, root, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local != root {
			return fmt.Errorf("%w: root is %q, want %q", ErrXML, se.Name.Local, root)
		}
		switch se.Name.Space {
		case NSScan, NSPWG, "":
		default:
			return fmt.Errorf("%w: %s in unknown namespace %q", ErrXML, root, se.Name.Space)
		}
		if err := d.DecodeElement(v, &se); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrXML, root, err)
		}
		return nil
	}
}

// ParseCapabilities decodes a ScannerCapabilities document. It rejects a
// document without any input source or with a source that offers no colour
// mode, format or resolution, since the kiosk could not scan from it.
func ParseCapabilities(r io.Reader) (*ScannerCapabilities, error) {
	var c ScannerCapabilities
	if err := decodeRoot(r, "ScannerCapabilities", &c); err != nil {
		return nil, err
	}
	if c.Platen == nil && c.AdfSimplex == nil && c.AdfDuplex == nil {
		return nil, fmt.Errorf("%w: neither platen nor feeder in capabilities", ErrXML)
	}
	for _, ic := range []*InputCaps{c.Platen, c.AdfSimplex, c.AdfDuplex} {
		if ic == nil {
			continue
		}
		if err := ic.validate(); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

func (ic *InputCaps) validate() error {
	if ic.MinWidth < 0 || ic.MaxWidth < 0 || ic.MinHeight < 0 || ic.MaxHeight < 0 {
		return fmt.Errorf("%w: negative size", ErrXML)
	}
	if ic.MaxWidth != 0 && ic.MinWidth > ic.MaxWidth || ic.MaxHeight != 0 && ic.MinHeight > ic.MaxHeight {
		return fmt.Errorf("%w: minimum size above maximum", ErrXML)
	}
	if len(ic.ColorModes()) == 0 {
		return fmt.Errorf("%w: source without colour modes", ErrXML)
	}
	if len(ic.Formats()) == 0 {
		return fmt.Errorf("%w: source without document formats", ErrXML)
	}
	if len(ic.Resolutions()) == 0 {
		return fmt.Errorf("%w: source without resolutions", ErrXML)
	}
	return nil
}

// ColorModes lists the colour modes of all profiles, without duplicates.
func (ic *InputCaps) ColorModes() []scanner.ColorMode {
	var out []scanner.ColorMode
	for _, p := range ic.Profiles {
		for _, m := range p.ColorModes {
			cm := scanner.ColorMode(strings.TrimSpace(m))
			switch cm {
			case scanner.ColorRGB24, scanner.ColorGrayscale8, scanner.ColorBlackWhite:
				if !slices.Contains(out, cm) {
					out = append(out, cm)
				}
			}
		}
	}
	return out
}

// Formats lists the MIME types of all profiles, without duplicates.
func (ic *InputCaps) Formats() []string {
	var out []string
	for _, p := range ic.Profiles {
		for _, f := range append(slices.Clone(p.DocumentFormats), p.FormatsExt...) {
			f = strings.ToLower(strings.TrimSpace(f))
			if f != "" && len(f) < 100 && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// commonDPI are the resolutions offered from a ResolutionRange; the kiosk
// never needs odd values in between.
var commonDPI = [...]int{75, 100, 150, 200, 240, 300, 400, 600, 1200}

// Resolutions lists the resolutions of all profiles in ascending order.
// Discrete resolutions with X != Y are left out; a range is expanded to
// the common resolutions inside it.
func (ic *InputCaps) Resolutions() []int {
	var out []int
	for _, p := range ic.Profiles {
		for _, r := range p.Discrete {
			if r.X > 0 && r.X == r.Y && r.X <= 9600 && !slices.Contains(out, r.X) {
				out = append(out, r.X)
			}
		}
		if rg := p.Range; rg != nil && rg.Min > 0 && rg.Min <= rg.Max {
			for _, d := range commonDPI {
				if d >= rg.Min && d <= rg.Max && (rg.Step <= 1 || (d-rg.Min)%rg.Step == 0) && !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// ParseStatus decodes a ScannerStatus document. A document without a
// State is rejected: the kiosk cannot tell what the device is doing.
func ParseStatus(r io.Reader) (*ScannerStatus, error) {
	var s ScannerStatus
	if err := decodeRoot(r, "ScannerStatus", &s); err != nil {
		return nil, err
	}
	s.State = strings.TrimSpace(s.State)
	s.AdfState = strings.TrimSpace(s.AdfState)
	if s.State == "" {
		return nil, fmt.Errorf("%w: status without State", ErrXML)
	}
	return &s, nil
}

// Job finds the job whose URI ends in the path of jobPath, or nil.
func (s *ScannerStatus) Job(jobPath string) *JobInfo {
	jobPath = strings.TrimSuffix(jobPath, "/")
	for i := range s.Jobs {
		u := strings.TrimSuffix(strings.TrimSpace(s.Jobs[i].JobURI), "/")
		if u != "" && (strings.HasSuffix(jobPath, u) || strings.HasSuffix(u, jobPath)) {
			return &s.Jobs[i]
		}
	}
	return nil
}

// AdfError maps an eSCL AdfState to the scanner error it stands for, or nil
// for states that are not errors (loaded, processing). ScannerAdfEmpty maps
// to ErrFeederEmpty; whether that is an error depends on the moment. The
// table is data (states/states.json).
func AdfError(state string) error {
	return deviceStates.adf[state]
}

// jobReasonError maps JobStateReasons of an aborted job (states/states.json).
func jobReasonError(reasons []string) error {
	for _, r := range reasons {
		l := strings.ToLower(r)
		for _, m := range deviceStates.reasons {
			if strings.Contains(l, m.contains) {
				return m.err
			}
		}
	}
	return nil
}

// settingsXML is the ScanSettings document the client posts. Element names
// carry their prefixes literally because encoding/xml cannot emit prefixed
// names from namespaces.
type settingsXML struct {
	XMLName     xml.Name `xml:"scan:ScanSettings"`
	XMLNSScan   string   `xml:"xmlns:scan,attr"`
	XMLNSPWG    string   `xml:"xmlns:pwg,attr"`
	Version     string   `xml:"pwg:Version"`
	Intent      string   `xml:"scan:Intent,omitempty"`
	Units       string   `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:ContentRegionUnits"`
	XOffset     int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:XOffset"`
	YOffset     int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:YOffset"`
	Width       int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:Width"`
	Height      int      `xml:"pwg:ScanRegions>pwg:ScanRegion>pwg:Height"`
	InputSource string   `xml:"pwg:InputSource"`
	Duplex      *bool    `xml:"scan:Duplex,omitempty"`
	ColorMode   string   `xml:"scan:ColorMode"`
	Format      string   `xml:"pwg:DocumentFormat"`
	FormatExt   string   `xml:"scan:DocumentFormatExt,omitempty"`
	XResolution int      `xml:"scan:XResolution"`
	YResolution int      `xml:"scan:YResolution"`
}

// MarshalSettings renders s as an eSCL ScanSettings document for a region
// of width x height in 1/300 inch. withExt adds scan:DocumentFormatExt,
// which devices that list it in their capabilities want.
func MarshalSettings(s scanner.Settings, width, height int, withExt bool) ([]byte, error) {
	x := settingsXML{
		XMLNSScan:   NSScan,
		XMLNSPWG:    NSPWG,
		Version:     "2.0",
		Intent:      "Document",
		Units:       "escl:ThreeHundredthsOfInches",
		Width:       width,
		Height:      height,
		InputSource: string(s.Source),
		ColorMode:   string(s.ColorMode),
		Format:      s.Format,
		XResolution: s.Resolution,
		YResolution: s.Resolution,
	}
	if s.Source == scanner.SourceFeeder {
		d := s.Duplex
		x.Duplex = &d
	}
	if withExt {
		x.FormatExt = s.Format
	}
	out, err := xml.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("escl: marshal settings: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}
