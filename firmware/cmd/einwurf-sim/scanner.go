package main

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	scannersim "github.com/einwurf/einwurf/drivers/scanner/sim"
)

//go:embed assets
var assets embed.FS

// simScanner is the simulated scanner as the kiosk sees it: the real eSCL
// client against a simulator playing one device profile, which the
// simulation page may switch and fault while the UI is in use. It puts
// paper back into the feeder before each job, as a customer would, unless
// the page emptied it.
type simScanner struct {
	opts scannersim.Options
	log  *slog.Logger
	// clientOpts configure each new eSCL client (tests shorten the stall
	// time and the retries).
	clientOpts []escl.Option

	mu     sync.Mutex
	srv    *scannersim.Server
	client *escl.Client
	fault  string // the fault in effect, "" for none
	empty  bool   // the feeder stays empty: no refill
	off    bool   // switched off from the simulation page (power.go)
}

var _ scanner.Scanner = (*simScanner)(nil)

// newSimScanner starts the simulator with o (o.Profile names the device).
func newSimScanner(o scannersim.Options, log *slog.Logger) (*simScanner, error) {
	s := &simScanner{opts: o, log: log}
	if err := s.switchProfile(o.Profile); err != nil {
		return nil, err
	}
	return s, nil
}

// switchProfile replaces the simulated device by one playing profile,
// faults cleared.
func (s *simScanner) switchProfile(profile string) error {
	o := s.opts
	o.Profile = profile
	srv, err := scannersim.Start(o)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.srv
	s.srv, s.client, s.fault, s.empty = srv, escl.New(&http.Client{}, srv.URL(), append([]escl.Option{escl.WithLogger(s.log)}, s.clientOpts...)...), "", false
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	s.log.Info("einwurf-sim: scanner profile", "profile", srv.Profile().Name)
	return nil
}

func (s *simScanner) current() (*scannersim.Server, *escl.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv, s.client
}

// Server returns the simulator now in use.
func (s *simScanner) Server() *scannersim.Server {
	srv, _ := s.current()
	return srv
}

// Capabilities implements scanner.Scanner.
func (s *simScanner) Capabilities(ctx context.Context) (scanner.Capabilities, error) {
	_, c := s.current()
	return c.Capabilities(ctx)
}

// Status implements scanner.Scanner.
func (s *simScanner) Status(ctx context.Context) (scanner.Status, error) {
	_, c := s.current()
	return c.Status(ctx)
}

// Scan loads paper if the feeder is empty (and not held empty), then
// scans.
func (s *simScanner) Scan(ctx context.Context, st scanner.Settings) (scanner.Job, error) {
	s.mu.Lock()
	srv, c, empty := s.srv, s.client, s.empty
	s.mu.Unlock()
	if srv.Feeder() == 0 && !empty {
		srv.Load(3)
	}
	return c.Scan(ctx, st)
}

// Close stops the simulator.
func (s *simScanner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv.Close()
}

// Faults a person can trigger from the simulation page, each at a sheet of
// every job until cleared.
var faultNames = []string{"jam", "double-feed", "cover-open", "empty", "disconnect", "freeze", "busy", "stop", "page-too-long"}

// setFault puts fault into effect at sheet (1-based; 0 means 2), over the
// profile's own faults; "" or "clear" clears it.
func (s *simScanner) setFault(fault string, sheet int) error {
	if sheet <= 0 {
		sheet = 2
	}
	srv := s.Server()
	f := srv.Profile().Faults
	empty := false
	switch fault {
	case "", "clear":
		fault = ""
	case "jam":
		f.JamAtSheet = sheet
	case "double-feed":
		f.DoubleFeedAtSheet = sheet
	case "cover-open":
		f.CoverOpenAtSheet = sheet
	case "empty":
		empty = true
	case "disconnect":
		f.DisconnectAtSheet = sheet
	case "freeze":
		f.FreezeAtSheet = sheet
	case "busy":
		f.Busy503 = 1000 // more than any client waits for
	case "stop":
		f.StopAtSheet = sheet
	case "page-too-long":
		f.PageTooLongAtSheet = sheet
	default:
		return fmt.Errorf("unknown fault %q (have %v)", fault, faultNames)
	}
	srv.SetFaults(f)
	if empty {
		srv.Load(0)
	} else if fault == "" {
		srv.Load(3) // the person cleared the feeder and put paper back
	}
	s.mu.Lock()
	s.fault, s.empty = fault, empty
	s.mu.Unlock()
	s.log.Info("einwurf-sim: scanner fault", "fault", fault, "sheet", sheet)
	return nil
}

// scannerState is what the simulation page shows.
type scannerState struct {
	Profile     string            `json:"profile"`
	Description string            `json:"description"`
	Profiles    []string          `json:"profiles"`
	Faults      []string          `json:"faults"`
	Fault       string            `json:"fault"`
	Feeder      int               `json:"feeder"`
	Effective   scannersim.Faults `json:"effective"`
	About       map[string]string `json:"about"`
}

func (s *simScanner) state() scannerState {
	srv := s.Server()
	p := srv.Profile()
	about := map[string]string{}
	for _, n := range scannersim.Profiles() {
		if q, err := scannersim.LoadProfile(n); err == nil {
			about[n] = q.Description
		}
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	return scannerState{Profile: p.Name, Description: p.Description, Profiles: scannersim.Profiles(), Faults: faultNames,
		Fault: fault, Feeder: srv.Feeder(), Effective: srv.Faults(), About: about}
}

// scannerBody is a request of the simulation page: switch the profile,
// or trigger or clear a fault.
type scannerBody struct {
	Profile string `json:"profile,omitempty"`
	Fault   string `json:"fault,omitempty"`
	Sheet   int    `json:"sheet,omitempty"`
}

func (s *simulation) scannerState(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.scanner.state())
}

// driveScanner switches the scanner's profile or sets its fault, as the
// simulation page asks.
func (s *simulation) driveScanner(w http.ResponseWriter, r *http.Request) {
	var b scannerBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if b.Profile != "" {
		if !slices.Contains(scannersim.Profiles(), b.Profile) {
			http.Error(w, "unknown profile", http.StatusBadRequest)
			return
		}
		if err := s.scanner.switchProfile(b.Profile); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if b.Profile == "" || b.Fault != "" {
		if err := s.scanner.setFault(b.Fault, b.Sheet); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	s.scannerState(w, r)
}

// simPage serves the simulation page and its script.
func simPage(w http.ResponseWriter, r *http.Request) {
	name := "assets/scanner.html"
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Path == "/sim/scanner.js" {
		name = "assets/scanner.js"
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	data, err := assets.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(data)
}
