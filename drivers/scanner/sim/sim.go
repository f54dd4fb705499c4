// Package sim is an eSCL scanner in-process: a real HTTP server on loopback
// that behaves like a sheet-fed duplex document scanner, so the kiosk in
// simulation runs the real escl client. It draws realistic A4 pages at
// 150-600 dpi (a letter with a form, a Data Matrix code carrying the
// customer's number on the first page, printed or blank backs) and can be
// told to fail in every way the kiosk must explain: jam, empty feeder,
// double feed, open cover, a slow or busy device, a disconnect mid-page.
//
// How the device answers where real devices differ from the specification
// (409 at the end of a feeder job, a jam as an empty 200, absolute Location
// headers, ignored settings, a crash, a freeze) is its Profile, chosen by
// name from embedded data files (Profiles, Options.Profile).
//
// Formats: RGB24 and Grayscale8 as JPEG (or PDF or PNG); BlackAndWhite1 as a
// 1-bit PNG when PNG is asked for, and as a greyscale JPEG holding only
// black and white when JPEG is asked for.
package sim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolutions the simulator offers.
var resolutions = []int{150, 200, 300, 600}

// Options configure a simulated scanner.
type Options struct {
	// Profile names the embedded device profile ("" = "spec"); see
	// Profiles.
	Profile string
	// Sheets is the number of sheets in the feeder at start (0 = empty).
	Sheets int
	// Duplex gives the device a duplex feeder.
	Duplex bool
	// Code is drawn as a Data Matrix on the first page of every job
	// ("" = no code).
	Code string
	// BlankBacks lists the sheets (1-based within a job) whose back is
	// blank; other backs carry text.
	BlankBacks []int
	// Resolution is used when a job does not name one (default 300).
	Resolution int
	// Quality is the JPEG quality (default 75).
	Quality int
	// MakeAndModel is what the device calls itself (default "Einwurf
	// Simulated Duplex ADF").
	MakeAndModel string
	// Addr is the listen address (default "127.0.0.1:0"; loopback only).
	Addr string

	// JamAtSheet jams the feeder when sheet k of a job is fed (0 = never).
	JamAtSheet int
	// DoubleFeedAtSheet reports a double feed at sheet k (0 = never).
	DoubleFeedAtSheet int
	// FaultStatus is the HTTP status NextDocument answers on a jam or
	// double feed: 409 or 404 (0 = the profile's), as devices differ; the
	// cause is in ScannerStatus either way.
	FaultStatus int
	// CoverOpen makes every job fail at the start with the cover open.
	CoverOpen bool
	// PageDelay is how long the device takes per page (a slow device).
	PageDelay time.Duration
	// Busy503 answers each NextDocument this many times with 503 first.
	Busy503 int
	// DisconnectAtSheet drops the connection halfway through the front of
	// sheet k (0 = never).
	DisconnectAtSheet int
	// IgnoreDuplex makes the device scan simplex even when asked for duplex
	// (a known device bug).
	IgnoreDuplex bool
	// Logger receives protocol events (default slog.Default()).
	Logger *slog.Logger
}

// Server is a running simulated scanner.
type Server struct {
	o     Options
	p     Profile
	ln    net.Listener
	hs    *http.Server
	cache *cache
	log   *slog.Logger
	mux   *http.ServeMux

	mu       sync.Mutex
	f        Faults
	feeder   int
	fault    string // ADF state of a fault that persists until Load
	jobs     []*job
	nextID   int
	served   int
	canceled int
}

// job is one scan job on the simulated device.
type job struct {
	id       int
	uuid     string
	settings Settings
	duplex   bool
	served   int // pages delivered
	fed      int // sheets fed
	busy     int // 503s given for the current page
	state    string
	reasons  []string
	started  time.Time
}

func (j *job) uri() string { return "/eSCL/ScanJobs/" + j.uuid }

// Start starts a simulated scanner on loopback.
func Start(o Options) (*Server, error) {
	if o.Resolution == 0 {
		o.Resolution = 300
	}
	if !slices.Contains(resolutions, o.Resolution) {
		return nil, fmt.Errorf("sim: resolution %d not one of %v", o.Resolution, resolutions)
	}
	if o.Quality == 0 {
		o.Quality = 75
	}
	if o.Quality < 1 || o.Quality > 100 {
		return nil, fmt.Errorf("sim: JPEG quality %d outside 1..100", o.Quality)
	}
	p, err := LoadProfile(o.Profile)
	if err != nil {
		return nil, err
	}
	if o.MakeAndModel == "" {
		o.MakeAndModel = p.MakeAndModel
	}
	if o.MakeAndModel == "" {
		o.MakeAndModel = "Einwurf Simulated Duplex ADF"
	}
	o.IgnoreDuplex = o.IgnoreDuplex || p.IgnoreDuplex
	if o.Sheets < 0 {
		return nil, errors.New("sim: negative sheet count")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("sim: address: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("sim: address %q is not loopback", o.Addr)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{o: o, p: p, cache: newCache(o.Quality), log: o.Logger, feeder: o.Sheets}
	s.f = p.Faults.or(Faults{JamAtSheet: o.JamAtSheet, DoubleFeedAtSheet: o.DoubleFeedAtSheet, FaultStatus: o.FaultStatus,
		CoverOpen: o.CoverOpen, PageDelay: o.PageDelay, Busy503: o.Busy503, DisconnectAtSheet: o.DisconnectAtSheet})
	if s.f.FaultStatus == 0 {
		s.f.FaultStatus = p.FaultStatus
	}
	if err := s.f.check(); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /eSCL/ScannerCapabilities", s.capabilities)
	s.mux.HandleFunc("GET /eSCL/ScannerStatus", s.status)
	s.mux.HandleFunc("POST /eSCL/ScanJobs", s.createJob)
	s.mux.HandleFunc("POST /eSCL/ScanJobs/{$}", s.createJob)
	s.mux.HandleFunc("GET /eSCL/ScanJobs/{id}/NextDocument", s.nextDocument)
	s.mux.HandleFunc("DELETE /eSCL/ScanJobs/{id}", s.deleteJob)
	s.mux.HandleFunc("DELETE /eSCL/ScanJobs/{id}/{$}", s.deleteJob)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("sim: listen: %w", err)
	}
	s.ln = ln
	s.hs = &http.Server{Handler: s.serverHeader(s.mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.hs.Serve(ln) }()
	return s, nil
}

// URL is the base URL of the eSCL root, e.g. "http://127.0.0.1:PORT/eSCL".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/eSCL" }

// Handler is the eSCL handler itself, for serving it over other
// transports (the fake USB device in tests).
func (s *Server) Handler() http.Handler { return s.serverHeader(s.mux) }

// Profile returns the device profile in effect.
func (s *Server) Profile() Profile { return s.p }

// serverHeader names the device in the Server header, as its profile says.
func (s *Server) serverHeader(h http.Handler) http.Handler {
	if s.p.Server == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", s.p.Server)
		h.ServeHTTP(w, r)
	})
}

// Close stops the server and drops open connections.
func (s *Server) Close() error {
	err := s.hs.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Load puts sheets into the feeder for the next job, replacing what lies
// there, and clears a jam or double feed (the operator opened the feeder).
func (s *Server) Load(sheets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feeder = max(0, sheets)
	s.fault = ""
}

// Faults are the failures a simulated scanner shows, as in Options. Sheet
// numbers count within a job, from 1; 0 means never.
type Faults struct {
	JamAtSheet         int           `json:"jam_at_sheet,omitempty"`           // jam when sheet k is fed
	DoubleFeedAtSheet  int           `json:"double_feed_at_sheet,omitempty"`   // double feed at sheet k
	FaultStatus        int           `json:"fault_status,omitempty"`           // HTTP status of a feeder fault (0 = the profile's)
	CoverOpen          bool          `json:"cover_open,omitempty"`             // every job fails at the start
	CoverOpenAtSheet   int           `json:"cover_open_at_sheet,omitempty"`    // the cover opens as sheet k is fed
	PageDelay          time.Duration `json:"page_delay,omitempty"`             // time per page
	Busy503            int           `json:"busy_503,omitempty"`               // 503 answers before each page
	DisconnectAtSheet  int           `json:"disconnect_at_sheet,omitempty"`    // drop the connection mid-page at sheet k
	FreezeAtSheet      int           `json:"freeze_at_sheet,omitempty"`        // stop sending mid-page at sheet k, connection open
	StopAtSheet        int           `json:"stop_at_sheet,omitempty"`          // abort the job at sheet k for a reason of its own
	PageTooLongAtSheet int           `json:"page_too_long_at_sheet,omitempty"` // sheet k is longer than the feeder takes
}

// check refuses negative numbers.
func (f Faults) check() error {
	for _, v := range []int{f.JamAtSheet, f.DoubleFeedAtSheet, f.CoverOpenAtSheet, f.Busy503, f.DisconnectAtSheet, f.FreezeAtSheet, f.StopAtSheet, f.PageTooLongAtSheet} {
		if v < 0 {
			return fmt.Errorf("%w: negative fault number", ErrProfile)
		}
	}
	if f.PageDelay < 0 {
		return fmt.Errorf("%w: negative page delay", ErrProfile)
	}
	return nil
}

// or returns f with the fields o sets put over it.
func (f Faults) or(o Faults) Faults {
	pick := func(a, b int) int {
		if b != 0 {
			return b
		}
		return a
	}
	f.JamAtSheet = pick(f.JamAtSheet, o.JamAtSheet)
	f.DoubleFeedAtSheet = pick(f.DoubleFeedAtSheet, o.DoubleFeedAtSheet)
	f.FaultStatus = pick(f.FaultStatus, o.FaultStatus)
	f.CoverOpen = f.CoverOpen || o.CoverOpen
	f.CoverOpenAtSheet = pick(f.CoverOpenAtSheet, o.CoverOpenAtSheet)
	f.PageDelay = max(f.PageDelay, o.PageDelay)
	f.Busy503 = pick(f.Busy503, o.Busy503)
	f.DisconnectAtSheet = pick(f.DisconnectAtSheet, o.DisconnectAtSheet)
	f.FreezeAtSheet = pick(f.FreezeAtSheet, o.FreezeAtSheet)
	f.StopAtSheet = pick(f.StopAtSheet, o.StopAtSheet)
	f.PageTooLongAtSheet = pick(f.PageTooLongAtSheet, o.PageTooLongAtSheet)
	return f
}

// SetFaults changes the failures while the scanner runs, so that a demo
// or service screen can show every error path; it applies from the next
// request on.
func (s *Server) SetFaults(f Faults) {
	if f.FaultStatus == 0 {
		f.FaultStatus = s.p.FaultStatus
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
}

// Faults returns the failures in effect.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// Feeder returns how many sheets are still in the feeder.
func (s *Server) Feeder() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.feeder
}

// PagesServed returns how many pages the device has delivered in all.
func (s *Server) PagesServed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Canceled returns how many jobs were cancelled by the client.
func (s *Server) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

// Warm renders the pages of a job with these settings ahead of time, so a
// benchmark measures the client rather than the drawing.
func (s *Server) Warm(st Settings) error {
	for _, k := range s.keys(st) {
		if _, err := s.cache.get(k); err != nil {
			return err
		}
	}
	return nil
}

// keys lists the distinct pages a job with these settings may show.
func (s *Server) keys(st Settings) []pageKey {
	var ks []pageKey
	for _, kind := range []string{kindCodeForm, kindBlank, kindBack} {
		if kind == kindCodeForm && s.o.Code == "" {
			continue // drawn only when there is a code to carry
		}
		ks = append(ks, s.key(st, kind, 0))
	}
	for seed := range 3 {
		ks = append(ks, s.key(st, kindLetter, seed))
	}
	return ks
}

func (s *Server) key(st Settings, kind string, seed int) pageKey {
	return pageKey{kind: kind, seed: seed, dpi: st.Resolution, mode: st.ColorMode, format: st.Format, code: s.o.Code, region: st.Region}
}

const capsTmpl = `<?xml version="1.0" encoding="UTF-8"?>
<scan:ScannerCapabilities xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">
<pwg:Version>2.63</pwg:Version>
<pwg:MakeAndModel>%s</pwg:MakeAndModel>
<pwg:SerialNumber>SIM0001</pwg:SerialNumber>
<scan:Manufacturer>Einwurf</scan:Manufacturer>
<scan:UUID>4509a320-00a0-008f-00b6-002507510eca</scan:UUID>
<scan:Adf>
<scan:AdfSimplexInputCaps>%s</scan:AdfSimplexInputCaps>
%s<scan:FeederCapacity>50</scan:FeederCapacity>
<scan:AdfOptions><scan:AdfOption>DetectPaperLoaded</scan:AdfOption>%s</scan:AdfOptions>
</scan:Adf>
</scan:ScannerCapabilities>
`

func inputCaps() string {
	var b strings.Builder
	b.WriteString("<scan:MinWidth>591</scan:MinWidth><scan:MaxWidth>2550</scan:MaxWidth>")
	b.WriteString("<scan:MinHeight>591</scan:MinHeight><scan:MaxHeight>4200</scan:MaxHeight>")
	b.WriteString("<scan:MaxScanRegions>1</scan:MaxScanRegions><scan:SettingProfiles><scan:SettingProfile>")
	b.WriteString("<scan:ColorModes><scan:ColorMode>BlackAndWhite1</scan:ColorMode><scan:ColorMode>Grayscale8</scan:ColorMode><scan:ColorMode>RGB24</scan:ColorMode></scan:ColorModes>")
	b.WriteString("<scan:DocumentFormats>")
	for _, f := range []string{"image/jpeg", "application/pdf", "image/png"} {
		b.WriteString("<pwg:DocumentFormat>" + f + "</pwg:DocumentFormat><scan:DocumentFormatExt>" + f + "</scan:DocumentFormatExt>")
	}
	b.WriteString("</scan:DocumentFormats><scan:SupportedResolutions><scan:DiscreteResolutions>")
	for _, r := range resolutions {
		fmt.Fprintf(&b, "<scan:DiscreteResolution><scan:XResolution>%d</scan:XResolution><scan:YResolution>%d</scan:YResolution></scan:DiscreteResolution>", r, r)
	}
	b.WriteString("</scan:DiscreteResolutions></scan:SupportedResolutions></scan:SettingProfile></scan:SettingProfiles>")
	b.WriteString("<scan:SupportedIntents><scan:Intent>Document</scan:Intent><scan:Intent>TextAndGraphic</scan:Intent></scan:SupportedIntents>")
	return b.String()
}

func (s *Server) capabilities(w http.ResponseWriter, r *http.Request) {
	duplex, opt := "", ""
	if s.o.Duplex {
		duplex = "<scan:AdfDuplexInputCaps>" + inputCaps() + "</scan:AdfDuplexInputCaps>\n"
		opt = "<scan:AdfOption>Duplex</scan:AdfOption>"
	}
	var name bytes.Buffer
	_ = xml.EscapeText(&name, []byte(s.o.MakeAndModel))
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, capsTmpl, name.String(), inputCaps(), duplex, opt)
}

// active returns the job still processing, if any. Callers hold s.mu.
func (s *Server) active() *job {
	for _, j := range s.jobs {
		if j.state == "Processing" {
			return j
		}
	}
	return nil
}

func (s *Server) adfState() string {
	switch {
	case s.fault != "":
		return s.fault
	case s.f.CoverOpen:
		return s.p.CoverState
	case s.active() != nil:
		return "ScannerAdfProcessing"
	case s.feeder > 0:
		return "ScannerAdfLoaded"
	}
	return "ScannerAdfEmpty"
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	state := "Idle"
	if s.active() != nil {
		state = "Processing"
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<scan:ScannerStatus xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">`)
	fmt.Fprintf(&b, "<pwg:Version>2.63</pwg:Version><pwg:State>%s</pwg:State><scan:AdfState>%s</scan:AdfState><scan:Jobs>", state, s.adfState())
	for i := len(s.jobs) - 1; i >= 0; i-- {
		j := s.jobs[i]
		left := 0
		if j.state == "Processing" {
			left = 1
		}
		fmt.Fprintf(&b, "<scan:JobInfo><pwg:JobUri>%s</pwg:JobUri><pwg:JobUuid>%s</pwg:JobUuid><scan:Age>%d</scan:Age><pwg:ImagesCompleted>%d</pwg:ImagesCompleted><pwg:ImagesToTransfer>%d</pwg:ImagesToTransfer><pwg:JobState>%s</pwg:JobState><pwg:JobStateReasons>",
			j.uri(), j.uuid, int(time.Since(j.started).Seconds()), j.served, left, j.state)
		for _, rs := range j.reasons {
			fmt.Fprintf(&b, "<pwg:JobStateReason>%s</pwg:JobStateReason>", rs)
		}
		b.WriteString("</pwg:JobStateReasons></scan:JobInfo>")
	}
	b.WriteString("</scan:Jobs></scan:ScannerStatus>\n")
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, b.String())
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	st, err := ParseSettings(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		s.log.Info("sim: bad scan settings", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if st.Resolution == 0 {
		st.Resolution = s.o.Resolution
	}
	if err := st.check(); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if s.p.IgnoreColor != "" {
		st.ColorMode = s.p.IgnoreColor
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.active() != nil:
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	case s.f.CoverOpen || s.fault != "":
		http.Error(w, "feeder needs attention", http.StatusConflict)
		return
	case st.Source == "Feeder" && s.feeder == 0:
		http.Error(w, "feeder empty", http.StatusConflict)
		return
	case st.Source != "Feeder":
		http.Error(w, "no platen", http.StatusConflict)
		return
	}
	s.nextID++
	j := &job{
		id:       s.nextID,
		uuid:     fmt.Sprintf("%08x-0000-4000-8000-%012x", s.nextID, s.nextID),
		settings: st,
		duplex:   st.Duplex && s.o.Duplex && !s.o.IgnoreDuplex,
		state:    "Processing",
		started:  time.Now(),
	}
	s.jobs = append(s.jobs, j)
	if len(s.jobs) > 16 { // the status lists recent jobs only
		s.jobs = slices.Delete(s.jobs, 0, len(s.jobs)-16)
	}
	w.Header().Set("Location", s.p.LocationBase+j.uri())
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) find(id string) *job {
	for _, j := range s.jobs {
		if j.uuid == id {
			return j
		}
	}
	return nil
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.find(r.PathValue("id"))
	if j == nil {
		http.NotFound(w, r)
		return
	}
	if j.state == "Processing" {
		j.state = "Canceled"
		j.reasons = []string{"JobCanceledByUser"}
		s.canceled++
	}
	w.WriteHeader(http.StatusOK)
}

// nextDocument serves the next page of a job, or tells why there is none.
func (s *Server) nextDocument(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.find(r.PathValue("id"))
	if j != nil && j.id == s.p.CrashOnJob {
		j.state, j.reasons = "Aborted", []string{"ServiceOffline"}
		s.mu.Unlock()
		s.log.Info("sim: crashing", "job", j.id)
		crash(w)
		return
	}
	if j == nil || j.state != "Processing" {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if j.busy < s.f.Busy503 {
		j.busy++
		s.mu.Unlock()
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	front := !j.duplex || j.served%2 == 0
	sheet := j.served + 1
	if j.duplex {
		sheet = j.served/2 + 1
	}
	if front {
		if s.feeder == 0 {
			j.state = "Completed"
			j.reasons = []string{"JobCompletedSuccessfully"}
			s.mu.Unlock()
			if s.p.EndStatus == http.StatusConflict {
				http.Error(w, "ScannerAdfEmpty", http.StatusConflict)
				return
			}
			http.NotFound(w, r)
			return
		}
		var fault, reason string
		switch sheet {
		case s.f.JamAtSheet:
			fault, reason = "ScannerAdfJam", "AdfJam"
		case s.f.DoubleFeedAtSheet:
			fault, reason = "ScannerAdfMultipickDetected", "AdfMultipickDetected"
		case s.f.CoverOpenAtSheet:
			fault, reason = s.p.CoverState, "AdfCoverOpen"
		case s.f.PageTooLongAtSheet:
			fault, reason = "ScannerAdfDuplexPageTooLong", "AdfDuplexPageTooLong"
		case s.f.StopAtSheet:
			// The device gives up for a reason of its own; the feeder
			// looks fine.
			fault, reason = "", "ResourcesAreNotReady"
		}
		if reason != "" {
			s.fault = fault
			j.state = "Aborted"
			j.reasons = []string{reason}
			if s.p.FaultReason != "" {
				j.reasons = []string{s.p.FaultReason}
			}
			status := s.f.FaultStatus
			s.mu.Unlock()
			s.log.Info("sim: feeder fault", "fault", fault, "reason", reason, "sheet", sheet)
			if status == http.StatusOK {
				// An empty page: what some devices answer instead.
				w.Header().Set("Content-Type", j.settings.Format)
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusOK)
				return
			}
			http.Error(w, reason, status)
			return
		}
		s.feeder--
		j.fed++
	}
	kind := kindLetter
	seed := 0
	switch {
	case front && sheet == 1 && s.o.Code != "":
		kind = kindCodeForm
	case front:
		seed = sheet % 3
	case slices.Contains(s.o.BlankBacks, sheet):
		kind = kindBlank
	default:
		kind = kindBack
	}
	key := s.key(j.settings, kind, seed)
	j.served++
	j.busy = 0
	s.served++
	disconnect := front && sheet == s.f.DisconnectAtSheet
	freeze := front && sheet == s.f.FreezeAtSheet
	delay := s.f.PageDelay
	s.mu.Unlock()

	if delay > 0 {
		if err := sleepCtx(r.Context(), delay); err != nil {
			return
		}
	}
	pg, err := s.cache.get(key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", pg.format)
	w.Header().Set("Content-Length", strconv.Itoa(len(pg.data)))
	if disconnect {
		s.dropMidPage(w, pg.data)
		return
	}
	if freeze {
		s.freezeMidPage(w, r, pg.data)
		return
	}
	_, _ = w.Write(pg.data)
}

// dropMidPage sends half a page and then drops the connection, as a
// device does that loses power or its cable.
func (s *Server) dropMidPage(w http.ResponseWriter, data []byte) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data[:len(data)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.log.Info("sim: disconnecting mid-page")
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	// Where the connection cannot be taken over, returning short of the
	// promised Content-Length makes net/http drop the connection too.
}

// freezeMidPage sends half a page and then nothing, the connection held
// open, until the client gives up or the server closes.
func (s *Server) freezeMidPage(w http.ResponseWriter, r *http.Request, data []byte) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data[:len(data)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.log.Info("sim: freezing mid-page")
	<-r.Context().Done()
}

// crash closes the connection without an answer, as a device does that
// crashes on a request.
func crash(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	// A transport without connections (the fake USB device) gets a 500:
	// the nearest to no answer it can carry.
	http.Error(w, "crashed", http.StatusInternalServerError)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
