package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
)

func init() {
	register(subcommand{Name: "ingest",
		Synopsis: "receive, verify, decrypt and file packets (several with one -group scale out)",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			state := fs.String("state", "central-state", "ingest state folder (shared by all ingest processes)")
			inbox := fs.String("inbox", "inbox", "the inbox on the central file system")
			group := fs.String("group", "ingest", "shared subscription group")
			workers := fs.Int("workers", 4, "messages handled at once")
			mf := mqttFlags(fs, "ingest-1")
			return func(ctx context.Context) error {
				c, err := keys.Load(*keyDir)
				if err != nil {
					return err
				}
				in, err := ingest.New(ingest.Config{StateDir: *state, InboxDir: *inbox, Identity: c.Identity,
					SignKey: c.SignKey, Kiosks: keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json")), Logger: e.Log})
				if err != nil {
					return err
				}
				opts, err := mf.options()
				if err != nil {
					return err
				}
				e.Log.Info("ingest running", "id", opts.ClientID, "group", *group)
				if err := ingest.Run(ctx, opts, in, *group, *workers); err != nil && !errors.Is(err, context.Canceled) {
					return err
				}
				return nil
			}
		}})
}

// brokerFlags are the flags of a subcommand that talks to the broker.
type brokerFlags struct {
	brokers, id, user, pass, ca, cert, key *string
}

// mqttFlags defines the broker flags on fs; id is the default client id.
func mqttFlags(fs *flag.FlagSet, id string) brokerFlags {
	return brokerFlags{
		brokers: fs.String("broker", "tcp://127.0.0.1:1883", "broker URLs, comma-separated"),
		id:      fs.String("id", id, "MQTT client id of this process"),
		user:    fs.String("user", "central", "MQTT user name"),
		pass:    fs.String("password-file", "", "file holding the MQTT password"),
		ca:      fs.String("ca", "", "broker CA certificate (PEM) for TLS"),
		cert:    fs.String("cert", "", "client certificate (PEM) for TLS"),
		key:     fs.String("key", "", "client key (PEM) for TLS"),
	}
}

// options turns the parsed flags into client options.
func (f brokerFlags) options() (ingest.ClientOptions, error) {
	opts := ingest.ClientOptions{Brokers: strings.Split(*f.brokers, ","), ClientID: *f.id, Username: *f.user}
	if *f.pass != "" {
		b, err := os.ReadFile(*f.pass)
		if err != nil {
			return opts, err
		}
		opts.Password = strings.TrimSpace(string(b))
	}
	if *f.ca != "" {
		var err error
		if opts.TLS, err = tlsConfig(*f.ca, *f.cert, *f.key); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// tlsConfig builds a mutual-TLS client configuration.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no CA certificate in " + caFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}
