package escl

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Quirks are work-arounds for known device bugs. The zero value means a
// device that follows the specification.
type Quirks struct {
	// HostLocalhost sends "Host: localhost" with the ScanJobs request and
	// rewrites the job Location back to the device's real address: some HP
	// devices refuse scan jobs from any other Host.
	HostLocalhost bool
	// PortInHost always names the port in the Host header, even the default
	// one: Epson devices answer 400 without it.
	PortInHost bool
	// PrecheckFeeder asks ScannerStatus before a feeder job and refuses to
	// start on an empty or jammed feeder: Canon MF410 jams physically when
	// asked to scan from an empty feeder.
	PrecheckFeeder bool
	// MaxResolution caps the resolutions the device announces but cannot
	// deliver (0 = no cap).
	MaxResolution int
	// NextDocumentDelay waits between NextDocument requests, at most this
	// long and at most half the time the previous page took: Brother
	// MFC-L2710DW answers 404 (end of job) when asked again too soon.
	NextDocumentDelay time.Duration
	// Retries503 is the number of 503 answers tolerated per page (0 = the
	// client's default). HP LaserJet MFP M28w needs many at high resolution.
	Retries503 int
	// AdfProcessingIsEmpty reads ScannerAdfProcessing on an idle device as
	// an empty feeder: Kyocera reports it so.
	AdfProcessingIsEmpty bool
	// RetryOn404 and RetryOn410 take a 404 or 410 answer to NextDocument
	// for "not yet" and ask again, as for 503, before taking it for the
	// end: Xerox B205, B215 and WorkCentre 3345 answer so while a page is
	// on its way.
	RetryOn404, RetryOn410 bool
	// USBMaxInterfaces limits how many IPP-over-USB interfaces are used
	// (0 = all): some devices hang when both are busy.
	USBMaxInterfaces int
	// USBResetAtOpen resets the device when it is opened, before the
	// first request: some devices answer nothing until then.
	USBResetAtOpen bool
}

// quirksJSON is Quirks as the data files spell it.
type quirksJSON struct {
	HostLocalhost        bool   `json:"host_localhost,omitempty"`
	PortInHost           bool   `json:"port_in_host,omitempty"`
	PrecheckFeeder       bool   `json:"precheck_feeder,omitempty"`
	MaxResolution        int    `json:"max_resolution,omitempty"`
	NextDocumentDelay    string `json:"next_document_delay,omitempty"`
	Retries503           int    `json:"retries_503,omitempty"`
	AdfProcessingIsEmpty bool   `json:"adf_processing_is_empty,omitempty"`
	RetryOn404           bool   `json:"retry_on_404,omitempty"`
	RetryOn410           bool   `json:"retry_on_410,omitempty"`
	USBMaxInterfaces     int    `json:"usb_max_interfaces,omitempty"`
	USBResetAtOpen       bool   `json:"usb_reset_at_open,omitempty"`
}

// UnmarshalJSON reads quirks as the data files spell them (snake_case
// names, the delay as a duration string such as "1s"), refusing unknown
// names and out-of-range numbers.
func (q *Quirks) UnmarshalJSON(data []byte) error {
	var j quirksJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: %v", ErrQuirks, err)
	}
	var d time.Duration
	if j.NextDocumentDelay != "" {
		var err error
		if d, err = time.ParseDuration(j.NextDocumentDelay); err != nil || d < 0 || d > time.Minute {
			return fmt.Errorf("%w: next_document_delay %q", ErrQuirks, j.NextDocumentDelay)
		}
	}
	if j.MaxResolution < 0 || j.MaxResolution > 9600 || j.Retries503 < 0 || j.Retries503 > 1000 ||
		j.USBMaxInterfaces < 0 || j.USBMaxInterfaces > 32 {
		return fmt.Errorf("%w: number out of range", ErrQuirks)
	}
	*q = Quirks{HostLocalhost: j.HostLocalhost, PortInHost: j.PortInHost, PrecheckFeeder: j.PrecheckFeeder,
		MaxResolution: j.MaxResolution, NextDocumentDelay: d, Retries503: j.Retries503,
		AdfProcessingIsEmpty: j.AdfProcessingIsEmpty, RetryOn404: j.RetryOn404, RetryOn410: j.RetryOn410,
		USBMaxInterfaces: j.USBMaxInterfaces, USBResetAtOpen: j.USBResetAtOpen}
	return nil
}

// MarshalJSON writes quirks as the data files spell them.
func (q Quirks) MarshalJSON() ([]byte, error) {
	j := quirksJSON{HostLocalhost: q.HostLocalhost, PortInHost: q.PortInHost, PrecheckFeeder: q.PrecheckFeeder,
		MaxResolution: q.MaxResolution, Retries503: q.Retries503, AdfProcessingIsEmpty: q.AdfProcessingIsEmpty,
		RetryOn404: q.RetryOn404, RetryOn410: q.RetryOn410, USBMaxInterfaces: q.USBMaxInterfaces, USBResetAtOpen: q.USBResetAtOpen}
	if q.NextDocumentDelay > 0 {
		j.NextDocumentDelay = q.NextDocumentDelay.String()
	}
	return json.Marshal(j)
}

// merge ORs flags and takes the larger numbers, so several matching rules
// add up.
func (q Quirks) merge(o Quirks) Quirks {
	q.HostLocalhost = q.HostLocalhost || o.HostLocalhost
	q.PortInHost = q.PortInHost || o.PortInHost
	q.PrecheckFeeder = q.PrecheckFeeder || o.PrecheckFeeder
	if o.MaxResolution > 0 && (q.MaxResolution == 0 || o.MaxResolution < q.MaxResolution) {
		q.MaxResolution = o.MaxResolution
	}
	q.NextDocumentDelay = max(q.NextDocumentDelay, o.NextDocumentDelay)
	q.Retries503 = max(q.Retries503, o.Retries503)
	q.AdfProcessingIsEmpty = q.AdfProcessingIsEmpty || o.AdfProcessingIsEmpty
	q.RetryOn404 = q.RetryOn404 || o.RetryOn404
	q.RetryOn410 = q.RetryOn410 || o.RetryOn410
	if o.USBMaxInterfaces > 0 && (q.USBMaxInterfaces == 0 || o.USBMaxInterfaces < q.USBMaxInterfaces) {
		q.USBMaxInterfaces = o.USBMaxInterfaces
	}
	q.USBResetAtOpen = q.USBResetAtOpen || o.USBResetAtOpen
	return q
}

// QuirkRule selects devices by what they say about themselves. Empty
// fields match anything; a rule with all match fields empty matches
// nothing.
type QuirkRule struct {
	// Model matches pwg:MakeAndModel exactly (case-insensitive).
	Model string `json:"model,omitempty"`
	// ModelPrefix matches the beginning of pwg:MakeAndModel
	// (case-insensitive).
	ModelPrefix string `json:"model_prefix,omitempty"`
	// Manufacturer matches scan:Manufacturer (case-insensitive).
	Manufacturer string `json:"manufacturer,omitempty"`
	// Server matches the HTTP Server header of the capabilities answer.
	Server string `json:"server,omitempty"`
	// USB matches the USB vendor and product id, "vvvv:pppp" in hex.
	USB string `json:"usb,omitempty"`
	// Replace makes a matching rule's quirks replace those of the rules
	// before it instead of adding to them: a kiosk's configuration, whose
	// rules come last, can so switch a known quirk off.
	Replace bool `json:"replace,omitempty"`
	// Quirks apply when the rule matches.
	Quirks Quirks `json:"quirks"`
	// Source says where the bug is documented.
	Source string `json:"source,omitempty"`
}

// Identity is what a device says about itself, as quirk rules match it.
// Fields not known (yet) are empty: before the capabilities are read, only
// USB is.
type Identity struct {
	Model, Manufacturer, Server string
	USB                         string // "vvvv:pppp"
}

func (r QuirkRule) match(id Identity) bool {
	model, manufacturer, server := id.Model, id.Manufacturer, id.Server
	if r.Model == "" && r.ModelPrefix == "" && r.Manufacturer == "" && r.Server == "" && r.USB == "" {
		return false
	}
	if r.USB != "" && !strings.EqualFold(r.USB, id.USB) {
		return false
	}
	if r.Model != "" && !strings.EqualFold(r.Model, model) {
		return false
	}
	if r.ModelPrefix != "" && !(len(model) >= len(r.ModelPrefix) && strings.EqualFold(model[:len(r.ModelPrefix)], r.ModelPrefix)) {
		return false
	}
	if r.Manufacturer != "" && !strings.EqualFold(r.Manufacturer, manufacturer) {
		return false
	}
	if r.Server != "" && r.Server != server {
		return false
	}
	return true
}

// quirkFS holds the known device bugs, one file per maker.
//
//go:embed quirks/*.json
var quirkFS embed.FS

// ErrQuirks marks a quirk rule file that cannot be read.
var ErrQuirks = errors.New("escl: bad quirk rules")

var usbID = regexp.MustCompile(`^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$`)

// ParseQuirkRules decodes a JSON array of quirk rules, as the embedded
// files and a kiosk's configuration hold them. Every rule must match on
// something; a USB id must be "vvvv:pppp".
func ParseQuirkRules(data []byte) ([]QuirkRule, error) {
	var rules []QuirkRule
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rules); err != nil {
		if errors.Is(err, ErrQuirks) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrQuirks, err)
	}
	for i, r := range rules {
		if err := r.Check(); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
	}
	return rules, nil
}

// Check refuses a rule that matches nothing or names a malformed USB id.
func (r QuirkRule) Check() error {
	if r.Model == "" && r.ModelPrefix == "" && r.Manufacturer == "" && r.Server == "" && r.USB == "" {
		return fmt.Errorf("%w: a rule that matches nothing", ErrQuirks)
	}
	if r.USB != "" && !usbID.MatchString(r.USB) {
		return fmt.Errorf("%w: usb %q is not vvvv:pppp", ErrQuirks, r.USB)
	}
	return nil
}

// KnownQuirks returns the table of known device bugs, from the embedded
// data files (quirks/*.json, collected from sane-airscan's airscan-escl.c
// and ipp-usb's quirk files). It returns a fresh copy each time so no
// caller can change another's table.
//
// Some bugs the client copes with for every device, so they need no rule:
// a Location naming another host ("localhost") or given relative, a job
// URL with or without a trailing slash, a ScanJobs answer whose body
// breaks off after the headers (Kyocera ECOSYS M6526cdn, sane-airscan
// issue #163), 503 between pages, a 404 while the job is still processing
// with paper in the feeder (polled again a few times), 409 after the last
// page, and an empty 200 answer for a jam.
func KnownQuirks() []QuirkRule {
	des, _ := quirkFS.ReadDir("quirks") // embedded: cannot fail
	var out []QuirkRule
	for _, de := range des {
		data, _ := quirkFS.ReadFile("quirks/" + de.Name())
		rules, err := ParseQuirkRules(data)
		if err != nil {
			// The files are tested; a broken one must not stop the kiosk.
			continue
		}
		out = append(out, rules...)
	}
	return out
}

// QuirksFor returns the merged quirks of all rules that match the model,
// manufacturer and Server header.
func QuirksFor(rules []QuirkRule, model, manufacturer, server string) Quirks {
	return QuirksOf(rules, Identity{Model: model, Manufacturer: manufacturer, Server: server})
}

// QuirksOf returns the quirks of all rules that match id, in order: merged,
// or replaced by a matching rule with Replace set.
func QuirksOf(rules []QuirkRule, id Identity) Quirks {
	var q Quirks
	for _, r := range rules {
		if !r.match(id) {
			continue
		}
		if r.Replace {
			q = r.Quirks
		} else {
			q = q.merge(r.Quirks)
		}
	}
	return q
}
