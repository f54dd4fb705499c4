// Package e2e is the test harness shared by the uplink's integration tests
// and the soak test: a world of a real mosquitto (TLS, ACL), the central's
// keys, enrolled kiosks, and helper processes (kiosk uplinks and ingest
// processes) that tests kill with SIGKILL and start again.
//
// Helper processes are the test binary itself, re-executed with
// EINWURF_E2E_ROLE set; a test package's TestMain calls HelperMain first.
//
// Layout of a world folder:
//
//	pki/               CA and certificates
//	broker/            mosquitto's configuration, persistence and log
//	central-keys/      the central's keys and kiosks.json
//	central-state/     ingest state, shared by all ingest processes
//	inbox/             filed documents
//	kiosks/<id>/       key, spool/, diskfull (present: the disk is full)
//	world.json         broker URL for helpers
package e2e

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/firmware/spool"
	"github.com/einwurf/einwurf/firmware/submit"
	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/kiosk/ident"
	"github.com/einwurf/einwurf/kiosk/session"
)

// Environment of helper processes.
const (
	envRole   = "EINWURF_E2E_ROLE"
	envDir    = "EINWURF_E2E_DIR"
	envKiosk  = "EINWURF_E2E_KIOSK"
	envBroker = "EINWURF_E2E_BROKER"
	envClient = "EINWURF_E2E_CLIENT"
	envClock  = "EINWURF_E2E_CLOCK"
	envWindow = "EINWURF_E2E_WINDOW"
)

// Number is the Kundennummer every test document is filed under.
const Number = "035F083761"

// World is the set-up of one test.
type World struct {
	Dir     string
	PKI     *mosquittotest.PKI
	Broker  *mosquittotest.Broker
	Central *keys.Central
	Reg     *keys.Register
}

// NewWorld creates keys and certificates in dir and starts mosquitto with
// the production message_size_limit.
func NewWorld(dir string) (*World, error) { return NewWorldLimit(dir, 0) }

// NewWorldLimit is NewWorld with another message_size_limit (0: the
// production one), for benchmarks that compare with one large message.
func NewWorldLimit(dir string, limit int) (*World, error) {
	w := &World{Dir: dir}
	var err error
	if w.PKI, err = mosquittotest.NewPKI(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	if _, _, err = w.PKI.Issue(mosquittotest.CentralUser, false); err != nil {
		return nil, err
	}
	if w.Central, err = keys.Generate(filepath.Join(dir, "central-keys")); err != nil {
		return nil, err
	}
	w.Reg = keys.OpenRegister(filepath.Join(dir, "central-keys", "kiosks.json"))
	if w.Broker, err = mosquittotest.Start(mosquittotest.Options{Dir: filepath.Join(dir, "broker"), PKI: w.PKI,
		MessageSizeLimit: limit}); err != nil {
		return nil, err
	}
	if err := w.SetBrokerURL(w.Broker.URL()); err != nil {
		w.Broker.Stop()
		return nil, err
	}
	return w, nil
}

// SetBrokerURL sets the URL kiosk helper processes started from now on use
// (a proxy's, to cut the network); ingest helpers always connect to the
// broker directly.
func (w *World) SetBrokerURL(url string) error {
	b, _ := json.Marshal(map[string]string{"broker": url, "central": w.Broker.CentralURL()})
	return os.WriteFile(filepath.Join(w.Dir, "world.json"), b, 0o600)
}

// Close stops the broker.
func (w *World) Close() { w.Broker.Stop() }

// KioskDir is the folder of kiosk id.
func (w *World) KioskDir(id string) string { return filepath.Join(w.Dir, "kiosks", id) }

// StateDir is the ingest state folder; InboxDir the inbox.
func (w *World) StateDir() string { return filepath.Join(w.Dir, "central-state") }

// InboxDir is where ingest files documents.
func (w *World) InboxDir() string { return filepath.Join(w.Dir, "inbox") }

// AddKiosk enrols kiosk id with a fresh device key and issues its client
// certificate.
func (w *World) AddKiosk(id string) error {
	pub, sk, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.KioskDir(id), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(w.KioskDir(id), "key"), []byte(base64.StdEncoding.EncodeToString(sk.Seed())), 0o600); err != nil {
		return err
	}
	if _, _, err := w.PKI.Issue(id, false); err != nil {
		return err
	}
	if err := w.Broker.Enrol(id); err != nil {
		return err
	}
	return w.Reg.Enrol(id, pub)
}

// Kiosk is one kiosk's parts, in this process.
type Kiosk struct {
	ID    string
	Key   ed25519.PrivateKey
	Spool *spool.Spool
	// Full, when set, makes the spool see a full disk.
	Full atomic.Bool
	// Clock shifts the kiosk's clock (a jump).
	Clock atomic.Int64
	Alarm func(code, detail string)
	dir   string
}

// OpenKiosk opens kiosk id's key and spool (recovering it).
func OpenKiosk(dir, id string) (*Kiosk, error) {
	kd := filepath.Join(dir, "kiosks", id)
	seedText, err := os.ReadFile(filepath.Join(kd, "key"))
	if err != nil {
		return nil, err
	}
	seed, err := base64.StdEncoding.DecodeString(string(seedText))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("e2e: bad kiosk key")
	}
	k := &Kiosk{ID: id, Key: ed25519.NewKeyFromSeed(seed), dir: kd}
	k.Spool, err = spool.Open(filepath.Join(kd, "spool"), spool.Options{WarnFree: 8 << 20, AlarmFree: 1 << 20,
		Statfs: func(string) (int64, error) {
			if k.Full.Load() {
				return 0, nil
			}
			if _, err := os.Stat(filepath.Join(kd, "diskfull")); err == nil {
				return 0, nil
			}
			return 1 << 40, nil
		},
		Alarm: func(code, detail string) {
			if k.Alarm != nil {
				k.Alarm(code, detail)
			}
		}})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Now is the kiosk's clock.
func (k *Kiosk) Now() time.Time { return time.Now().Add(time.Duration(k.Clock.Load())) }

// PDF returns size bytes of a fake PDF that is different for every seed and
// carries marker, so a test can look for it.
func PDF(size int, seed uint64, marker string) []byte {
	head := []byte("%PDF-1.7\n% " + marker + "\n")
	pdf := make([]byte, size)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range pdf {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		pdf[i] = byte(x)
	}
	copy(pdf, head)
	return pdf
}

// Seal seals pdf as a document of 3 pages for customer Number into the
// kiosk's spool, as the kiosk's Submitter does, and returns the packet id.
func (k *Kiosk) Seal(central keys.Public, pdf []byte, kick func()) (string, error) {
	rcpt, err := age.ParseHybridRecipient(central.AgeRecipient)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(k.dir, "doc-*.pdf")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(pdf); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	n, err := ident.Parse(Number)
	if err != nil {
		return "", err
	}
	s := &submit.Sealer{KioskID: k.ID, Key: k.Key, Recipient: rcpt, Spool: k.Spool, Kick: kick, Now: k.Now}
	rc, err := s.Submit(context.Background(), session.Document{Number: n, PDF: f.Name(), Pages: 3,
		Size: int64(len(pdf)), SHA256: sha256.Sum256(pdf), Scanned: k.Now()})
	if err != nil {
		return "", err
	}
	return rc.PacketID, nil
}

// Public is the central's public half, as a kiosk holds it.
func (w *World) Public() keys.Public { return w.Central.Public() }

// Uplink returns kiosk k's uplink to broker url with its client
// certificate.
func (w *World) Uplink(k *Kiosk, url string, window int) (*uplink.Uplink, error) {
	return newUplink(w.Dir, k, url, window, w.Central.SignKey.Public().(ed25519.PublicKey))
}

// UplinkConfig is the configuration World.Uplink uses, for tests that
// change some of it.
func (w *World) UplinkConfig(k *Kiosk, url string, window int) (uplink.Config, error) {
	return uplinkConfig(w.Dir, k, url, window, w.Central.SignKey.Public().(ed25519.PublicKey))
}

func uplinkConfig(dir string, k *Kiosk, url string, window int, central ed25519.PublicKey) (uplink.Config, error) {
	pki := filepath.Join(dir, "pki")
	tlsConf, err := mosquittotest.LoadClientTLS(filepath.Join(pki, "ca.pem"), filepath.Join(pki, k.ID+".pem"), filepath.Join(pki, k.ID+".key"))
	if err != nil {
		return uplink.Config{}, err
	}
	return uplink.Config{Brokers: []string{url}, KioskID: k.ID, TLS: tlsConf, CentralKey: central,
		Spool: k.Spool, Window: window, AnswerTimeout: 5 * time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, Now: k.Now}, nil
}

func newUplink(dir string, k *Kiosk, url string, window int, central ed25519.PublicKey) (*uplink.Uplink, error) {
	cfg, err := uplinkConfig(dir, k, url, window, central)
	if err != nil {
		return nil, err
	}
	return uplink.New(cfg), nil
}

// RunIngest runs one ingest process's work in this process until ctx ends.
// onFiled may be nil.
func (w *World) RunIngest(ctx context.Context, clientID, url string, onFiled func(ingest.Filed)) error {
	return runIngest(ctx, w.Dir, clientID, url, 0, onFiled)
}

// RunIngestClock is RunIngest with the ingest's clock shifted by clock.
func (w *World) RunIngestClock(ctx context.Context, clientID, url string, clock time.Duration) error {
	return runIngest(ctx, w.Dir, clientID, url, clock, nil)
}

func runIngest(ctx context.Context, dir, clientID, url string, clock time.Duration, onFiled func(ingest.Filed)) error {
	c, err := keys.Load(filepath.Join(dir, "central-keys"))
	if err != nil {
		return err
	}
	in, err := ingest.New(ingest.Config{StateDir: filepath.Join(dir, "central-state"), InboxDir: filepath.Join(dir, "inbox"),
		Identity: c.Identity, SignKey: c.SignKey, Kiosks: keys.OpenRegister(filepath.Join(dir, "central-keys", "kiosks.json")),
		Now: func() time.Time { return time.Now().Add(clock) }, OnFiled: onFiled})
	if err != nil {
		return err
	}
	pki := filepath.Join(dir, "pki")
	tlsConf, err := mosquittotest.LoadClientTLS(filepath.Join(pki, "ca.pem"), filepath.Join(pki, "central.pem"), filepath.Join(pki, "central.key"))
	if err != nil {
		return err
	}
	return ingest.Run(ctx, ingest.ClientOptions{Brokers: []string{url}, ClientID: clientID, TLS: tlsConf}, in, "ingest", 4)
}

// Inbox lists the filed PDFs by packet id: how many times each is there.
func Inbox(inbox string) map[string]int {
	out := map[string]int{}
	filepath.WalkDir(inbox, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".pdf") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		_, id, ok := strings.Cut(strings.TrimSuffix(d.Name(), ".pdf"), "_")
		if ok {
			out[id]++
		}
		return nil
	})
	return out
}

// InboxPDF returns the filed PDF of packet id.
func InboxPDF(inbox, id string) ([]byte, error) {
	var found string
	filepath.WalkDir(inbox, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "_"+id+".pdf") {
			found = p
		}
		return nil
	})
	if found == "" {
		return nil, fs.ErrNotExist
	}
	return os.ReadFile(found)
}

// StoredChunks counts the chunks ingest holds of a packet.
func StoredChunks(stateDir, kioskID, packetID string) int {
	des, _ := os.ReadDir(filepath.Join(stateDir, kioskID, packetID))
	n := 0
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "chunk-") {
			n++
		}
	}
	return n
}

// Proc is a helper process.
type Proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	mu    sync.Mutex
	out   []string
}

func (w *World) start(role string, env ...string) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{envRole + "=" + role, envDir + "=" + w.Dir}, env...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, stdin: stdin, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// StartKiosk starts kiosk id's uplink in a helper process. window 0 keeps
// the default.
func (w *World) StartKiosk(id string, window int) (*Proc, error) {
	return w.start("kiosk", envKiosk+"="+id, envWindow+"="+strconv.Itoa(window))
}

// StartIngest starts an ingest helper process with client id clientID and
// its clock shifted by clock.
func (w *World) StartIngest(clientID string, clock time.Duration) (*Proc, error) {
	return w.start("ingest", envClient+"="+clientID, envClock+"="+strconv.FormatInt(int64(clock), 10))
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill ends the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Stop ends the process with SIGTERM, waits at most 15 s (then kills it)
// and returns its output lines.
func (p *Proc) Stop() []string {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.Kill()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out...)
}

// Do sends a command line to a kiosk helper and returns its answer (at
// most timeout).
func (p *Proc) Do(cmd string, timeout time.Duration) (string, error) {
	// Drop lines no command waits for.
	for len(p.lines) > 0 {
		<-p.lines
	}
	if _, err := fmt.Fprintln(p.stdin, cmd); err != nil {
		return "", err
	}
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		return "", errors.New("e2e: helper exited")
	case <-time.After(timeout):
		return "", errors.New("e2e: helper did not answer")
	}
}

// HelperMain runs a helper role when the process was started as one and
// then exits; otherwise it returns at once. Call it first in TestMain.
func HelperMain() {
	role := os.Getenv(envRole)
	if role == "" {
		return
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch role {
	case "kiosk":
		err = kioskMain(ctx)
	case "ingest":
		clock, _ := strconv.ParseInt(os.Getenv(envClock), 10, 64)
		err = runIngest(ctx, os.Getenv(envDir), os.Getenv(envClient), worldURL(os.Getenv(envDir), "central"), time.Duration(clock), nil)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "e2e helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func worldURL(dir, key string) string {
	var w map[string]string
	b, _ := os.ReadFile(filepath.Join(dir, "world.json"))
	json.Unmarshal(b, &w)
	return w[key]
}

// kioskMain runs a kiosk's uplink; stdin takes commands:
//
//	seal <bytes> <seed>   seal a document → "sealed <id>" or "error <text>"
//	seal-foreign <bytes> <seed>
//	                      seal one signed with a device key the central does
//	                      not know (as after a key replacement): the central
//	                      never answers it → "sealed <id>"
//	clock <seconds>       shift the kiosk's clock → "ok"
//	stats                 → "stats chunks=<n> delivered=<n>"
//
// On SIGTERM it prints the stats line and exits.
func kioskMain(ctx context.Context) error {
	dir, id := os.Getenv(envDir), os.Getenv(envKiosk)
	k, err := OpenKiosk(dir, id)
	if err != nil {
		return err
	}
	pub, err := keys.LoadPublic(filepath.Join(dir, "central-keys", "central.pub.json"))
	if err != nil {
		return err
	}
	window, _ := strconv.Atoi(os.Getenv(envWindow))
	u, err := newUplink(dir, k, worldURL(dir, "broker"), window, pub.SignPub)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	say := func(s string) { mu.Lock(); fmt.Println(s); mu.Unlock() }
	var peakHeap atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for ctx.Err() == nil {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	stats := func() string {
		s := u.Stats()
		return fmt.Sprintf("stats chunks=%d delivered=%d heapMB=%d", s.ChunksSent, s.Delivered, peakHeap.Load()>>20)
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "seal":
				size, _ := strconv.Atoi(f[1])
				seed, _ := strconv.ParseUint(f[2], 10, 64)
				pid, err := k.Seal(pub, PDF(size, seed, "einwurf-e2e"), u.Kick)
				if err != nil {
					say("error " + err.Error())
				} else {
					say("sealed " + pid)
				}
			case len(f) == 3 && f[0] == "seal-foreign":
				size, _ := strconv.Atoi(f[1])
				seed, _ := strconv.ParseUint(f[2], 10, 64)
				enrolled := k.Key
				_, k.Key, _ = ed25519.GenerateKey(nil)
				pid, err := k.Seal(pub, PDF(size, seed, "einwurf-e2e-foreign"), u.Kick)
				k.Key = enrolled
				if err != nil {
					say("error " + err.Error())
				} else {
					say("sealed " + pid)
				}
			case len(f) == 2 && f[0] == "clock":
				s, _ := strconv.ParseInt(f[1], 10, 64)
				k.Clock.Store(int64(time.Duration(s) * time.Second))
				say("ok")
			case len(f) == 1 && f[0] == "stats":
				say(stats())
			default:
				say("error unknown command")
			}
		}
	}()
	err = u.Run(ctx)
	say(stats())
	return err
}

// SpoolEntries counts kiosk id's spooled entries by looking at the folder
// only (opening the spool would run its recovery under a running kiosk).
func (w *World) SpoolEntries(id string) int {
	m, _ := filepath.Glob(filepath.Join(w.KioskDir(id), "spool", "*.manifest"))
	return len(m)
}

// LimitFiles lowers the process's limit of open files to what it has open
// now plus spare (a real descriptor exhaustion) and returns the function
// that gives the old limit back.
func (p *Proc) LimitFiles(spare int) (restore func() error, err error) {
	pid := p.Pid()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	top := 0
	for _, fd := range fds {
		if n, err := strconv.Atoi(fd.Name()); err == nil && n > top {
			top = n
		}
	}
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		return nil, err
	}
	lim := old
	lim.Cur = uint64(top + 1 + spare)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		return nil, err
	}
	return func() error { return unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil) }, nil
}

// Signal sends sig to the process (SIGSTOP and SIGCONT stall and resume
// it, as an overloaded machine would).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }
