// Package mosquittotest starts a real mosquitto 2.0 broker for tests: a
// certificate authority and certificates made on the spot, a TLS listener
// on 127.0.0.1 that requires a client certificate and takes the
// certificate's common name as the user name, and the production ACL, in
// which a kiosk may publish only under einwurf/v1/k/<its id>/ and read only
// einwurf/v1/c/<its id>/.
//
// It is a test helper (as net/http/httptest is), not part of the appliance.
package mosquittotest

import (
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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CentralUser is the common name of the central's certificate; the ACL
// gives it every topic.
const CentralUser = "central"

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

// PKI is a throw-away certificate authority in a folder.
type PKI struct {
	Dir    string
	CAFile string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	mu     sync.Mutex
	serial int64
}

// NewPKI creates a CA in dir.
func NewPKI(dir string) (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "einwurf test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), ca: ca, caKey: key, serial: 1}
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// Issue makes a certificate with common name cn (a server certificate for
// 127.0.0.1 when server is true) and writes cn.pem and cn.key.
func (p *PKI) Issue(cn string, server bool) (certFile, keyFile string, err error) {
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
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
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
	// Dir holds the configuration, ACL, persistence and log.
	Dir string
	PKI *PKI
	// Addr is "127.0.0.1:port"; empty picks a free port.
	Addr string
	// MessageSizeLimit overrides MessageSizeLimit (benchmarks comparing
	// with a single large mosquitto_pub message need more); 0 keeps it.
	MessageSizeLimit int
}

// Broker is a running mosquitto.
type Broker struct {
	opt  Options
	Addr string
	conf string
	log  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// ACL is the access control list the broker runs with: the production one.
const ACL = `# The central may do everything.
user ` + CentralUser + `
topic readwrite #

# A kiosk (user name = common name of its certificate) may publish only
# under its own topics and read only what the central sends it.
pattern write einwurf/v1/k/%u/#
pattern read einwurf/v1/c/%u/#
`

// Start writes the configuration and starts mosquitto, waiting until it
// accepts connections (at most 10 s).
func Start(opt Options) (*Broker, error) {
	if _, err := Binary(); err != nil {
		return nil, err
	}
	if opt.MessageSizeLimit == 0 {
		opt.MessageSizeLimit = MessageSizeLimit
	}
	if opt.Addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		opt.Addr = l.Addr().String()
		l.Close()
	}
	_, port, _ := net.SplitHostPort(opt.Addr)
	if err := os.MkdirAll(filepath.Join(opt.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	certFile, keyFile, err := opt.PKI.Issue("broker-"+port, true)
	if err != nil {
		return nil, err
	}
	acl := filepath.Join(opt.Dir, "acl")
	if err := os.WriteFile(acl, []byte(ACL), 0o600); err != nil {
		return nil, err
	}
	var conf strings.Builder
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to the "mosquitto" user, who cannot
		// read the test's private folder.
		conf.WriteString("user root\n")
	}
	fmt.Fprintf(&conf, `persistence true
persistence_location %s/
autosave_interval 30
log_dest file %s
log_type error
log_type warning
log_type notice
message_size_limit %d
max_queued_messages 10000
acl_file %s
listener %s 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
`, filepath.Join(opt.Dir, "data"), filepath.Join(opt.Dir, "mosquitto.log"), opt.MessageSizeLimit, acl, port,
		opt.PKI.CAFile, certFile, keyFile)
	b := &Broker{opt: opt, Addr: opt.Addr, conf: filepath.Join(opt.Dir, "mosquitto.conf"),
		log: filepath.Join(opt.Dir, "mosquitto.log")}
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		return nil, err
	}
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
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
		c, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("mosquittotest: mosquitto did not listen on %s within 10s: %s", b.Addr, b.Log())
}

// URL is the broker's URL for paho.
func (b *Broker) URL() string { return "ssl://" + b.Addr }

// Dir is the broker's folder (configuration, log, persistence).
func (b *Broker) Dir() string { return b.opt.Dir }

// Port is the broker's TCP port.
func (b *Broker) Port() int {
	_, p, _ := net.SplitHostPort(b.Addr)
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
