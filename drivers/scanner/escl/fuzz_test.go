package escl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
)

// answerDevice is a device whose answers a fuzz target chooses: the
// headers of ScanJobs and of the first NextDocument, the body of that
// page, what later NextDocument requests get, the status document, and
// whether the connection drops (no answer at all) on the second.
type answerDevice struct {
	server, location string
	code1, code2     int
	ctype            string
	body, status     []byte
	drop             bool

	mu      sync.Mutex
	nexts   int
	hosts   []string
	paths   []string
	dropped bool
}

// errNoAnswer is what a transport returns for a connection dropped
// without an answer; http.Client wraps it in a *url.Error.
var errNoAnswer = io.EOF

func (d *answerDevice) RoundTrip(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	d.hosts = append(d.hosts, r.URL.Host)
	d.paths = append(d.paths, r.URL.Path)
	next := strings.HasSuffix(r.URL.Path, "/NextDocument")
	if next {
		d.nexts++
	}
	n := d.nexts
	if next && n >= 2 && d.drop {
		d.dropped = true
		d.mu.Unlock()
		return nil, errNoAnswer
	}
	d.mu.Unlock()
	rec := httptest.NewRecorder()
	if d.server != "" {
		rec.Header().Set("Server", d.server)
	}
	switch {
	case r.URL.Path == "/eSCL/ScannerCapabilities":
		fmt.Fprintf(rec, quirkCaps, "Fuzz Device", "Fuzz")
	case r.URL.Path == "/eSCL/ScannerStatus":
		_, _ = rec.Write(d.status)
	case r.Method == http.MethodPost:
		rec.Header().Set("Location", d.location)
		rec.WriteHeader(http.StatusCreated)
	case next && n == 1:
		rec.Header().Set("Content-Type", d.ctype)
		rec.WriteHeader(d.code1)
		_, _ = rec.Write(d.body)
	case next:
		rec.WriteHeader(d.code2)
	default:
		rec.WriteHeader(http.StatusOK)
	}
	return rec.Result(), nil
}

// clampCode makes a fuzzed number an HTTP status code net/http accepts.
func clampCode(c int) int {
	if c < 100 || c > 599 {
		return 200 + (c%400+400)%400
	}
	return c
}

const fuzzStatus = `<scan:ScannerStatus xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm"><pwg:State>%s</pwg:State><scan:AdfState>%s</scan:AdfState><scan:Jobs><scan:JobInfo><pwg:JobUri>/eSCL/ScanJobs/1</pwg:JobUri><pwg:JobState>%s</pwg:JobState><pwg:JobStateReasons><pwg:JobStateReason>%s</pwg:JobStateReason></pwg:JobStateReasons></scan:JobInfo></scan:Jobs></scan:ScannerStatus>`

// runJob scans from d and reads up to a few pages, checking the
// invariants every answer must keep: no empty or non-image page handed
// out, no transport failure read as the end of the job, every error typed.
func runJob(t *testing.T, d *answerDevice) {
	t.Helper()
	c := escl.New(&http.Client{Transport: d}, "http://scanner.local/eSCL",
		escl.WithRetry(2, time.Microsecond, time.Microsecond), escl.WithQuirkRules(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 300})
	if err != nil {
		if scanner.Kind(err) == nil {
			t.Fatalf("Scan: untyped error %v", err)
		}
		return
	}
	defer j.Close()
	for i := 0; i < 4; i++ {
		p, err := j.Next(ctx)
		if scanner.IsEnd(err) {
			d.mu.Lock()
			dropped := d.dropped
			d.mu.Unlock()
			if dropped {
				t.Fatalf("a dropped connection ended the job as finished (%v)", err)
			}
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatalf("error %v satisfies errors.Is(err, io.EOF)", err)
			}
			if scanner.Kind(err) == nil {
				t.Fatalf("Next: untyped error %v", err)
			}
			return
		}
		data, err := io.ReadAll(p.Body)
		_ = p.Body.Close()
		if err != nil {
			return
		}
		if len(data) == 0 {
			t.Fatal("an empty page was handed out")
		}
		ok := bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}) && p.Format == scanner.FormatJPEG ||
			bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) && p.Format == scanner.FormatPNG ||
			bytes.HasPrefix(data, []byte("%PDF-")) && p.Format == scanner.FormatPDF
		if !ok {
			t.Fatalf("page of %d bytes as %q is no image of that format: %q", len(data), p.Format, data[:min(len(data), 8)])
		}
	}
}

// FuzzJobAnswer drives a job through every answer a device may give: the
// status code, Content-Type and body of a page, what comes after it, the
// status document, a dropped connection.
func FuzzJobAnswer(f *testing.F) {
	jpeg := []byte{0xFF, 0xD8, 0xFF, 0xD9}
	st := func(state, adf, job, reason string) []byte {
		return []byte(fmt.Sprintf(fuzzStatus, state, adf, job, reason))
	}
	f.Add(200, "image/jpeg", jpeg, 404, st("Idle", "ScannerAdfEmpty", "Completed", "JobCompletedSuccessfully"), false)
	f.Add(200, "image/jpeg", jpeg, 409, st("Idle", "ScannerAdfEmpty", "Completed", ""), false)
	f.Add(200, "image/jpeg", []byte{}, 404, st("Idle", "ScannerAdfDoorOpen", "Aborted", "ResourcesAreNotReady"), false)
	f.Add(200, "image/jpeg", jpeg, 404, st("Idle", "ScannerAdfLoaded", "Aborted", "Whatever"), false)
	f.Add(200, "application/pdf", []byte("%PDF-1.4"), 503, []byte("<x/>"), true)
	f.Add(200, "image/png", []byte("not a png"), 410, st("Processing", "ScannerAdfLoaded", "Processing", ""), false)
	f.Add(409, "text/plain", []byte("conflict"), 404, st("Idle", "ScannerAdfJam", "Aborted", "AdfJam"), false)
	f.Add(200, "image/jpeg", jpeg, 200, st("Idle", "ScannerAdfLoaded", "Processing", ""), true)
	f.Fuzz(func(t *testing.T, code1 int, ctype string, body []byte, code2 int, status []byte, drop bool) {
		if len(body) > 1<<16 || len(status) > 1<<16 || len(ctype) > 256 {
			return
		}
		runJob(t, &answerDevice{location: "/eSCL/ScanJobs/1", code1: clampCode(code1), code2: clampCode(code2),
			ctype: ctype, body: body, status: status, drop: drop})
	})
}

// FuzzLocation: whatever the device names in Location, the job's requests
// go to the device the client was given, and a bad one is a typed error.
func FuzzLocation(f *testing.F) {
	for _, s := range []string{"/eSCL/ScanJobs/1", "http://localhost/eSCL/ScanJobs/1/", "ScanJobs/1", "http://[::1]:80/eSCL/ScanJobs/1",
		"https://evil.example/x", "//other.host/eSCL/ScanJobs/1", "%zz", "", " ", "http://user:pw@h/ScanJobs/1?q=1#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		if len(loc) > 2048 {
			return
		}
		d := &answerDevice{location: loc, code1: 200, ctype: "image/jpeg", body: []byte{0xFF, 0xD8, 0xFF, 0xD9}, code2: 404,
			status: []byte(fmt.Sprintf(fuzzStatus, "Idle", "ScannerAdfEmpty", "Completed", ""))}
		runJob(t, d)
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, h := range d.hosts {
			if h != "scanner.local" {
				t.Fatalf("request %s went to host %q after Location %q", d.paths[i], h, loc)
			}
		}
	})
}

// FuzzContentType: a page's format is what its body is, whatever its
// Content-Type says; a body that is no image is no page.
func FuzzContentType(f *testing.F) {
	for _, s := range []string{"image/jpeg", "image/png; charset=x", "application/pdf", "", "text/html", "image/jpeg;;;", "IMAGE/JPEG", "\x00"} {
		f.Add(s, []byte{0xFF, 0xD8, 0xFF, 0xE0})
		f.Add(s, []byte("%PDF-1.7"))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		if len(body) > 1<<16 || len(ctype) > 1024 {
			return
		}
		runJob(t, &answerDevice{location: "/eSCL/ScanJobs/1", code1: 200, ctype: ctype, body: body, code2: 404,
			status: []byte(fmt.Sprintf(fuzzStatus, "Idle", "ScannerAdfEmpty", "Completed", ""))})
	})
}

// FuzzServer: no Server header breaks the capabilities or the quirk
// matching, and only a rule naming that exact header matches it.
func FuzzServer(f *testing.F) {
	for _, s := range []string{"HP_Compact_Server", "", "gSOAP/2.8", "Brother \x00", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, server string) {
		if len(server) > 4096 {
			return
		}
		d := &answerDevice{server: server}
		c := escl.New(&http.Client{Transport: d}, "http://scanner.local/eSCL")
		_, q, err := c.RawCapabilities(context.Background())
		if err != nil {
			t.Fatalf("capabilities with Server %q: %v", server, err)
		}
		want := escl.QuirksOf(escl.KnownQuirks(), escl.Identity{Model: "Fuzz Device", Manufacturer: "Fuzz", Server: server})
		if q != want {
			t.Fatalf("quirks %+v, want %+v", q, want)
		}
	})
}
