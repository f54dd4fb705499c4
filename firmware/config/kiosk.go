package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"

	"github.com/einwurf/einwurf/board"
	"github.com/einwurf/einwurf/wire"
)

// Resolved is what a kiosk's configuration names, read and checked.
type Resolved struct {
	// Central are the central's public keys (mqtt.central_pub).
	Central wire.CentralKeys
	// TLS is mutual TLS with the kiosk's client certificate, nil when no
	// broker is a TLS one.
	TLS *tls.Config
	// Profile is the board profile (board).
	Profile board.Profile
}

// maxFile bounds the certificate, key and central key files read here.
const maxFile = 1 << 20

// CheckKiosk checks what a kiosk (einwurfd) needs beyond Validate and
// reads every file the configuration names: at least one broker, the
// central's keys, the CA certificate and the client's certificate and key
// for TLS brokers, the board profile. It creates nothing, so a bad
// configuration is reported before any key or folder exists. Every error
// wraps ErrInvalid and names the field.
func (c Config) CheckKiosk() (Resolved, error) {
	var r Resolved
	if err := c.Validate(); err != nil {
		return r, err
	}
	if len(c.MQTT.Brokers) == 0 {
		return r, fmt.Errorf("%w: mqtt.brokers: a kiosk needs at least one broker", ErrInvalid)
	}
	if c.MQTT.CentralPub == "" {
		return r, fmt.Errorf("%w: mqtt.central_pub: missing (the path of the central's central.pub.json)", ErrInvalid)
	}
	b, err := readFile("mqtt.central_pub", c.MQTT.CentralPub)
	if err != nil {
		return r, err
	}
	if r.Central, err = wire.ParseCentralKeys(b); err != nil {
		return r, fmt.Errorf("%w: mqtt.central_pub %s: %v", ErrInvalid, c.MQTT.CentralPub, err)
	}
	if c.MQTT.CACert != "" || c.MQTT.ClientCert != "" || c.MQTT.ClientKey != "" {
		if r.TLS, err = c.MQTT.clientTLS(); err != nil {
			return r, err
		}
	}
	if r.Profile, err = board.LoadProfile(c.Board); err != nil {
		return r, fmt.Errorf("%w: board %q: %v", ErrInvalid, c.Board, err)
	}
	if c.Service.BadgeReader == "wiegand" {
		for _, s := range []board.Signal{board.WiegandD0, board.WiegandD1} {
			if _, ok := r.Profile.Lines[s]; !ok {
				return r, fmt.Errorf("%w: service.badge_reader \"wiegand\": board %s maps no %s line", ErrInvalid, r.Profile.Name, s)
			}
		}
	}
	return r, nil
}

// clientTLS loads the CA and the client's certificate and key.
func (m MQTT) clientTLS() (*tls.Config, error) {
	for _, f := range []struct{ field, path string }{{"mqtt.ca_cert", m.CACert}, {"mqtt.client_cert", m.ClientCert}, {"mqtt.client_key", m.ClientKey}} {
		if f.path == "" {
			return nil, fmt.Errorf("%w: %s: missing (TLS needs ca_cert, client_cert and client_key)", ErrInvalid, f.field)
		}
	}
	ca, err := readFile("mqtt.ca_cert", m.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%w: mqtt.ca_cert %s: no PEM certificate in it", ErrInvalid, m.CACert)
	}
	certPEM, err := readFile("mqtt.client_cert", m.ClientCert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile("mqtt.client_key", m.ClientKey)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: mqtt.client_cert/client_key: %v", ErrInvalid, err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// readFile reads a small file the configuration names in field.
func readFile(field, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, field, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, field, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%w: %s %s: larger than %d bytes", ErrInvalid, field, path, maxFile)
	}
	return b, nil
}
