package sim

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Settings are the parts of an eSCL ScanSettings document the simulator
// acts on.
type Settings struct {
	Source     string // "Feeder" or "Platen"
	Duplex     bool   // both sides
	Resolution int    // dpi
	ColorMode  string // RGB24, Grayscale8, BlackAndWhite1
	Format     string // MIME type
	// Region is the part of the page to scan, in 1/300 inch from the top
	// left corner; the zero Region is the whole A4 sheet.
	Region Region
}

// Region is a scan region in 1/300 inch.
type Region struct {
	XOffset, YOffset, Width, Height int
}

// The simulated feeder's limits in 1/300 inch, as its capabilities say.
const (
	minSize   = 591
	maxWidth  = 2550
	maxHeight = 4200
)

// ErrSettings marks a ScanSettings document the simulator cannot parse.
var ErrSettings = errors.New("sim: bad ScanSettings")

type settingsDoc struct {
	XMLName     xml.Name
	InputSource string `xml:"InputSource"`
	Duplex      string `xml:"Duplex"`
	ColorMode   string `xml:"ColorMode"`
	Format      string `xml:"DocumentFormat"`
	FormatExt   string `xml:"DocumentFormatExt"`
	XResolution int    `xml:"XResolution"`
	YResolution int    `xml:"YResolution"`
	XOffset     int    `xml:"ScanRegions>ScanRegion>XOffset"`
	YOffset     int    `xml:"ScanRegions>ScanRegion>YOffset"`
	Width       int    `xml:"ScanRegions>ScanRegion>Width"`
	Height      int    `xml:"ScanRegions>ScanRegion>Height"`
}

// ParseSettings decodes a ScanSettings document as a device would: element
// names in either eSCL namespace, DocumentFormatExt preferred over
// DocumentFormat, defaults for what is missing (Feeder, RGB24, JPEG).
func ParseSettings(r io.Reader) (Settings, error) {
	var d settingsDoc
	dec := xml.NewDecoder(r)
	dec.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		if l := strings.ToLower(label); l == "utf-8" || l == "utf8" || l == "us-ascii" {
			return in, nil
		}
		return nil, fmt.Errorf("charset %q", label)
	}
	if err := dec.Decode(&d); err != nil {
		return Settings{}, fmt.Errorf("%w: %v", ErrSettings, err)
	}
	if d.XMLName.Local != "ScanSettings" {
		return Settings{}, fmt.Errorf("%w: root %q", ErrSettings, d.XMLName.Local)
	}
	s := Settings{
		Source:     strings.TrimSpace(d.InputSource),
		ColorMode:  strings.TrimSpace(d.ColorMode),
		Format:     strings.ToLower(strings.TrimSpace(d.FormatExt)),
		Resolution: d.XResolution,
		Region:     Region{XOffset: d.XOffset, YOffset: d.YOffset, Width: d.Width, Height: d.Height},
	}
	if r := s.Region; r.XOffset < 0 || r.YOffset < 0 || r.Width < 0 || r.Height < 0 {
		return Settings{}, fmt.Errorf("%w: negative scan region", ErrSettings)
	}
	switch strings.ToLower(strings.TrimSpace(d.Duplex)) {
	case "true", "1":
		s.Duplex = true
	case "false", "0", "":
	default:
		return Settings{}, fmt.Errorf("%w: Duplex %q", ErrSettings, d.Duplex)
	}
	if s.Format == "" {
		s.Format = strings.ToLower(strings.TrimSpace(d.Format))
	}
	if s.Source == "" {
		s.Source = "Feeder"
	}
	if s.ColorMode == "" {
		s.ColorMode = "RGB24"
	}
	if s.Format == "" {
		s.Format = "image/jpeg"
	}
	if d.YResolution != 0 && d.YResolution != d.XResolution {
		return Settings{}, fmt.Errorf("%w: X and Y resolution differ", ErrSettings)
	}
	if s.Resolution < 0 {
		return Settings{}, fmt.Errorf("%w: negative resolution", ErrSettings)
	}
	return s, nil
}

// check refuses settings the simulated device does not offer.
func (s Settings) check() error {
	if !slices.Contains(resolutions, s.Resolution) {
		return fmt.Errorf("resolution %d not offered", s.Resolution)
	}
	switch s.ColorMode {
	case "RGB24", "Grayscale8", "BlackAndWhite1":
	default:
		return fmt.Errorf("colour mode %q not offered", s.ColorMode)
	}
	switch s.Format {
	case "image/jpeg", "image/png", "application/pdf":
	default:
		return fmt.Errorf("format %q not offered", s.Format)
	}
	if r := s.Region; r != (Region{}) && (r.Width < minSize || r.Height < minSize ||
		r.XOffset+r.Width > maxWidth || r.YOffset+r.Height > maxHeight) {
		return fmt.Errorf("scan region %+v outside %dx%d", r, maxWidth, maxHeight)
	}
	return nil
}
