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
	"time"

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
			db := dbFlag(fs)
			lease := fs.Duration("lease", ingest.DefaultLease, "how long a claim to file a packet holds (a killed process's packet is filed by another after it)")
			mf := mqttFlags(fs, "ingest-1")
			return func(ctx context.Context) error {
				c, err := keys.Load(*keyDir)
				if err != nil {
					return err
				}
				opts, err := mf.options()
				if err != nil {
					return err
				}
				st, err := openStore(ctx, *db)
				if err != nil {
					return err
				}
				defer st.Close()
				in, err := ingest.New(ingest.Config{StateDir: *state, InboxDir: *inbox, Identity: c.Identity,
					SignKey: c.SignKey, Kiosks: keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json")), Logger: e.Log,
					Ledger: st, Owner: opts.ClientID, Lease: *lease, OnFault: ingest.RaiseStorageAlarms(ctx, st, e.Log, nil)})
				if err != nil {
					return err
				}
				go forgetDaily(ctx, in, e)
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

// forgetDaily forgets ledger records past the replay horizon, at start and
// then once a day, until ctx ends.
func forgetDaily(ctx context.Context, in *ingest.Ingest, e *env) {
	for {
		if n, err := in.Forget(ctx); err != nil {
			e.Log.Warn("ingest: forgetting old ledger records failed", "err", err)
		} else if n > 0 {
			e.Log.Info("ingest: ledger records past the replay horizon forgotten", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(24 * time.Hour):
		}
	}
}
