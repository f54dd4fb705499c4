package escl

import (
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
	return q
}

// QuirkRule selects devices by what they say about themselves. Empty
// fields match anything; a rule with all match fields empty matches
// nothing.
type QuirkRule struct {
	// Model matches pwg:MakeAndModel exactly (case-insensitive).
	Model string
	// ModelPrefix matches the beginning of pwg:MakeAndModel
	// (case-insensitive).
	ModelPrefix string
	// Manufacturer matches scan:Manufacturer (case-insensitive).
	Manufacturer string
	// Server matches the HTTP Server header of the capabilities answer.
	Server string
	// Quirks apply when the rule matches.
	Quirks Quirks
	// Source says where the bug is documented.
	Source string
}

func (r QuirkRule) match(model, manufacturer, server string) bool {
	if r.Model == "" && r.ModelPrefix == "" && r.Manufacturer == "" && r.Server == "" {
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

// KnownQuirks returns the table of known device bugs, as collected by
// sane-airscan (airscan-escl.c) from user reports. It returns a fresh copy
// each time so no caller can change another's table.
//
// Some bugs the client copes with for every device, so they need no rule:
// a Location naming another host ("localhost") or given relative, a job
// URL with or without a trailing slash, a ScanJobs answer whose body
// breaks off after the headers (Kyocera ECOSYS M6526cdn, sane-airscan
// issue #163), 503 between pages, and a 404 while the job is still
// processing with paper in the feeder (polled again a few times).
func KnownQuirks() []QuirkRule {
	const src = "sane-airscan airscan-escl.c"
	return []QuirkRule{
		{Model: "HP LaserJet MFP M630", Quirks: Quirks{HostLocalhost: true}, Source: src},
		{Model: "HP Color LaserJet FlowMFP M578", Quirks: Quirks{HostLocalhost: true}, Source: src},
		{Server: "HP_Compact_Server", Quirks: Quirks{HostLocalhost: true}, Source: src + " (issue #116)"},
		{Model: "MF410 Series", Quirks: Quirks{PrecheckFeeder: true}, Source: src},
		{ModelPrefix: "EPSON ", Quirks: Quirks{PortInHost: true}, Source: src},
		{Manufacturer: "EPSON", Quirks: Quirks{PortInHost: true}, Source: src},
		{Model: "Canon iR2625/2630", Quirks: Quirks{MaxResolution: 300}, Source: src + " (issue #57)"},
		{ModelPrefix: "Brother MFC-L2710DW", Quirks: Quirks{NextDocumentDelay: time.Second}, Source: src},
		{ModelPrefix: "HP LaserJet MFP M28", Quirks: Quirks{Retries503: 30}, Source: src},
		{Manufacturer: "Kyocera", Quirks: Quirks{AdfProcessingIsEmpty: true}, Source: src},
		{ModelPrefix: "Kyocera", Quirks: Quirks{AdfProcessingIsEmpty: true}, Source: src},
	}
}

// QuirksFor returns the merged quirks of all rules that match.
func QuirksFor(rules []QuirkRule, model, manufacturer, server string) Quirks {
	var q Quirks
	for _, r := range rules {
		if r.match(model, manufacturer, server) {
			q = q.merge(r.Quirks)
		}
	}
	return q
}
