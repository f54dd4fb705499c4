package sim

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Profile is how a simulated device behaves where real devices differ from
// the specification. Profiles are data: the files in profiles/ are
// embedded, one per device kind.
type Profile struct {
	// Name is the profile's name, the file's base name.
	Name string `json:"name"`
	// Description says what the profile plays, for a person choosing it.
	Description string `json:"description"`
	// MakeAndModel is what the device calls itself (Options.MakeAndModel
	// overrides it).
	MakeAndModel string `json:"make_and_model"`
	// Server, if set, is sent as the Server header of every answer.
	Server string `json:"server,omitempty"`
	// EndStatus answers NextDocument after the last page: 404 (default) or
	// 409 Conflict with ScannerAdfEmpty in the status.
	EndStatus int `json:"end_status,omitempty"`
	// FaultStatus answers NextDocument on a jam, double feed or open cover
	// mid-job: 409 (default), 404, or 200 with an empty body (then 404).
	FaultStatus int `json:"fault_status,omitempty"`
	// FaultReason, if set, is the JobStateReason of a job aborted by a
	// fault instead of the fault's own (AdfJam, ...).
	FaultReason string `json:"fault_reason,omitempty"`
	// CoverState is the AdfState of an open cover (default
	// ScannerAdfHatchOpen).
	CoverState string `json:"cover_state,omitempty"`
	// IgnoreDuplex scans simplex even when asked for duplex.
	IgnoreDuplex bool `json:"ignore_duplex,omitempty"`
	// IgnoreColor, if set, is the colour mode of every page, whatever was
	// asked.
	IgnoreColor string `json:"ignore_color,omitempty"`
	// LocationBase, if set, makes the job's Location absolute with this
	// scheme and host (e.g. "http://localhost:80").
	LocationBase string `json:"location_base,omitempty"`
	// CrashOnJob closes the connection of every request to job n
	// (1-based) without an answer (0 = never).
	CrashOnJob int `json:"crash_on_job,omitempty"`
	// Faults are the failures in effect from the start.
	Faults Faults `json:"faults"`
}

//go:embed profiles/*.json
var profileFS embed.FS

// ErrProfile marks a profile that does not exist or is not valid.
var ErrProfile = errors.New("sim: bad device profile")

// Profiles returns the names of the embedded profiles, sorted.
func Profiles() []string {
	des, _ := profileFS.ReadDir("profiles") // embedded: cannot fail
	var out []string
	for _, de := range des {
		out = append(out, strings.TrimSuffix(de.Name(), ".json"))
	}
	slices.Sort(out)
	return out
}

// LoadProfile returns the embedded profile name ("" is "spec").
func LoadProfile(name string) (Profile, error) {
	if name == "" {
		name = "spec"
	}
	if !slices.Contains(Profiles(), name) {
		return Profile{}, fmt.Errorf("%w: no profile %q (have %s)", ErrProfile, name, strings.Join(Profiles(), ", "))
	}
	data, err := profileFS.ReadFile(path.Join("profiles", name+".json"))
	if err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	return ParseProfile(data)
}

// ParseProfile decodes and checks a profile file.
func ParseProfile(data []byte) (Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	if p.Name == "" {
		return Profile{}, fmt.Errorf("%w: no name", ErrProfile)
	}
	if p.EndStatus == 0 {
		p.EndStatus = http.StatusNotFound
	}
	if p.FaultStatus == 0 {
		p.FaultStatus = http.StatusConflict
	}
	if p.CoverState == "" {
		p.CoverState = "ScannerAdfHatchOpen"
	}
	switch p.EndStatus {
	case http.StatusNotFound, http.StatusConflict:
	default:
		return Profile{}, fmt.Errorf("%w: end_status %d", ErrProfile, p.EndStatus)
	}
	switch p.FaultStatus {
	case http.StatusOK, http.StatusNotFound, http.StatusConflict:
	default:
		return Profile{}, fmt.Errorf("%w: fault_status %d", ErrProfile, p.FaultStatus)
	}
	switch p.IgnoreColor {
	case "", "RGB24", "Grayscale8", "BlackAndWhite1":
	default:
		return Profile{}, fmt.Errorf("%w: ignore_color %q", ErrProfile, p.IgnoreColor)
	}
	if p.LocationBase != "" {
		u, err := url.Parse(p.LocationBase)
		if err != nil || u.Scheme != "http" || u.Host == "" || u.Path != "" {
			return Profile{}, fmt.Errorf("%w: location_base %q", ErrProfile, p.LocationBase)
		}
	}
	if p.CrashOnJob < 0 || p.Faults.check() != nil {
		return Profile{}, fmt.Errorf("%w: negative job or sheet number", ErrProfile)
	}
	return p, nil
}
