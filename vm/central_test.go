//go:build vm

package vm_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/einwurf/einwurf/board/identity"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
)

// guestHost is where the board reaches the host's services: QEMU's user
// network (restrict=on) forwards only these guest addresses, each to one
// port on the host's loopback (guestfwd ... cmd: vmdisk fwd).
const guestHost = "10.0.2.100"

// Guest ports of the forwarded services.
const (
	guestBroker = 8883
	guestUpdate = 8443
	// guestNowhere is forwarded nowhere: the unhealthy version's
	// configuration looks for the broker there (vm/build.sh).
	guestNowhere = 8884
)

// unhealthyDeadline is the health deadline in the unhealthy version's
// configuration: it never reaches the broker, so its health check fails
// when the deadline ends.
const unhealthyDeadline = 40 * time.Second

// kioskID is the virtual board's kiosk id (its configuration names it).
const kioskID = "k-vm-01"

// central is the host's side of the virtual board's world, all on
// 127.0.0.1: a real mosquitto with the production configuration (TLS, the
// dynamic-security ACL), and einwurf-central ingest and serve (the
// dashboard, its /metrics) started as programs, with the keys made by
// einwurf-central keygen and the board's device key enrolled by
// einwurf-central enrol.
type central struct {
	t        testing.TB
	dir      string
	bin      string // einwurf-central
	keys     string
	pki      *mosquittotest.PKI
	broker   *mosquittotest.Broker
	cert     string // the central's client certificate for the broker
	certKey  string
	dash     string // http://127.0.0.1:port of einwurf-central serve
	inbox    string
	db       string
	fwd      map[int]string // guest port → host address
	mu       sync.Mutex
	procs    []*exec.Cmd
	logs     map[string]*bytes.Buffer
	kioskKey ed25519.PrivateKey
	provDir  string // the data partition's tree before mke2fs
}

// centralBin is einwurf-central for the host, built by make vm.
func centralBin(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "bin", "vm", "einwurf-central"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testtool.SkipOrFail(t, "%s missing (make vm builds it)", p)
	}
	return p
}

// startCentral starts broker, ingest and dashboard, and provisions the
// kiosk: its device key (made here, as the kiosk would at its first
// start), its broker certificate, the central's public keys.
func startCentral(t testing.TB) *central {
	t.Helper()
	c := &central{t: t, dir: t.TempDir(), bin: centralBin(t), fwd: map[int]string{}, logs: map[string]*bytes.Buffer{}}
	c.keys = filepath.Join(c.dir, "central-keys")
	c.inbox = filepath.Join(c.dir, "inbox")
	c.db = filepath.Join(c.dir, "central.db")
	pki, err := mosquittotest.NewPKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := mosquittotest.Start(mosquittotest.Options{Dir: filepath.Join(c.dir, "broker"), PKI: pki,
		ServerIPs: []net.IP{net.ParseIP(guestHost)}})
	if err != nil {
		if errors.Is(err, mosquittotest.ErrNotInstalled) {
			testtool.SkipOrFail(t, "%v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	c.pki, c.broker = pki, b
	c.fwd[guestBroker] = b.Addr
	if c.cert, c.certKey, err = pki.Issue(mosquittotest.CentralUser, false); err != nil {
		t.Fatal(err)
	}
	c.run("keygen", "-keys", c.keys)

	// The data partition: configuration, keys, state (vm/build.sh's layout).
	c.provDir = filepath.Join(c.dir, "data")
	for _, d := range []string{"config", "keys", "state/kiosk"} {
		if err := os.MkdirAll(filepath.Join(c.provDir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if c.kioskKey, err = identity.LoadOrCreateKey(identity.Paths{Dir: filepath.Join(c.provDir, "state", "kiosk")}.Key()); err != nil {
		t.Fatal(err)
	}
	c.run("enrol", "-keys", c.keys, "-kiosk", kioskID, "-pub", base64.StdEncoding.EncodeToString(c.kioskKey.Public().(ed25519.PublicKey)))
	if err := b.Enrol(kioskID); err != nil {
		t.Fatal(err)
	}
	kc, kk, err := pki.Issue(kioskID, false)
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{pki.CAFile: "ca.pem", kc: "kiosk.pem", kk: "kiosk.key",
		filepath.Join(c.keys, "central.pub.json"): "central.pub.json"} {
		copyFile(t, src, filepath.Join(c.provDir, "keys", dst))
	}
	c.writeConfig(nil)

	brokerFlags := []string{"-broker", b.CentralURL(), "-ca", pki.CAFile, "-cert", c.cert, "-key", c.certKey}
	c.start("ingest", append([]string{"ingest", "-keys", c.keys, "-db", c.db, "-state", filepath.Join(c.dir, "state"),
		"-inbox", c.inbox, "-id", "ingest-1"}, brokerFlags...)...)
	dash := freeAddr(t)
	c.dash = "http://" + dash
	c.start("serve", append([]string{"serve", "-keys", c.keys, "-db", c.db, "-listen", dash, "-id", "monitor-1"}, brokerFlags...)...)
	c.waitHTTP(c.dash + "/metrics")
	return c
}

// writeConfig writes the kiosk's einwurfd.json to the data partition's
// tree; update, when not nil, is its "update" section.
func (c *central) writeConfig(update map[string]any) {
	cfg := map[string]any{
		"kiosk_id": kioskID,
		"listen":   "127.0.0.1:8080",
		"board":    "/etc/einwurf/board-vm.json",
		"scanner":  map[string]any{"resolution": 300, "color": "RGB24", "duplex": false}, // the simulated scanner of vm/devices.md is simplex
		"reader":   map[string]any{"kind": "imager", "mode": "ssi", "baud": 9600},
		"mqtt": map[string]any{
			"brokers":     []string{fmt.Sprintf("ssl://%s:%d", guestHost, guestBroker)},
			"ca_cert":     "/data/keys/ca.pem",
			"client_cert": "/data/keys/kiosk.pem",
			"client_key":  "/data/keys/kiosk.key",
			"central_pub": "/data/keys/central.pub.json",
		},
		"spool":        map[string]any{"max_bytes": 0, "warn_free": 8 << 20, "alarm_free": 4 << 20},
		"idle_timeout": "3m0s",
		"remove_blank": true,
	}
	if update != nil {
		cfg["update"] = update
	}
	c.writeJSON("einwurfd.json", cfg)
	// The unhealthy version's: the same, but the broker at an address
	// nothing answers (and a shorter health deadline, to keep the test short).
	mq := maps.Clone(cfg["mqtt"].(map[string]any))
	mq["brokers"] = []string{fmt.Sprintf("ssl://%s:%d", guestHost, guestNowhere)}
	cfg["mqtt"] = mq
	if update != nil {
		u := maps.Clone(update)
		u["health_deadline"] = unhealthyDeadline.String()
		cfg["update"] = u
	}
	c.writeJSON("einwurfd-unhealthy.json", cfg)
}

// writeJSON writes v as the data partition's config/name.
func (c *central) writeJSON(name string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.provDir, "config", name), b, 0o600); err != nil {
		c.t.Fatal(err)
	}
}

// provision writes the data partition's tree into partition 4 of disk.
func (c *central) provision(disk string) {
	c.t.Helper()
	img := filepath.Join(c.dir, "data.img")
	os.Remove(img)
	mke2fs := testtool.NeedTool(c.t, "mke2fs")
	if out, err := exec.Command(mke2fs, "-q", "-t", "ext4", "-L", "data", "-d", c.provDir, img, "64M").CombinedOutput(); err != nil {
		c.t.Fatalf("mke2fs: %v: %s", err, out)
	}
	if out, err := exec.Command(vmdisk(c.t), "part", disk, "4", img).CombinedOutput(); err != nil {
		c.t.Fatalf("vmdisk part: %v: %s", err, out)
	}
}

func vmdisk(t testing.TB) string {
	p, err := filepath.Abs(filepath.Join("..", "bin", "vm", "vmdisk"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run runs one einwurf-central subcommand to its end.
func (c *central) run(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(c.bin, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("einwurf-central %s: %v: %s", args[0], err, out)
	}
	return string(out)
}

// start starts a long-running einwurf-central subcommand, ended with the test.
func (c *central) start(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: &buf, mu: &c.mu}, &lockedWriter{w: &buf, mu: &c.mu}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("einwurf-central %s: %v", name, err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.logs[name] = &buf
	c.mu.Unlock()
	c.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if c.t.Failed() {
			c.mu.Lock()
			c.t.Logf("einwurf-central %s:\n%s", name, buf.String())
			c.mu.Unlock()
		}
	})
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (c *central) waitHTTP(u string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := http.Get(u); err == nil {
			r.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s did not answer in 20 s", u)
}

// metrics returns the dashboard's Prometheus lines starting with name.
func (c *central) metrics(name string) []string {
	r, err := http.Get(c.dash + "/metrics")
	if err != nil {
		return nil
	}
	defer r.Body.Close()
	var lines []string
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name) {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

// kioskInfo is the dashboard's einwurf_kiosk_info labels of the board, and
// whether it counts as up.
func (c *central) kioskInfo() (version, slot string, up bool) {
	re := regexp.MustCompile(`kiosk="` + kioskID + `".*slot="([^"]*)".*version="([^"]*)"|kiosk="` + kioskID + `".*version="([^"]*)".*slot="([^"]*)"`)
	for _, l := range c.metrics("einwurf_kiosk_info{") {
		if m := re.FindStringSubmatch(l); m != nil {
			if m[1] != "" || m[2] != "" {
				version, slot = m[2], m[1]
			} else {
				version, slot = m[3], m[4]
			}
		}
	}
	for _, l := range c.metrics("einwurf_kiosk_up{") {
		if strings.Contains(l, `kiosk="`+kioskID+`"`) && strings.HasSuffix(l, " 1") {
			up = true
		}
	}
	return version, slot, up
}

// until polls cond (every 250 ms) until it holds or limit passes.
func until(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, limit)
	return 0
}

// operator is a logged-in session on the dashboard (an admin made with
// einwurf-central useradd).
func (c *central) operator() *http.Client {
	c.t.Helper()
	pw := filepath.Join(c.dir, "admin.pw")
	if err := os.WriteFile(pw, []byte("vm-test-password-1\n"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.run("useradd", "-db", c.db, "-login", "admin", "-role", "admin", "-password-file", pw)
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	r, err := cl.PostForm(c.dash+"/login", url.Values{"login": {"admin"}, "password": {"vm-test-password-1"}})
	if err != nil {
		c.t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		c.t.Fatalf("login: %s", r.Status)
	}
	return cl
}

// command sends a signed command to the board from the dashboard's form.
func (c *central) command(cl *http.Client, kind string) {
	c.t.Helper()
	page := c.get(cl, "/commands")
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no csrf field on /commands")
	}
	r, err := cl.PostForm(c.dash+"/commands", url.Values{"csrf": {m[1]}, "kind": {kind}, "kiosk": {kioskID}})
	if err != nil {
		c.t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		c.t.Fatalf("command %s: %s: %s", kind, r.Status, body)
	}
}

func (c *central) get(cl *http.Client, path string) string {
	c.t.Helper()
	r, err := cl.Get(c.dash + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %s", path, r.Status)
	}
	return string(b)
}

// release is the central's update side: a TUF repository made by
// einwurf-central release init, targets added with release add -kind
// rootfs, and release serve on the host's loopback behind a counting proxy
// (served bytes: what the board fetched), forwarded to the board at
// 10.0.2.100:8443.
type release struct {
	c      *central
	repo   string
	tkeys  string
	served *countingProxy
}

// startRelease makes the repository with the given targets (name → image,
// version), writes the kiosk's update configuration (root file system
// slots a and b) and the TUF root to the data partition's tree, and starts
// release serve. Call provision afterwards.
func (c *central) startRelease(targets map[string][2]string) *release {
	c.t.Helper()
	r := &release{c: c, repo: filepath.Join(c.dir, "tuf"), tkeys: filepath.Join(c.dir, "tuf-keys")}
	c.run("release", "init", "-repo", r.repo, "-tuf-keys", r.tkeys)
	for name, t := range targets {
		c.run("release", "add", "-repo", r.repo, "-tuf-keys", r.tkeys, "-name", name, "-version", t[1], "-kind", "rootfs", t[0])
	}
	copyFile(c.t, filepath.Join(r.repo, "metadata", "root.json"), filepath.Join(c.provDir, "keys", "tuf-root.json"))
	base := fmt.Sprintf("http://%s:%d", guestHost, guestUpdate)
	c.writeConfig(map[string]any{
		"metadata_url":    base + "/tuf/metadata/",
		"targets_url":     base + "/tuf/targets/",
		"root":            "/data/keys/tuf-root.json",
		"health_deadline": "3m",
		"rootfs": map[string]any{"slot_a": "/dev/vda2", "slot_b": "/dev/vda3", "fw_env_config": "/etc/fw_env.config",
			"cmdline": "/proc/cmdline", "version_file": "/etc/os-release", "dir": "/data/state/rootfs-update"},
	})
	listen := freeAddr(c.t)
	r.served = startProxy(c.t, listen)
	c.fwd[guestUpdate] = r.served.addr
	c.start("release", "release", "serve", "-db", c.db, "-repo", r.repo, "-tuf-keys", r.tkeys, "-keys", c.keys,
		"-listen", listen, "-base-url", base, "-broker", c.broker.CentralURL(), "-ca", c.pki.CAFile,
		"-cert", c.cert, "-key", c.certKey, "-id", "release-1")
	c.waitHTTP("http://" + listen + "/tuf/metadata/root.json")
	return r
}

// rollout starts a rollout of target to the whole fleet (release start).
func (r *release) rollout(id, target string) {
	r.c.t.Helper()
	r.c.run("release", "start", "-db", r.c.db, "-repo", r.repo, "-rollout", id, "-name", target, "-percent", "100")
}

// status is the board's line of release status for the rollout: its
// state and detail as the central recorded them.
func (r *release) status(id string) string {
	out, err := exec.Command(r.c.bin, "release", "status", "-db", r.c.db, "-repo", r.repo, "-rollout", id).CombinedOutput()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == kioskID {
			return strings.Join(f[1:], " ")
		}
	}
	return ""
}

// countingProxy forwards TCP connections from addr to a target set later
// and counts the bytes the target sent back.
type countingProxy struct {
	addr   string
	mu     sync.Mutex
	target string
	bytes  int64
}

func startProxy(t testing.TB, target string) *countingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: l.Addr().String(), target: target}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(in)
		}
	}()
	return p
}

func (p *countingProxy) serve(in net.Conn) {
	defer in.Close()
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer out.Close()
	go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite() }()
	io.Copy(in, io.TeeReader(out, p))
}

// Write counts the bytes the target sent.
func (p *countingProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.bytes += int64(len(b))
	p.mu.Unlock()
	return len(b), nil
}

// Served is how many bytes the update server sent so far.
func (p *countingProxy) Served() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}
