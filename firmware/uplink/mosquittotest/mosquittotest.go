// Package mosquittotest starts a real mosquitto 2.0 broker for tests with
// the production configuration of docs/operations.md: certificate
// authorities and certificates made on the spot; a TLS listener for kiosks
// (client certificate required, its common name is the user name and the
// client id) and one for the central's processes (certificates of the
// central CA only, free client ids); and the dynamic-security plugin, which
// checks every SUBSCRIBE as well as every PUBLISH and delivery: a kiosk may
// publish only under einwurf/v1/k/<its id>/, subscribe to and receive only
// einwurf/v1/c/<its id>/, and cannot join the ingest's shared subscription.
// (mosquitto 2.0's acl_file does not check subscriptions at all, and its
// dynamic-security plugin has no %u patterns: each kiosk gets its own role,
// made by Broker.Enrol as the central's enrolment does; the rules are
// central/brokeracl's.)
//
// It is a test helper (as net/http/httptest is), not part of the appliance.
package mosquittotest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/brokeracl"
)

// CentralUser is the common name of the central's certificate; the ACL
// gives it every topic.
const CentralUser = brokeracl.CentralUser

// MessageSizeLimit is the broker's message_size_limit, as in production:
// a message larger than this is dropped by the broker.
const MessageSizeLimit = 1 << 20

// ErrNotInstalled is returned when the mosquitto binary is missing.
var ErrNotInstalled = errors.New("mosquittotest: mosquitto is not installed")

// Binary returns the path of the mosquitto broker binary.
func Binary() (string, error) {
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", ErrNotInstalled
}

// PKI is a pair of throw-away certificate authorities in a folder: the
// kiosk CA (CAFile, which also signs the broker's server certificates) and
// the central CA (CentralCAFile), which alone signs the certificates of
// the central's processes (common name CentralUser).
type PKI struct {
	Dir           string
	CAFile        string
	CentralCAFile string
	ca, centralCA *x509.Certificate
	caKey, cKey   *ecdsa.PrivateKey
	mu            sync.Mutex
	serial        int64
}

// NewPKI creates the two CAs in dir.
func NewPKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), CentralCAFile: filepath.Join(dir, "central-ca.pem"), serial: 2}
	var err error
	if p.ca, p.caKey, err = newCA("einwurf test kiosk CA", 1, p.CAFile); err != nil {
		return nil, err
	}
	if p.centralCA, p.cKey, err = newCA("einwurf test central CA", 2, p.CentralCAFile); err != nil {
		return nil, err
	}
	return p, nil
}

func newCA(name string, serial int64, file string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// Issue makes a certificate with common name cn (a server certificate for
// 127.0.0.1 when server is true) and writes cn.pem and cn.key. The central
// CA signs CentralUser's, the kiosk CA every other.
func (p *PKI) Issue(cn string, server bool) (certFile, keyFile string, err error) {
	return p.issue(cn, server, nil)
}

func (p *PKI) issue(cn string, server bool, moreIPs []net.IP) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	p.mu.Lock()
	p.serial++
	serial := p.serial
	p.mu.Unlock()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = append([]net.IP{net.ParseIP("127.0.0.1")}, moreIPs...)
		tmpl.DNSNames = []string{"localhost"}
	}
	ca, caKey := p.ca, p.caKey
	if cn == CentralUser {
		ca, caKey = p.centralCA, p.cKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(p.Dir, cn+".pem"), filepath.Join(p.Dir, cn+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// ClientTLS issues (or reuses) the client certificate of cn and returns a
// TLS configuration that presents it and trusts only the CA.
func (p *PKI) ClientTLS(cn string) (*tls.Config, error) {
	certFile, keyFile := filepath.Join(p.Dir, cn+".pem"), filepath.Join(p.Dir, cn+".key")
	if _, err := os.Stat(certFile); err != nil {
		if certFile, keyFile, err = p.Issue(cn, false); err != nil {
			return nil, err
		}
	}
	return LoadClientTLS(p.CAFile, certFile, keyFile)
}

// LoadClientTLS builds a client TLS configuration from PEM files, so a
// helper process can use certificates its parent made.
func LoadClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("mosquittotest: no CA certificate in " + caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12,
		ServerName: "127.0.0.1"}, nil
}

// Options configure a broker.
type Options struct {
	// Dir holds the configuration, the dynamic-security file, persistence
	// and log.
	Dir string
	PKI *PKI
	// Addr is the kiosks' listener, "127.0.0.1:port"; empty picks a free
	// port. The central's listener takes another free port.
	Addr string
	// MessageSizeLimit overrides MessageSizeLimit (benchmarks comparing
	// with a single large mosquitto_pub message need more); 0 keeps it.
	MessageSizeLimit int
	// ServerIPs are more addresses the broker's certificate names besides
	// 127.0.0.1: where a client behind a forward reaches it (the virtual
	// board of vm/ dials 10.0.2.100, QEMU's guestfwd to the host's loopback).
	ServerIPs []net.IP
}

// Broker is a running mosquitto.
type Broker struct {
	opt         Options
	Addr        string // the kiosks' listener
	CentralAddr string // the central's listener
	conf        string
	log         string
	mu          sync.Mutex
	cmd         *exec.Cmd
	done        chan struct{}
}

// Conf is the broker's configuration exactly as docs/operations.md
// documents it; Render fills in the {{names}} (Production holds the
// documented values).
const Conf = `per_listener_settings false
persistence true
persistence_location {{data}}/
autosave_interval 60
# Chunks are 256 KiB + 32 bytes; nothing larger is needed.
message_size_limit {{limit}}
# Queue for kiosks and ingest processes that are away (persistent sessions).
max_queued_messages 10000
# Every SUBSCRIBE, PUBLISH and delivery is checked by the dynamic-security
# plugin. There is no acl_file: mosquitto 2.0 does not check subscriptions
# against it, so any kiosk could join the ingest's shared subscription.
plugin {{dynsec_plugin}}
plugin_opt_config_file {{dynsec_json}}

# Kiosks: a certificate of the kiosk CA; its common name is the user name
# and the client id, so no kiosk can take over another's session.
listener {{kiosk_port}}{{bind}}
cafile {{kiosk_ca}}
certfile {{cert}}
keyfile {{key}}
require_certificate true
use_identity_as_username true
use_username_as_clientid true

# The central's processes: certificates of the central CA only; each
# process keeps its own stable client id (ingest-1, ingest-2, ...).
listener {{central_port}}{{bind}}
cafile {{central_ca}}
certfile {{cert}}
keyfile {{key}}
require_certificate true
use_identity_as_username true
`

// Production are the values of Conf on a central's broker host (Debian,
// amd64; on arm64 the plugin is under /usr/lib/aarch64-linux-gnu/).
var Production = map[string]string{
	"data": "/var/lib/mosquitto", "limit": strconv.Itoa(MessageSizeLimit),
	"dynsec_plugin": "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
	"dynsec_json":   "/var/lib/mosquitto/dynamic-security.json",
	"kiosk_port":    "8883", "central_port": "8884", "bind": "",
	"kiosk_ca": "/etc/mosquitto/einwurf-kiosk-ca.pem", "central_ca": "/etc/mosquitto/einwurf-central-ca.pem",
	"cert": "/etc/mosquitto/broker.pem", "key": "/etc/mosquitto/broker.key",
}

// Render fills Conf's {{names}} from values.
func Render(values map[string]string) string {
	out := Conf
	for k, v := range values {
		out = strings.ReplaceAll(out, "{{"+k+"}}", v)
	}
	return out
}

// dynsecPlugin finds mosquitto's dynamic-security plugin.
func dynsecPlugin() (string, error) {
	for _, pat := range []string{"/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so",
		"/usr/local/lib/mosquitto_dynamic_security.so", "/usr/lib/*/mosquitto/mosquitto_dynamic_security.so"} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("%w (its dynamic-security plugin)", ErrNotInstalled)
}

// freePort returns a loopback address free now. mosquitto binds it only
// later, in its own process (and again after a restart), so it is taken
// below the kernel's ephemeral range (ip_local_port_range), which the
// kernel hands out for every ":0" listener and outgoing connection of the
// tests running beside: one of those could take a port from that range in
// between. Only where that range leaves no room below is it ":0".
func freePort() (string, error) {
	const from = 10000
	if lo := ephemeralLow(); lo > from+1000 {
		for range 100 {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(from+mrand.IntN(lo-from))))
			if err != nil {
				continue // taken: another
			}
			addr := l.Addr().String()
			l.Close()
			return addr, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if f := strings.Fields(string(b)); err == nil && len(f) == 2 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return 32768
}

// Start writes the configuration and starts mosquitto, waiting until it
// accepts connections (at most 10 s).
func Start(opt Options) (*Broker, error) {
	if _, err := Binary(); err != nil {
		return nil, err
	}
	plugin, err := dynsecPlugin()
	if err != nil {
		return nil, err
	}
	if opt.MessageSizeLimit == 0 {
		opt.MessageSizeLimit = MessageSizeLimit
	}
	if opt.Addr == "" {
		if opt.Addr, err = freePort(); err != nil {
			return nil, err
		}
	}
	central, err := freePort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(opt.Addr)
	_, cport, _ := net.SplitHostPort(central)
	if err := os.MkdirAll(filepath.Join(opt.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile, err := opt.PKI.issue("broker-"+port, true, opt.ServerIPs)
	if err != nil {
		return nil, err
	}
	dynsec := filepath.Join(opt.Dir, "dynamic-security.json")
	if err := os.WriteFile(dynsec, brokeracl.Config(), 0o600); err != nil {
		return nil, err
	}
	var conf strings.Builder
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to the "mosquitto" user, who cannot
		// read the test's private folder.
		conf.WriteString("user root\n")
	}
	fmt.Fprintf(&conf, "log_dest file %s\nlog_type error\nlog_type warning\nlog_type notice\n", filepath.Join(opt.Dir, "mosquitto.log"))
	conf.WriteString(Render(map[string]string{"data": filepath.Join(opt.Dir, "data"), "limit": strconv.Itoa(opt.MessageSizeLimit),
		"dynsec_plugin": plugin, "dynsec_json": dynsec, "kiosk_port": port, "central_port": cport, "bind": " 127.0.0.1",
		"kiosk_ca": opt.PKI.CAFile, "central_ca": opt.PKI.CentralCAFile, "cert": certFile, "key": keyFile}))
	b := &Broker{opt: opt, Addr: opt.Addr, CentralAddr: central, conf: filepath.Join(opt.Dir, "mosquitto.conf"),
		log: filepath.Join(opt.Dir, "mosquitto.log")}
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		return nil, err
	}
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

// Enrol lets kiosk id in, as the central's enrolment does
// (brokeracl.Enrol, over the central's listener), waiting at most 10 s. The
// plugin keeps it in its file across restarts.
func (b *Broker) Enrol(id string) error {
	tc, err := b.opt.PKI.ClientTLS(CentralUser)
	if err != nil {
		return err
	}
	o := mqtt.NewClientOptions().AddBroker(b.CentralURL()).SetClientID("enrol-" + id).SetTLSConfig(tc).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return fmt.Errorf("mosquittotest: enrol %s: connect: %v", id, t.Error())
	}
	defer c.Disconnect(50)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := brokeracl.Enrol(ctx, c, id); err != nil {
		return fmt.Errorf("mosquittotest: enrol %s: %w: %s", id, err, b.Log())
	}
	return nil
}

func (b *Broker) start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-c", b.conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := os.OpenFile(filepath.Join(b.opt.Dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("mosquittotest: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("mosquittotest: mosquitto exited: %s", b.Log())
		default:
		}
		up := 0
		for _, addr := range []string{b.Addr, b.CentralAddr} {
			if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
				c.Close()
				up++
			}
		}
		if up == 2 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("mosquittotest: mosquitto did not listen on %s within 10s: %s", b.Addr, b.Log())
}

// URL is the kiosks' listener's URL for paho.
func (b *Broker) URL() string { return "ssl://" + b.Addr }

// CentralURL is the central's listener's URL for paho.
func (b *Broker) CentralURL() string { return "ssl://" + b.CentralAddr }

// Dir is the broker's folder (configuration, log, persistence).
func (b *Broker) Dir() string { return b.opt.Dir }

// Port is the broker's TCP port.
func (b *Broker) Port() int {
	_, p, _ := net.SplitHostPort(b.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// CentralPort is the TCP port of the central's listener.
func (b *Broker) CentralPort() int {
	_, p, _ := net.SplitHostPort(b.CentralAddr)
	n, _ := strconv.Atoi(p)
	return n
}

// Log returns the tail of the broker's log, for failure messages.
func (b *Broker) Log() string {
	var s string
	for _, f := range []string{b.log, filepath.Join(b.opt.Dir, "stderr")} {
		data, _ := os.ReadFile(f)
		s += string(data)
	}
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// stop ends the broker with sig and waits at most 10 s (then kills it).
func (b *Broker) stop(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Stop ends the broker gracefully (it saves its persistent sessions).
func (b *Broker) Stop() { b.stop(syscall.SIGTERM) }

// Kill ends the broker at once, as a power cut would.
func (b *Broker) Kill() { b.stop(syscall.SIGKILL) }

// Restart stops the broker gracefully and starts it again on the same port.
func (b *Broker) Restart() error {
	b.Stop()
	return b.start()
}

// Start again after Stop or Kill, on the same port.
func (b *Broker) Start() error { return b.start() }

// EnrolCommands is brokeracl.EnrolCommands for a kiosk id known to be
// valid (nil otherwise).
func EnrolCommands(id string) []byte {
	b, _ := brokeracl.EnrolCommands(id)
	return b
}
