package loadtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/monitor"
	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/postgres"
	"github.com/einwurf/einwurf/central/store/postgres/pgtest"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
)

// Sizes of the load benchmarks: sane for a 2-core machine by default,
// larger with the environment (EINWURF_BENCH_KIOSKS=2000 for a fleet).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// counting wraps the central's store: it counts write transactions and
// measures, for telemetry and events, the time from the kiosk's publish
// (the message's own time) to the store holding it, which is what the
// dashboard shows.
type counting struct {
	store.Store
	writes atomic.Int64
	tele   atomic.Int64
	events atomic.Int64
	mu     sync.Mutex
	last   map[string]time.Time // kiosk → newest telemetry time stored
	lat    []time.Duration
}

func newCounting(s store.Store) *counting { return &counting{Store: s, last: map[string]time.Time{}} }

func (c *counting) took(at time.Time) {
	d := time.Since(at)
	c.mu.Lock()
	c.lat = append(c.lat, d)
	c.mu.Unlock()
}

// window returns and resets the latencies measured since the last call.
func (c *counting) window() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lat
	c.lat = nil
	return l
}

func (c *counting) PutKiosk(ctx context.Context, k store.KioskState) error {
	err := c.Store.PutKiosk(ctx, k)
	c.writes.Add(1)
	if err != nil || len(k.Telemetry) == 0 {
		return err
	}
	var t struct{ Time time.Time }
	if json.Unmarshal(k.Telemetry, &t) == nil {
		c.mu.Lock()
		newer := t.Time.After(c.last[k.KioskID])
		if newer {
			c.last[k.KioskID] = t.Time
		}
		c.mu.Unlock()
		if newer {
			c.tele.Add(1)
			c.took(t.Time)
		}
	}
	return nil
}

func (c *counting) PutKiosks(ctx context.Context, ks []store.KioskState) error {
	c.writes.Add(1)
	return c.Store.PutKiosks(ctx, ks)
}

func (c *counting) AddEvent(ctx context.Context, kioskID string, at time.Time, code, severity string, event []byte) error {
	err := c.Store.AddEvent(ctx, kioskID, at, code, severity, event)
	c.writes.Add(1)
	if err == nil {
		c.events.Add(1)
		c.took(at)
	}
	return err
}

func (c *counting) AddSamples(ctx context.Context, s []store.Sample) error {
	c.writes.Add(1)
	return c.Store.AddSamples(ctx, s)
}

func (c *counting) RaiseAlarm(ctx context.Context, a store.Alarm) (store.Alarm, error) {
	c.writes.Add(1)
	return c.Store.RaiseAlarm(ctx, a)
}

func (c *counting) ClearAlarm(ctx context.Context, id int64, at time.Time) error {
	c.writes.Add(1)
	return c.Store.ClearAlarm(ctx, id, at)
}

func (c *counting) Claim(ctx context.Context, kioskID, packetID, owner string, lease time.Duration) (*store.FiledPacket, error) {
	c.writes.Add(1)
	return c.Store.Claim(ctx, kioskID, packetID, owner, lease)
}

func (c *counting) Record(ctx context.Context, p store.FiledPacket) error {
	c.writes.Add(1)
	return c.Store.Record(ctx, p)
}

// raiseFileLimit lets this process and what it starts (mosquitto) hold a
// connection per kiosk.
func raiseFileLimit(b *testing.B) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err == nil && r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			b.Logf("file limit: %v", err)
		}
	}
}

// kioskIDs names n kiosks, issues each its certificate and enrols it in
// the broker's dynamic security.
func kioskIDs(b *testing.B, pki *mosquittotest.PKI, br *mosquittotest.Broker, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("k-%05d", i)
		if _, _, err := pki.Issue(ids[i], false); err != nil {
			b.Fatal(err)
		}
	}
	if err := br.EnrolMany(ids); err != nil {
		b.Fatal(err)
	}
	return ids
}

// startFleet starts the fleet process and waits until every kiosk is
// connected; stop ends it and returns what it measured.
func startFleet(b *testing.B, dir string, c fleetConfig) (stop func() fleetResult) {
	c.Ready, c.Result = filepath.Join(dir, "fleet.ready"), filepath.Join(dir, "fleet.json")
	path := filepath.Join(dir, "fleet-config.json")
	cb, _ := json.Marshal(c)
	if err := os.WriteFile(path, cb, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetProcess$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), fleetEnv+"="+path)
	logf, err := os.Create(filepath.Join(dir, "fleet.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		if _, err := os.Stat(c.Ready); err == nil {
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "fleet.log"))
			b.Fatalf("fleet process ended before it was ready: %s", log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			b.Fatal("fleet not connected within 10 minutes")
		}
	}
	return func() fleetResult {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
		}
		var r fleetResult
		rb, err := os.ReadFile(c.Result)
		if err == nil {
			err = json.Unmarshal(rb, &r)
		}
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "fleet.log"))
			b.Errorf("fleet result: %v: %.2000s", err, log)
		}
		if cmd.ProcessState != nil {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				r.Published["_cpu_ms"] = (ru.Utime.Nano() + ru.Stime.Nano()) / 1e6
			}
		}
		return r
	}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time of process pid (from /proc, 100 ticks a second).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// brokerPID finds the mosquitto running with the configuration in dir.
func brokerPID(dir string) int {
	ds, _ := os.ReadDir("/proc")
	for _, d := range ds {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if strings.Contains(string(cl), filepath.Join(dir, "mosquitto.conf")) {
			return pid
		}
	}
	return 0
}

// memMB reads a field (VmRSS, VmHWM) of this process's status in MiB.
func memMB(field string) float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// centralKeys makes the central's keys in dir (for helper processes too).
func centralKeys(b *testing.B, dir string) *keys.Central {
	c, err := keys.Generate(filepath.Join(dir, "keys"))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// discard is the central's logger in the benchmarks: silent, unless
// EINWURF_BENCH_LOG=1 asks for warnings on stderr.
func discard() *slog.Logger {
	if os.Getenv("EINWURF_BENCH_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// BenchmarkCentralFleet brings up a fleet of simulated kiosks (own
// certificates and device keys, a separate process) against one central
// process (monitor and ingest on SQLite) through a real mosquitto with TLS
// and the production ACL, at real rates: status and birth at connect,
// telemetry every EINWURF_BENCH_TELEMETRY (5s), an event every minute, a
// packet of three 200 KB pages per kiosk every EINWURF_BENCH_PACKET (5m).
// Each iteration is one window of EINWURF_BENCH_WINDOW (10s). It reports
// the messages per second the central absorbed into its store, the p50 and
// p99 from a kiosk's publish to the store holding it (the dashboard's
// state, through the monitor's real path), documents filed per second, the
// central's CPU (cores) and memory, the broker's CPU and the database's
// write transactions per second. EINWURF_BENCH_KIOSKS sets the fleet
// (default 200; 2000 is the aim).
func BenchmarkCentralFleet(b *testing.B) {
	n := envInt("EINWURF_BENCH_KIOSKS", 200)
	window := envDuration("EINWURF_BENCH_WINDOW", 10*time.Second)
	tele := envDuration("EINWURF_BENCH_TELEMETRY", 5*time.Second)
	pkt := envDuration("EINWURF_BENCH_PACKET", 5*time.Minute)
	raiseFileLimit(b)
	dir := b.TempDir()
	pki, br := mosquittotest.StartTest(b, dir)
	ids := kioskIDs(b, pki, br, n)
	reg := newRegistry(ids)
	ck := centralKeys(b, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	raw, err := sqlite.Open(ctx, filepath.Join(dir, "central.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	st := newCounting(raw)
	tlsc, err := pki.ClientTLS(mosquittotest.CentralUser)
	if err != nil {
		b.Fatal(err)
	}
	mon, err := monitor.New(monitor.Config{Store: st, Kiosks: reg, SignKey: ck.SignKey, Log: discard()})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := mon.Run(ctx, ingest.ClientOptions{Brokers: []string{br.CentralURL()}, ClientID: "monitor-1", TLS: tlsc}); err != nil && !errors.Is(err, context.Canceled) {
			b.Errorf("monitor: %v", err)
		}
	}()
	var filed atomic.Int64
	in, err := ingest.New(ingest.Config{StateDir: filepath.Join(dir, "state"), InboxDir: filepath.Join(dir, "inbox"),
		Identity: ck.Identity, SignKey: ck.SignKey, Kiosks: reg, Ledger: st, Owner: "ingest-1", Logger: discard(),
		OnFiled: func(ingest.Filed) { filed.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		defer wg.Done()
		if err := ingest.Run(ctx, ingest.ClientOptions{Brokers: []string{br.CentralURL()}, ClientID: "ingest-1", TLS: tlsc}, in, "ingest", 4); err != nil && !errors.Is(err, context.Canceled) {
			b.Errorf("ingest: %v", err)
		}
	}()

	stopFleet := startFleet(b, dir, fleetConfig{Broker: br.URL(), CA: pki.CAFile, CertDir: pki.Dir, Kiosks: ids, Sites: 20,
		Recip: ck.Identity.Recipient().String(), SignPub: ck.SignKey.Public().(ed25519.PublicKey),
		Tele: tele, Event: time.Minute, Packet: pkt, PageSize: 200 << 10, Pages: 3, Limit: time.Hour})
	fleetUp := time.Now()
	time.Sleep(tele) // every kiosk has started its telemetry
	st.window()
	bpid := brokerPID(br.Dir())

	var absorbed, writes, docs, cpu, bcpu, secs float64
	var lats []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0, c0, b0 := time.Now(), cpuTime(), procCPU(bpid)
		m0, w0, f0 := st.tele.Load()+st.events.Load(), st.writes.Load(), filed.Load()
		time.Sleep(window)
		el := time.Since(t0).Seconds()
		secs += el
		absorbed += float64(st.tele.Load() + st.events.Load() - m0)
		writes += float64(st.writes.Load() - w0)
		docs += float64(filed.Load() - f0)
		cpu += (cpuTime() - c0).Seconds()
		bcpu += (procCPU(bpid) - b0).Seconds()
		lats = append(lats, st.window()...)
	}
	b.StopTimer()
	res := stopFleet()
	fleetSecs := time.Since(fleetUp).Seconds()
	var published int64
	for k, v := range res.Published {
		if k == "telemetry" || k == "event" {
			published += v
		}
	}
	b.ReportMetric(float64(n), "kiosks")
	b.ReportMetric(absorbed/secs, "msgs/s")
	b.ReportMetric(float64(published)/fleetSecs, "published-msgs/s")
	b.ReportMetric(float64(percentile(lats, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(lats, 0.99))/1e6, "p99-ms")
	b.ReportMetric(docs/secs, "docs/s")
	b.ReportMetric(float64(res.ReceiptP99)/1e6, "receipt-p99-ms")
	b.ReportMetric(writes/secs, "db-writes/s")
	b.ReportMetric(cpu/secs, "central-cpu-cores")
	b.ReportMetric(memMB("VmHWM"), "central-peak-MB")
	b.ReportMetric(bcpu/secs, "broker-cpu-cores")
	b.ReportMetric(float64(res.Connected), "connected")
	if res.Connected != n {
		b.Errorf("%d of %d kiosks connected: %v", res.Connected, n, res.Errors)
	}
	if len(lats) == 0 {
		b.Errorf("no message reached the store: fleet published %v, %d store writes; broker: %s", res.Published, st.writes.Load(), br.Log())
	}
	if len(res.Errors) > 0 {
		b.Logf("fleet errors: %v", res.Errors)
	}
}

// ingestHelperEnv names the configuration of an ingest helper process.
const ingestHelperEnv = "EINWURF_LOADTEST_INGEST"

type ingestConfig struct {
	DSN, Broker, CA, Cert, Key string
	Keys, State, Inbox         string
	ClientID, Group, Ready     string
	Kiosks                     []string
	Workers                    int
}

// TestIngestHelper is the body of an ingest helper process of
// BenchmarkFilingShared: ingest on the shared PostgreSQL ledger.
func TestIngestHelper(t *testing.T) {
	var c ingestConfig
	ctx := testtool.HelperProcess(t, ingestHelperEnv, "BenchmarkFilingShared", &c)
	st, err := postgres.Open(ctx, c.DSN, postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, err := keys.Load(c.Keys)
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{StateDir: c.State, InboxDir: c.Inbox, Identity: k.Identity, SignKey: k.SignKey,
		Kiosks: newRegistry(c.Kiosks), Ledger: st, Owner: c.ClientID, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	tlsc, err := mosquittotest.LoadClientTLS(c.CA, c.Cert, c.Key)
	if err != nil {
		t.Fatal(err)
	}
	opts := ingest.ClientOptions{Brokers: []string{c.Broker}, ClientID: c.ClientID, TLS: tlsc,
		OnConnect: func(mqtt.Client) {
			// Run subscribes from its own goroutine at connect; give it
			// the moment its SUBACK takes before saying ready.
			time.AfterFunc(500*time.Millisecond, func() { os.WriteFile(c.Ready, []byte("ready\n"), 0o600) })
		}}
	if err := ingest.Run(ctx, opts, in, c.Group, c.Workers); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// BenchmarkFilingShared files documents with 1, 2 and 4 ingest processes
// sharing one PostgreSQL (durable: fsync on), one state folder and a shared
// subscription on a real mosquitto. EINWURF_BENCH_FILING_KIOSKS kiosks
// (default 16) each send EINWURF_BENCH_FILING_PACKETS packets (default 4)
// of three 200 KB pages one after the other; each process files with
// EINWURF_BENCH_FILING_WORKERS workers (default 1, so that a process stands
// for one filing lane, as one machine would). It reports documents filed
// per second (every kiosk connected to the last receipt) and the ratio to
// one process.
func BenchmarkFilingShared(b *testing.B) {
	nk := envInt("EINWURF_BENCH_FILING_KIOSKS", 16)
	per := envInt("EINWURF_BENCH_FILING_PACKETS", 4)
	workers := envInt("EINWURF_BENCH_FILING_WORKERS", 1)
	raiseFileLimit(b)
	dir := b.TempDir()
	pki, br := mosquittotest.StartTest(b, dir)
	ids := kioskIDs(b, pki, br, nk)
	ck := centralKeys(b, dir)
	certFile, keyFile, err := pki.Issue(mosquittotest.CentralUser, false)
	if err != nil {
		b.Fatal(err)
	}
	pg := pgtest.Start(b, pgtest.Options{Durable: true})
	var base float64
	for _, procs := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			var rates []float64
			for i := 0; i < b.N; i++ {
				b.StopTimer() // starting the processes is not filing
				run := filepath.Join(dir, fmt.Sprintf("p%d-%d", procs, i))
				dsn := pg.NewDatabase(b)
				// Migrate once before the processes start.
				s, err := postgres.Open(context.Background(), dsn, postgres.Options{MaxConns: 1})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
				group := fmt.Sprintf("ingest-%d-%d", procs, i)
				var cmds []*exec.Cmd
				for p := 1; p <= procs; p++ {
					c := ingestConfig{DSN: dsn, Broker: br.CentralURL(), CA: pki.CAFile, Cert: certFile, Key: keyFile,
						Keys: filepath.Join(dir, "keys"), State: filepath.Join(run, "state"), Inbox: filepath.Join(run, "inbox"),
						ClientID: fmt.Sprintf("%s-%d", group, p), Group: group, Ready: filepath.Join(run, fmt.Sprintf("ready-%d", p)), Kiosks: ids,
						Workers: workers}
					os.MkdirAll(run, 0o700)
					cb, _ := json.Marshal(c)
					path := filepath.Join(run, fmt.Sprintf("ingest-%d.json", p))
					os.WriteFile(path, cb, 0o600)
					cmd := exec.Command(os.Args[0], "-test.run=^TestIngestHelper$", "-test.timeout=0")
					cmd.Env = append(os.Environ(), ingestHelperEnv+"="+path)
					logf, _ := os.Create(filepath.Join(run, fmt.Sprintf("ingest-%d.log", p)))
					cmd.Stdout, cmd.Stderr = logf, logf
					cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
					if err := cmd.Start(); err != nil {
						b.Fatal(err)
					}
					cmds = append(cmds, cmd)
					defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); logf.Close() }()
				}
				for p := 1; p <= procs; p++ {
					waitFile(b, filepath.Join(run, fmt.Sprintf("ready-%d", p)), time.Minute)
				}
				b.StartTimer()
				res := runFleet(context.Background(), fleetConfig{Broker: br.URL(), CA: pki.CAFile, CertDir: pki.Dir, Kiosks: ids,
					Recip: ck.Identity.Recipient().String(), SignPub: ck.SignKey.Public().(ed25519.PublicKey),
					Tele: time.Hour, Event: time.Hour, Packet: time.Millisecond, Packets: per, PageSize: 200 << 10, Pages: 3,
					Ready: filepath.Join(run, "fleet.ready"), Result: filepath.Join(run, "fleet.json"),
					Limit: 10 * time.Minute, StopAfter: int64(nk * per), Retry: 5 * time.Second})
				el := res.Active.Seconds()
				b.StopTimer()
				if res.Receipts != int64(nk*per) {
					b.Fatalf("%d of %d documents filed: %v", res.Receipts, nk*per, res.Errors)
				}
				rates = append(rates, float64(res.Receipts)/el)
			}
			var sum float64
			for _, r := range rates {
				sum += r
			}
			rate := sum / float64(len(rates))
			b.ReportMetric(rate, "docs/s")
			if procs == 1 {
				base = rate
			}
			if base > 0 {
				b.ReportMetric(rate/base, "x-one-process")
			}
		})
	}
}

func waitFile(b *testing.B, path string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%s did not appear within %v", path, limit)
}
