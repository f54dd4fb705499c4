package escl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/escl"
	"github.com/einwurf/einwurf/drivers/scanner/sim"
)

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startSim(t testing.TB, o sim.Options) *sim.Server {
	t.Helper()
	o.Logger = slog.New(slog.DiscardHandler)
	s, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fast retries keep fault tests quick.
var fast = escl.WithRetry(3, time.Millisecond, 5*time.Millisecond)

func TestDuplexScanFromSim(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 3, Duplex: true, Code: "035F083761", BlankBacks: []int{2}})
	c := escl.New(&http.Client{}, s.URL())
	ctx := ctxT(t, 60*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Source: scanner.SourceFeeder, Duplex: true, Resolution: 300, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var sizes []int
	for i := 0; ; i++ {
		p, err := j.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		data, err := io.ReadAll(p.Body)
		_ = p.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if p.Sheet != i/2+1 || p.Side != scanner.Side(i%2) {
			t.Errorf("page %d: sheet %d %v, want sheet %d side %v", i, p.Sheet, p.Side, i/2+1, scanner.Side(i%2))
		}
		if p.Format != scanner.FormatJPEG || p.Resolution != 300 {
			t.Errorf("page %d: %s at %d dpi", i, p.Format, p.Resolution)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || format != "jpeg" {
			t.Fatalf("page %d does not decode: %v", i, err)
		}
		if cfg.Width != 2480 || cfg.Height != 3508 || p.Width != cfg.Width || p.Height != cfg.Height {
			t.Errorf("page %d: %dx%d, header said %dx%d; want A4 at 300 dpi 2480x3508", i, cfg.Width, cfg.Height, p.Width, p.Height)
		}
		sizes = append(sizes, len(data))
	}
	if len(sizes) != 6 {
		t.Fatalf("%d pages, want 6", len(sizes))
	}
	// The blank back of sheet 2 compresses far better than printed pages.
	if sizes[3]*2 > sizes[2] {
		t.Errorf("blank back %d bytes, printed front %d bytes", sizes[3], sizes[2])
	}
	if _, err := j.Next(ctx); err != io.EOF {
		t.Errorf("Next after end: %v", err)
	}
	if s.Feeder() != 0 {
		t.Errorf("%d sheets left in feeder", s.Feeder())
	}
}

func TestCapabilitiesFromSim(t *testing.T) {
	s := startSim(t, sim.Options{Duplex: true, MakeAndModel: "Fujitsu fi-8170 <sim>"})
	c := escl.New(&http.Client{}, s.URL()+"/")
	caps, err := c.Capabilities(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if caps.MakeAndModel != "Fujitsu fi-8170 <sim>" || !caps.Duplex || caps.Serial != "SIM0001" {
		t.Errorf("caps %+v", caps)
	}
	if fmt.Sprint(caps.Resolutions) != "[150 200 300 600]" {
		t.Errorf("resolutions %v", caps.Resolutions)
	}
	if fmt.Sprint(caps.Sources) != "[Feeder]" || len(caps.ColorModes) != 3 || len(caps.Formats) != 3 {
		t.Errorf("sources %v modes %v formats %v", caps.Sources, caps.ColorModes, caps.Formats)
	}
	if caps.MaxWidth != 2550 || caps.MaxHeight != 4200 {
		t.Errorf("max size %dx%d", caps.MaxWidth, caps.MaxHeight)
	}
	st, err := c.Status(ctxT(t, 10*time.Second))
	if err != nil || st.State != scanner.StateIdle || !errors.Is(st.Err, scanner.ErrFeederEmpty) {
		t.Errorf("status %+v, %v", st, err)
	}
}

// drain reads pages until the job ends and returns how many came and the
// error that ended it (nil for a normal end).
func drain(ctx context.Context, j scanner.Job) (int, error) { return drainEach(ctx, j, nil) }

// drainEach is drain that hands each page's bytes to each (if not nil).
func drainEach(ctx context.Context, j scanner.Job, each func(n int, data []byte)) (int, error) {
	n := 0
	for {
		p, err := j.Next(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		data, err := io.ReadAll(p.Body)
		_ = p.Body.Close()
		if err != nil {
			return n, err
		}
		if each != nil {
			each(n, data)
		}
		n++
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         sim.Options
		retry     escl.Option
		scanErr   error // from Scan
		pages     int   // pages before the error
		err       error // from Next or the body
		canceled0 bool
	}{
		{name: "feeder empty", o: sim.Options{}, scanErr: scanner.ErrFeederEmpty},
		{name: "cover open", o: sim.Options{Sheets: 2, CoverOpen: true}, scanErr: scanner.ErrCoverOpen},
		{name: "jam 409", o: sim.Options{Sheets: 3, JamAtSheet: 2}, pages: 1, err: scanner.ErrJam},
		{name: "jam 404", o: sim.Options{Sheets: 3, JamAtSheet: 2, FaultStatus: 404}, pages: 1, err: scanner.ErrJam},
		{name: "jam first sheet 404", o: sim.Options{Sheets: 3, JamAtSheet: 1, FaultStatus: 404}, err: scanner.ErrJam},
		{name: "double feed", o: sim.Options{Sheets: 3, DoubleFeedAtSheet: 3}, pages: 2, err: scanner.ErrDoubleFeed},
		{name: "double feed 404", o: sim.Options{Sheets: 3, DoubleFeedAtSheet: 3, FaultStatus: 404}, pages: 2, err: scanner.ErrDoubleFeed},
		{name: "busy then fine", o: sim.Options{Sheets: 2, Busy503: 2}, pages: 2},
		{name: "busy for good", o: sim.Options{Sheets: 2, Busy503: 50}, err: scanner.ErrBusy},
		{name: "disconnect", o: sim.Options{Sheets: 2, DisconnectAtSheet: 2}, pages: 1, err: scanner.ErrOffline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Resolution = 150
			s := startSim(t, tc.o)
			c := escl.New(&http.Client{}, s.URL(), fast)
			ctx := ctxT(t, 30*time.Second)
			j, err := c.Scan(ctx, scanner.Settings{Resolution: 150, ColorMode: scanner.ColorGrayscale8})
			if tc.scanErr != nil {
				if !errors.Is(err, tc.scanErr) {
					t.Fatalf("Scan: %v, want %v", err, tc.scanErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			n, err := drain(ctx, j)
			if n != tc.pages {
				t.Errorf("%d pages, want %d", n, tc.pages)
			}
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}

// TestJamClearedByLoad checks the jam persists on the device until the
// feeder is reloaded, and the client explains it before starting.
func TestJamClearedByLoad(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 2, JamAtSheet: 1, Resolution: 150})
	c := escl.New(&http.Client{}, s.URL(), fast)
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(ctx, j); !errors.Is(err, scanner.ErrJam) {
		t.Fatalf("first job: %v", err)
	}
	_ = j.Close()
	if st, err := c.Status(ctx); err != nil || !errors.Is(st.Err, scanner.ErrJam) {
		t.Fatalf("status after jam: %+v %v", st, err)
	}
	if _, err := c.Scan(ctx, scanner.Settings{Resolution: 150}); !errors.Is(err, scanner.ErrJam) {
		t.Fatalf("scan while jammed: %v", err)
	}
	s.Load(1)
	j, err = c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// The simulator jams at sheet 1 of every job: proof the fault is
	// reported per job, not remembered by the client.
	if _, err := drain(ctx, j); !errors.Is(err, scanner.ErrJam) {
		t.Fatalf("second job: %v", err)
	}
}

func TestBusyWithOtherJob(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 2, Resolution: 150})
	c := escl.New(&http.Client{}, s.URL(), fast)
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := c.Scan(ctx, scanner.Settings{Resolution: 150}); !errors.Is(err, scanner.ErrBusy) {
		t.Fatalf("second Scan: %v, want ErrBusy", err)
	}
}

func TestCancelByContext(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 2, Resolution: 150, PageDelay: 10 * time.Second})
	c := escl.New(&http.Client{}, s.URL())
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := j.Next(nctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v", err)
	}
	if s.Canceled() != 1 {
		t.Errorf("device saw %d cancellations, want 1", s.Canceled())
	}
	if err := j.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
	if s.Canceled() != 1 {
		t.Errorf("device saw %d cancellations after Close, want still 1", s.Canceled())
	}
}

func TestCloseCancelsJob(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 5, Resolution: 150})
	c := escl.New(&http.Client{}, s.URL())
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Close with the page body still open: Close must close it too.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Body.Read(make([]byte, 10)); err == nil {
		// Reading a closed body may succeed from buffer; what matters is
		// that it ends.
		_, _ = io.Copy(io.Discard, p.Body)
	}
	if s.Canceled() != 1 {
		t.Errorf("device saw %d cancellations, want 1", s.Canceled())
	}
	if _, err := j.Next(ctx); !errors.Is(err, scanner.ErrClosed) {
		t.Errorf("Next after Close: %v, want ErrClosed", err)
	}
	st, err := c.RawStatus(ctx)
	if err != nil || len(st.Jobs) != 1 || st.Jobs[0].JobState != "Canceled" {
		t.Errorf("status after cancel: %+v %v", st, err)
	}
}

// TestCloseInterruptsNext closes the job from another goroutine while Next
// waits for a slow device.
func TestCloseInterruptsNext(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 2, Resolution: 150, PageDelay: 20 * time.Second})
	c := escl.New(&http.Client{}, s.URL())
	ctx := ctxT(t, 30*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{Resolution: 150})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	time.AfterFunc(100*time.Millisecond, func() { closed <- j.Close() })
	done := make(chan error, 1)
	go func() { _, err := j.Next(ctx); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, scanner.ErrClosed) {
			t.Fatalf("Next interrupted by Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still waiting after Close")
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if s.Canceled() != 1 {
		t.Errorf("device saw %d cancellations, want 1", s.Canceled())
	}
}

func TestUnsupportedSettings(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 1})
	c := escl.New(&http.Client{}, s.URL())
	ctx := ctxT(t, 10*time.Second)
	for _, st := range []scanner.Settings{
		{Resolution: 1200},
		{Source: scanner.SourcePlaten},
		{ColorMode: "CMYK32"},
		{Format: "image/tiff"},
		{Duplex: true}, // the device has no duplex unit
	} {
		if _, err := c.Scan(ctx, st); !errors.Is(err, scanner.ErrUnsupported) {
			t.Errorf("Scan(%+v): %v, want ErrUnsupported", st, err)
		}
	}
	if s.Feeder() != 1 {
		t.Error("a refused scan touched the feeder")
	}
}

func TestFormatsFromSim(t *testing.T) {
	s := startSim(t, sim.Options{Sheets: 3, Resolution: 150})
	c := escl.New(&http.Client{}, s.URL())
	ctx := ctxT(t, 30*time.Second)
	for _, tc := range []struct {
		mode   scanner.ColorMode
		format string
		magic  string
	}{
		{scanner.ColorBlackWhite, scanner.FormatPNG, "\x89PNG"},
		{scanner.ColorGrayscale8, scanner.FormatPDF, "%PDF-"},
		{scanner.ColorBlackWhite, scanner.FormatJPEG, "\xff\xd8"},
	} {
		s.Load(1)
		j, err := c.Scan(ctx, scanner.Settings{Resolution: 150, ColorMode: tc.mode, Format: tc.format})
		if err != nil {
			t.Fatal(err)
		}
		p, err := j.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(p.Body)
		_ = p.Body.Close()
		_ = j.Close()
		if err != nil || !strings.HasPrefix(string(data), tc.magic) || p.Format != tc.format {
			t.Errorf("%s %s: format %s, starts %q, %v", tc.mode, tc.format, p.Format, data[:min(8, len(data))], err)
		}
		if tc.format == scanner.FormatPNG && (p.Width != 1240 || p.Height != 1754) {
			t.Errorf("PNG size %dx%d", p.Width, p.Height)
		}
	}
}

func TestBadBaseURL(t *testing.T) {
	for _, base := range []string{"", "ftp://x/eSCL", "http://", "http://[::1"} {
		c := escl.New(nil, base)
		if _, err := c.Capabilities(context.Background()); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
}

// TestSettingsRoundTrip renders settings with MarshalSettings and reads
// them back with the simulator's device-side parser.
func TestSettingsRoundTrip(t *testing.T) {
	for _, in := range []scanner.Settings{
		{Source: scanner.SourceFeeder, Duplex: true, Resolution: 300, ColorMode: scanner.ColorRGB24, Format: scanner.FormatJPEG},
		{Source: scanner.SourceFeeder, Resolution: 600, ColorMode: scanner.ColorBlackWhite, Format: scanner.FormatPDF},
		{Source: scanner.SourcePlaten, Resolution: 150, ColorMode: scanner.ColorGrayscale8, Format: scanner.FormatPNG},
	} {
		for _, ext := range []bool{false, true} {
			doc, err := escl.MarshalSettings(in, 2480, 3508, ext)
			if err != nil {
				t.Fatal(err)
			}
			out, err := sim.ParseSettings(bytes.NewReader(doc))
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			if out.Source != string(in.Source) || out.Duplex != in.Duplex || out.Resolution != in.Resolution ||
				out.ColorMode != string(in.ColorMode) || out.Format != in.Format {
				t.Errorf("round trip %+v -> %+v", in, out)
			}
			if !bytes.Contains(doc, []byte(`xmlns:pwg="`+escl.NSPWG+`"`)) || !bytes.Contains(doc, []byte("<pwg:InputSource>")) {
				t.Errorf("namespaces missing: %s", doc)
			}
		}
	}
}

// quirkDevice is a scripted eSCL device for the quirk tests.
type quirkDevice struct {
	model, manufacturer, server string
	location                    string // Location answer of ScanJobs
	adf                         string // AdfState
	pages                       int
	busy                        int  // 503s before each page
	cutJobBody                  bool // drop connection after ScanJobs headers
	pageDelay                   time.Duration
	state                       string // pwg:State (default Idle)
	jobState                    string // JobState of job 1 in the status ("" = not listed)
	early404                    int    // 404s before the second page
	statusDelay                 time.Duration

	mu       sync.Mutex
	hosts    map[string]string // path -> Host seen
	posts    int
	served   int
	busyLeft int
	loads    []time.Time
}

const quirkCaps = `<?xml version="1.0"?><scan:ScannerCapabilities xmlns:scan="http://schemas.hp.com/imaging/escl/2011/05/03" xmlns:pwg="http://www.pwg.org/schemas/2010/12/sm">
<pwg:MakeAndModel>%s</pwg:MakeAndModel><scan:Manufacturer>%s</scan:Manufacturer>
<scan:Adf><scan:AdfSimplexInputCaps><scan:MaxWidth>2550</scan:MaxWidth><scan:MaxHeight>4200</scan:MaxHeight>
<scan:SettingProfiles><scan:SettingProfile><scan:ColorModes><scan:ColorMode>RGB24</scan:ColorMode></scan:ColorModes>
<scan:DocumentFormats><pwg:DocumentFormat>image/jpeg</pwg:DocumentFormat></scan:DocumentFormats>
<scan:SupportedResolutions><scan:DiscreteResolutions>
<scan:DiscreteResolution><scan:XResolution>300</scan:XResolution><scan:YResolution>300</scan:YResolution></scan:DiscreteResolution>
<scan:DiscreteResolution><scan:XResolution>600</scan:XResolution><scan:YResolution>600</scan:YResolution></scan:DiscreteResolution>
</scan:DiscreteResolutions></scan:SupportedResolutions></scan:SettingProfile></scan:SettingProfiles></scan:AdfSimplexInputCaps></scan:Adf>
</scan:ScannerCapabilities>`

func (d *quirkDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	if d.hosts == nil {
		d.hosts = map[string]string{}
	}
	d.hosts[r.Method+" "+r.URL.Path] = r.Host
	d.mu.Unlock()
	if d.server != "" {
		w.Header().Set("Server", d.server)
	}
	switch {
	case r.URL.Path == "/eSCL/ScannerCapabilities":
		fmt.Fprintf(w, quirkCaps, d.model, d.manufacturer)
	case r.URL.Path == "/eSCL/ScannerStatus":
		select {
		case <-time.After(d.statusDelay):
		case <-r.Context().Done():
			return
		}
		state, jobs := d.state, ""
		if state == "" {
			state = "Idle"
		}
		if d.jobState != "" {
			jobs = `<scan:Jobs><scan:JobInfo><pwg:JobUri>/eSCL/ScanJobs/1</pwg:JobUri><pwg:JobState>` + d.jobState + `</pwg:JobState></scan:JobInfo></scan:Jobs>`
		}
		fmt.Fprintf(w, `<scan:ScannerStatus xmlns:scan="%s" xmlns:pwg="%s"><pwg:State>%s</pwg:State><scan:AdfState>%s</scan:AdfState>%s</scan:ScannerStatus>`, escl.NSScan, escl.NSPWG, state, d.adf, jobs)
	case r.Method == http.MethodPost && r.URL.Path == "/eSCL/ScanJobs":
		d.mu.Lock()
		d.posts++
		d.mu.Unlock()
		w.Header().Set("Location", d.location)
		if d.cutJobBody {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = c.Close()
			}
			return
		}
		w.WriteHeader(http.StatusCreated)
	case strings.HasSuffix(r.URL.Path, "/NextDocument"):
		d.mu.Lock()
		d.loads = append(d.loads, time.Now())
		if d.busyLeft > 0 {
			d.busyLeft--
			d.mu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		d.busyLeft = d.busy
		if d.served == 1 && d.early404 > 0 {
			d.early404--
			d.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		if d.served >= d.pages {
			d.mu.Unlock()
			http.NotFound(w, r)
			return
		}
		d.served++
		d.mu.Unlock()
		time.Sleep(d.pageDelay)
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write([]byte{0xFF, 0xD8, 0xFF, 0xD9})
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

func TestQuirkHostLocalhost(t *testing.T) {
	for _, d := range []*quirkDevice{
		{model: "HP LaserJet MFP M630"},
		{model: "HP OfficeJet 8010", server: "HP_Compact_Server"},
	} {
		d.location, d.pages, d.adf = "http://localhost/eSCL/ScanJobs/7", 1, "ScannerAdfLoaded"
		srv := httptest.NewServer(d)
		c := escl.New(srv.Client(), srv.URL+"/eSCL")
		ctx := ctxT(t, 10*time.Second)
		j, err := c.Scan(ctx, scanner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := drain(ctx, j)
		_ = j.Close()
		srv.Close()
		if n != 1 || err != nil {
			t.Fatalf("%s: %d pages, %v (Location must be rewritten to the device)", d.model, n, err)
		}
		if h := d.hosts["POST /eSCL/ScanJobs"]; h != "localhost" {
			t.Errorf("%s: ScanJobs sent with Host %q, want localhost", d.model, h)
		}
		if h := d.hosts["GET /eSCL/ScanJobs/7/NextDocument"]; h == "localhost" {
			t.Errorf("%s: NextDocument sent with Host localhost", d.model)
		}
	}
}

// handlerTransport serves requests with a handler in-process, so tests can
// use base URLs without a port.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestQuirkPortInHost(t *testing.T) {
	for _, tc := range []struct {
		model, manufacturer, want string
	}{
		{"EPSON ET-4850 Series", "", "scanner.local:80"},
		{"ET-4850", "EPSON", "scanner.local:80"},
		{"Brother ADS-4700W", "Brother", "scanner.local"},
	} {
		d := &quirkDevice{model: tc.model, manufacturer: tc.manufacturer, location: "/eSCL/ScanJobs/1", adf: "ScannerAdfLoaded", pages: 1}
		c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL")
		ctx := ctxT(t, 10*time.Second)
		j, err := c.Scan(ctx, scanner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		_ = j.Close()
		if h := d.hosts["POST /eSCL/ScanJobs"]; h != tc.want {
			t.Errorf("%s: Host %q, want %q", tc.model, h, tc.want)
		}
	}
}

func TestQuirkPrecheckFeeder(t *testing.T) {
	d := &quirkDevice{model: "MF410 Series", adf: "ScannerAdfEmpty", location: "/eSCL/ScanJobs/1"}
	c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL")
	if _, err := c.Scan(ctxT(t, 10*time.Second), scanner.Settings{}); !errors.Is(err, scanner.ErrFeederEmpty) {
		t.Fatalf("Scan: %v, want ErrFeederEmpty", err)
	}
	if d.posts != 0 {
		t.Error("posted a job to an empty feeder of a device that jams on it")
	}
}

func TestQuirkMaxResolution(t *testing.T) {
	d := &quirkDevice{model: "Canon iR2625/2630", adf: "ScannerAdfLoaded", location: "/eSCL/ScanJobs/1"}
	c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL")
	ctx := ctxT(t, 10*time.Second)
	caps, err := c.Capabilities(ctx)
	if err != nil || fmt.Sprint(caps.Resolutions) != "[300]" {
		t.Fatalf("resolutions %v, %v; want [300]", caps.Resolutions, err)
	}
	if _, err := c.Scan(ctx, scanner.Settings{Resolution: 600}); !errors.Is(err, scanner.ErrUnsupported) {
		t.Fatalf("Scan at 600: %v", err)
	}
}

func TestQuirkNextDocumentDelay(t *testing.T) {
	d := &quirkDevice{model: "Brother MFC-L2710DW series", adf: "ScannerAdfLoaded", location: "/eSCL/ScanJobs/1", pages: 3, pageDelay: 200 * time.Millisecond}
	srv := httptest.NewServer(d)
	defer srv.Close()
	c := escl.New(srv.Client(), srv.URL+"/eSCL")
	ctx := ctxT(t, 20*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if n, err := drain(ctx, j); n != 3 || err != nil {
		t.Fatalf("%d pages, %v", n, err)
	}
	// Each load took >= 200 ms, so the client must wait >= 100 ms between
	// the end of one and the start of the next; the gap between starts is
	// then at least 300 ms.
	for i := 1; i < len(d.loads); i++ {
		if gap := d.loads[i].Sub(d.loads[i-1]); gap < 300*time.Millisecond {
			t.Errorf("load %d started %v after the previous one", i, gap)
		}
	}
}

func TestQuirkRetries503(t *testing.T) {
	for _, tc := range []struct {
		model string
		ok    bool
	}{{"HP LaserJet MFP M28w", true}, {"HP LaserJet MFP M140w", false}} {
		d := &quirkDevice{model: tc.model, adf: "ScannerAdfLoaded", location: "/eSCL/ScanJobs/1", pages: 1, busy: 20}
		d.busyLeft = 20
		c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL", escl.WithRetry(10, time.Microsecond, time.Microsecond))
		ctx := ctxT(t, 10*time.Second)
		j, err := c.Scan(ctx, scanner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = j.Next(ctx)
		_ = j.Close()
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, scanner.ErrBusy) {
			t.Errorf("%s: %v", tc.model, err)
		}
	}
}

// TestJobBodyDropped: a device that drops the connection after the
// ScanJobs headers (Kyocera ECOSYS M6526cdn) still starts a job.
func TestJobBodyDropped(t *testing.T) {
	for _, tc := range []struct {
		model string
	}{{"Kyocera ECOSYS M6526cdn"}, {"Other Device"}} {
		d := &quirkDevice{model: tc.model, adf: "ScannerAdfLoaded", location: "/eSCL/ScanJobs/1", pages: 1, cutJobBody: true}
		srv := httptest.NewServer(d)
		c := escl.New(srv.Client(), srv.URL+"/eSCL")
		j, err := c.Scan(ctxT(t, 10*time.Second), scanner.Settings{})
		srv.Close()
		if err != nil {
			t.Errorf("%s: %v", tc.model, err)
			continue
		}
		_ = j.Close()
	}
}

func TestQuirksFor(t *testing.T) {
	rules := escl.KnownQuirks()
	for _, tc := range []struct {
		model, manufacturer, server string
		want                        escl.Quirks
	}{
		{"HP LaserJet MFP M630", "HP", "", escl.Quirks{HostLocalhost: true}},
		{"hp laserjet mfp m630", "", "", escl.Quirks{HostLocalhost: true}},
		{"HP Smart Tank", "HP", "HP_Compact_Server", escl.Quirks{HostLocalhost: true}},
		{"EPSON XP-7100 Series", "EPSON", "", escl.Quirks{PortInHost: true}},
		{"Kyocera ECOSYS M6526cdn", "Kyocera", "", escl.Quirks{AdfProcessingIsEmpty: true}},
		{"Fujitsu fi-8170", "Fujitsu", "", escl.Quirks{}},
		{"", "", "", escl.Quirks{}},
	} {
		if got := escl.QuirksFor(rules, tc.model, tc.manufacturer, tc.server); got != tc.want {
			t.Errorf("QuirksFor(%q, %q, %q) = %+v, want %+v", tc.model, tc.manufacturer, tc.server, got, tc.want)
		}
	}
	rules[0].Quirks.PortInHost = true
	if escl.KnownQuirks()[0].Quirks.PortInHost {
		t.Error("KnownQuirks shares its table with callers")
	}
}

func TestWithQuirksForces(t *testing.T) {
	d := &quirkDevice{model: "Anything", adf: "ScannerAdfLoaded", location: "/eSCL/ScanJobs/1", pages: 1}
	c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL", escl.WithQuirks(escl.Quirks{HostLocalhost: true}))
	j, err := c.Scan(ctxT(t, 10*time.Second), scanner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	if h := d.hosts["POST /eSCL/ScanJobs"]; h != "localhost" {
		t.Errorf("Host %q", h)
	}
}

// TestEarly404 is a device that answers 404 before it has fed the next
// sheet while its status still shows the job processing with paper in the
// feeder: the client asks again, a bounded number of times.
func TestEarly404(t *testing.T) {
	for _, tc := range []struct {
		model, jobState string
		early, want     int
	}{
		{"Brother MFC-L2750DW", "Processing", 2, 3},
		{"Brother MFC-L2750DW", "Processing", 10, 1},
		// Xerox B215 answers 404 while a page is on its way, with nothing
		// in its status to say so: without its quirk the job would end
		// there, pages left in the feeder.
		{"B215", "", 5, 3},
		{"Other", "", 5, 1},
	} {
		d := &quirkDevice{model: tc.model, adf: "ScannerAdfLoaded", jobState: tc.jobState, location: "/eSCL/ScanJobs/1", pages: 3, early404: tc.early}
		c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL", escl.WithRetry(10, time.Millisecond, 5*time.Millisecond))
		ctx := ctxT(t, 10*time.Second)
		j, err := c.Scan(ctx, scanner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := drain(ctx, j)
		_ = j.Close()
		if n != tc.want || err != nil {
			t.Errorf("%s, %d early 404s: %d pages, %v; want %d pages", tc.model, tc.early, n, err, tc.want)
		}
	}
}

func TestQuirkAdfProcessingIsEmpty(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  error
	}{{"Kyocera ECOSYS M2040dn", scanner.ErrFeederEmpty}, {"Other Device", nil}} {
		d := &quirkDevice{model: tc.model, manufacturer: "Kyocera", adf: "ScannerAdfProcessing"}
		if tc.want == nil {
			d.manufacturer = "Other"
		}
		c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL")
		ctx := ctxT(t, 10*time.Second)
		if _, err := c.Capabilities(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := c.Status(ctx)
		if err != nil || st.Err != tc.want {
			t.Errorf("%s: status %+v %v, want Err %v", tc.model, st, err, tc.want)
		}
	}
}

// TestCancelWhileExplaining cancels while the client asks the status why
// the device answered 404: that is a cancellation (the job is deleted), not
// the end of the job.
func TestCancelWhileExplaining(t *testing.T) {
	d := &quirkDevice{model: "Slow Status", adf: "ScannerAdfLoaded", location: "/eSCL/ScanJobs/1", pages: 1, statusDelay: 20 * time.Second}
	c := escl.New(&http.Client{Transport: handlerTransport{d}}, "http://scanner.local/eSCL")
	ctx := ctxT(t, 10*time.Second)
	j, err := c.Scan(ctx, scanner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	p, err := j.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Body.Close()
	nctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := j.Next(nctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v, want the deadline, not an end", err)
	}
	d.mu.Lock()
	_, deleted := d.hosts["DELETE /eSCL/ScanJobs/1"]
	d.mu.Unlock()
	if !deleted {
		t.Error("job not deleted on the device")
	}
}
