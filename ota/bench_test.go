package ota

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/internal/tuftest"
	"github.com/einwurf/einwurf/ota/tuf"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/blocks"
)

const benchSize = 50 << 20

// benchBundle is a bundle of about size bytes: VERSION and one big file of
// random bytes (seed picks them).
func benchBundle(version string, size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	data := make([]byte, size)
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "VERSION", Mode: 0o644, Size: int64(len(version)), Typeflag: tar.TypeReg})
	tw.Write([]byte(version))
	tw.WriteHeader(&tar.Header{Name: BundleBinary, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	return buf.Bytes()
}

// benchServer serves a repository with the bundle as target "b.tar" and
// counts the target bytes it sends; onBytes (if set) sees the running sum.
type benchServer struct {
	*httptest.Server
	repo    *tuftest.Repo
	sent    atomic.Int64
	onBytes func(total int64)
}

type countingWriter struct {
	http.ResponseWriter
	s *benchServer
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	t := c.s.sent.Add(int64(n))
	if c.s.onBytes != nil {
		c.s.onBytes(t)
	}
	return n, err
}

func newBenchServer(tb testing.TB, bundle []byte) *benchServer {
	s := &benchServer{repo: tuftest.New(tb, 1, 1, time.Now())}
	idx, _ := blocks.Build(bytes.NewReader(bundle), blocks.DefaultSize)
	s.repo.AddTarget("b.tar.blocks", idx.Marshal(), nil)
	s.repo.AddTarget("b.tar", bundle, Custom{Version: "2.0.0", Kind: KindBundle, Blocks: "b.tar.blocks"})
	s.repo.Publish()
	h := s.repo.Handler()
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) > 9 && r.URL.Path[:9] == "/targets/" {
			h.ServeHTTP(countingWriter{w, s}, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	return s
}

func (s *benchServer) targetURL() string {
	for p, b := range s.repo.TargetFiles {
		if len(b) > 1<<20 {
			return s.URL + "/targets/" + p
		}
	}
	return ""
}

// benchKiosk sets up application slots under dir with active bundle v1 in
// slot a and the repository's root trusted.
func benchKiosk(tb testing.TB, dir string, v1, root []byte) {
	if err := InstallFactory(durable.OS{}, dir, v1); err != nil {
		tb.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "tuf"), 0o755)
	if err := durable.WriteFile(durable.OS{}, filepath.Join(dir, "tuf", "root.json"), root); err != nil {
		tb.Fatal(err)
	}
}

// benchResult is what one install reports.
type benchResult struct {
	Phase   string
	Err     string
	Stats   DownloadStats
	Seconds float64
	// PeakRSS is the installer process's VmHWM (its own peak after exec;
	// wait4's ru_maxrss would count the parent's pages shared before exec).
	PeakRSS int64
	// Points counts the hook calls the run passed.
	Points int
}

// peakRSS reads this process's VmHWM.
func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// countingSource counts the payload bytes the installer has read into a
// file mapped in memory, so that the benchmark can read the count after
// killing the installer.
type countingSource struct {
	Source
	n *int64
}

func (c countingSource) Range(ctx context.Context, p string, off, n, total int64) (io.ReadCloser, error) {
	rc, err := c.Source.Range(ctx, p, off, n, total)
	if err != nil {
		return nil, err
	}
	return countingBody{rc, c.n}, nil
}

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}

// mapCounter maps an 8-byte counter file shared with the parent.
func mapCounter(path string) (*int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(8); err != nil {
		return nil, err
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return (*int64)(unsafe.Pointer(&m[0])), nil
}

// install runs the update of the kiosk under dir from the server at url
// up to the switch.
func install(dir, url string) benchResult {
	fsys := durable.OS{}
	start := time.Now()
	tc, err := tuf.New(fsys, filepath.Join(dir, "tuf"), tuf.HTTPFetcher{Base: url + "/metadata/"}, time.Now)
	if err != nil {
		return benchResult{Err: err.Error()}
	}
	var src Source = HTTPSource{Base: url + "/targets/"}
	if p := os.Getenv("OTA_BENCH_COUNTER"); p != "" {
		n, err := mapCounter(p)
		if err != nil {
			return benchResult{Err: err.Error()}
		}
		src = countingSource{src, n}
	}
	booted, version := "a", "1.0.0"
	if b := os.Getenv("OTA_BENCH_BOOTED"); b != "" {
		booted = b
		v, _ := os.ReadFile(filepath.Join(dir, "tree", b, "VERSION"))
		version = string(v)
	}
	// Hook points are counted; with OTA_KILL_AT=n the process kills
	// itself (SIGKILL) at point n (0-based).
	points, killAt := 0, -1
	if k := os.Getenv("OTA_KILL_AT"); k != "" {
		fmt.Sscanf(k, "%d", &killAt)
	}
	hook := func(string) error {
		if points++; killAt >= 0 && points > killAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		return nil
	}
	u, err := New(Config{FS: fsys, Dir: dir, Slots: AppSlots(fsys, dir), TUF: tc,
		Source: src, Booted: booted, Version: version, Hook: hook,
		Health: func(context.Context) error {
			if os.Getenv("OTA_UNHEALTHY") != "" {
				return errors.New("ui")
			}
			return nil
		},
		Restart: func() error { return nil }})
	if err != nil {
		return benchResult{Err: err.Error()}
	}
	if u.State().Phase == "" {
		err = u.Offer(context.Background(), wire.UpdateOffer{RolloutID: "r", Target: "b.tar", Version: "2.0.0", Kind: KindBundle})
	} else {
		err = u.Resume(context.Background())
	}
	r := benchResult{Phase: u.State().Phase, Stats: u.Stats, Seconds: time.Since(start).Seconds(), PeakRSS: peakRSS(), Points: points}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// TestInstallHelper is the installer process of the benchmarks (run by
// them with OTA_BENCH_DIR and OTA_BENCH_URL set): it installs and prints
// its result as JSON.
func TestInstallHelper(t *testing.T) {
	dir, url := os.Getenv("OTA_BENCH_DIR"), os.Getenv("OTA_BENCH_URL")
	if dir == "" {
		t.Skip("the benchmarks' installer process")
	}
	b, _ := json.Marshal(install(dir, url))
	fmt.Fprintf(os.Stdout, "RESULT %s\n", b)
}

// runInstaller runs the installer process; kill (if set) is called with
// a function that kills it.
func runInstaller(tb testing.TB, dir, url string, kill *func(), env ...string) (benchResult, bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestInstallHelper$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "OTA_BENCH_DIR="+dir, "OTA_BENCH_URL="+url), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	if kill != nil {
		*kill = func() { once.Do(func() { cmd.Process.Signal(syscall.SIGKILL) }) }
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		return benchResult{}, true // killed
	}
	i := bytes.Index(out.Bytes(), []byte("RESULT "))
	if i < 0 {
		tb.Fatalf("installer: %v\n%s", err, out.Bytes())
	}
	var r benchResult
	line := out.Bytes()[i+7:]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	json.Unmarshal(line, &r)
	return r, false
}

// BenchmarkInstall50MB installs a 50 MB bundle (nothing to reuse) from a
// loopback HTTP server, in its own process (offer to switch: TUF refresh,
// download, checks, fsyncs, unpacking), and compares with
// `curl URL | sha256sum > /dev/null` of the same bytes from the same
// server in the same run: ratio = curl time / install time, the median
// and the worst of the iterations (aim ≥ 0.9), peak RSS of the installer
// (aim ≤ 40 MB).
func BenchmarkInstall50MB(b *testing.B) {
	sh := testtool.NeedTool(b, "sh")
	testtool.NeedTool(b, "curl")
	testtool.NeedTool(b, "sha256sum")
	v1 := benchBundle("1.0.0", 1<<20, 1)
	v2 := benchBundle("2.0.0", benchSize, 2)
	srv := newBenchServer(b, v2)
	defer srv.Close()
	var inst, curl time.Duration
	var rss int64
	var ratios []float64
	curlOnce := func() time.Duration {
		t0 := time.Now()
		if out, err := exec.Command(sh, "-c", "curl -sf '"+srv.targetURL()+"' | sha256sum > /dev/null").CombinedOutput(); err != nil {
			b.Fatalf("curl: %v %s", err, out)
		}
		return time.Since(t0)
	}
	installOnce := func() time.Duration {
		dir := b.TempDir()
		benchKiosk(b, dir, v1, srv.repo.RootBytes())
		// The install's own time, measured inside the installer from the
		// offer to the switch (a kiosk's process is running already; the
		// start of the test binary is not part of an install).
		r, _ := runInstaller(b, dir, srv.URL, nil)
		if r.Phase != wire.UpdateSwitched || r.Err != "" {
			b.Fatalf("install ended %s: %s", r.Phase, r.Err)
		}
		rss = max(rss, r.PeakRSS)
		return time.Duration(r.Seconds * float64(time.Second))
	}
	for i := 0; i < b.N; i++ {
		// install, curl, curl, install: the machine's load drifts alike
		// for both.
		i1 := installOnce()
		c1, c2 := curlOnce(), curlOnce()
		i2 := installOnce()
		inst += i1 + i2
		curl += c1 + c2
		ratios = append(ratios, float64(c1+c2)/float64(i1+i2))
	}
	slices.Sort(ratios)
	n := float64(2 * b.N)
	b.ReportMetric(inst.Seconds()/n, "install-s")
	b.ReportMetric(curl.Seconds()/n, "curl-sha256sum-s")
	b.ReportMetric(ratios[len(ratios)/2], "ratio-median")
	b.ReportMetric(ratios[0], "ratio-min")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(benchSize)/(1<<20)/(inst.Seconds()/n), "MB/s")
}

// BenchmarkResumeAfterKill kills the installer (SIGKILL) when it has
// received half of the bundle, starts it again, and reports the bytes it
// had received but fetches again (aim ≤ one block), and the bytes the
// server sent twice (which adds what was in the sockets' buffers when the
// process died).
func BenchmarkResumeAfterKill(b *testing.B) {
	v1 := benchBundle("1.0.0", 1<<20, 1)
	v2 := benchBundle("2.0.0", benchSize, 2)
	srv := newBenchServer(b, v2)
	defer srv.Close()
	var again, serverAgain int64
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		benchKiosk(b, dir, v1, srv.repo.RootBytes())
		counter := filepath.Join(dir, "received")
		n, err := mapCounter(counter)
		if err != nil {
			b.Fatal(err)
		}
		srv.sent.Store(0)
		var kill func()
		done := make(chan struct{})
		go func() {
			for atomic.LoadInt64(n) < int64(len(v2))/2 {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
			kill()
		}()
		_, killed := runInstaller(b, dir, srv.URL, &kill, "OTA_BENCH_COUNTER="+counter)
		close(done)
		if !killed {
			b.Fatal("the installer was not killed")
		}
		received := atomic.LoadInt64(n)
		r, _ := runInstaller(b, dir, srv.URL, nil)
		if r.Phase != wire.UpdateSwitched || r.Err != "" {
			b.Fatalf("resumed install ended %s: %s", r.Phase, r.Err)
		}
		// What the first run received and the second did not find in the
		// slot (Kept counts the payload bytes found there, reused ones
		// from slot a aside).
		again += received - r.Stats.Kept
		serverAgain += srv.sent.Load() - (int64(len(v2)) - r.Stats.Reused)
	}
	b.ReportMetric(float64(again)/float64(b.N), "bytes-fetched-again")
	b.ReportMetric(float64(again)/float64(b.N)/float64(blocks.DefaultSize), "blocks-fetched-again")
	b.ReportMetric(float64(serverAgain)/float64(b.N), "server-bytes-sent-again")
}

// BenchmarkDelta5Percent installs a bundle that differs from the active
// one in 5 % of its blocks and reports the share of its bytes fetched
// (aim ≤ 10 %).
func BenchmarkDelta5Percent(b *testing.B) {
	v1 := benchBundle("1.0.0", benchSize, 2)
	v2 := append([]byte(nil), v1...)
	copy(v2[512:], "2.0.0") // in the first block (the VERSION file's data is there)
	n := len(v2) / blocks.DefaultSize
	r := rand.New(rand.NewPCG(9, 9))
	for _, i := range r.Perm(n)[:n*5/100] {
		v2[i*blocks.DefaultSize+100] ^= 0xff
	}
	srv := newBenchServer(b, v2)
	defer srv.Close()
	var share float64
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		benchKiosk(b, dir, v1, srv.repo.RootBytes())
		srv.sent.Store(0)
		res := install(dir, srv.URL)
		if res.Phase != wire.UpdateSwitched {
			// The changed tar is not a valid bundle for unpacking only if we
			// broke its headers; the blocks changed are inside the file data.
			b.Fatalf("install ended %s: %s", res.Phase, res.Err)
		}
		share += float64(srv.sent.Load()) / float64(len(v2))
	}
	b.ReportMetric(100*share/float64(b.N), "%-fetched")
}
