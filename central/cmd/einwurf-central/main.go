// Command einwurf-central is the reference receiving side.
//
//	einwurf-central keygen -keys DIR
//	    create the central's keys (age hybrid identity, signing key) and
//	    central.pub.json for the kiosks
//	einwurf-central enrol -keys DIR -kiosk ID -pub BASE64
//	    enrol a kiosk's Ed25519 public key
//	einwurf-central ingest -keys DIR -state DIR -inbox DIR -broker URL [...]
//	    receive, verify, decrypt and file packets; run several with the same
//	    -group (a shared subscription) to scale out
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "einwurf-central:", err)
		os.Exit(1)
	}
}

const usage = "usage: einwurf-central keygen|enrol|ingest [flags] (-h for flags)"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	fs := flag.NewFlagSet("einwurf-central "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyDir := fs.String("keys", "central-keys", "folder of the central's keys and kiosk register")
	switch args[0] {
	case "keygen":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := keys.Generate(*keyDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "keys written to %s; give kiosks %s\n", *keyDir, filepath.Join(*keyDir, "central.pub.json"))
		fmt.Fprintf(stdout, "recipient: %.40s...\n", c.Public().AgeRecipient)
		return nil
	case "enrol":
		kiosk := fs.String("kiosk", "", "kiosk id")
		pub := fs.String("pub", "", "the kiosk's Ed25519 public key, base64")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		k, err := keys.ParsePublicKey(*pub)
		if err != nil {
			return err
		}
		if err := keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json")).Enrol(*kiosk, k); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enrolled %s\n", *kiosk)
		return nil
	case "ingest":
		state := fs.String("state", "central-state", "ingest state folder (shared by all ingest processes)")
		inbox := fs.String("inbox", "inbox", "the inbox on the central file system")
		brokers := fs.String("broker", "tcp://127.0.0.1:1883", "broker URLs, comma-separated")
		id := fs.String("id", "ingest-1", "MQTT client id of this process")
		group := fs.String("group", "ingest", "shared subscription group")
		user := fs.String("user", "central", "MQTT user name")
		pass := fs.String("password-file", "", "file holding the MQTT password")
		ca := fs.String("ca", "", "broker CA certificate (PEM) for TLS")
		cert := fs.String("cert", "", "client certificate (PEM) for TLS")
		key := fs.String("key", "", "client key (PEM) for TLS")
		workers := fs.Int("workers", 4, "messages handled at once")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := keys.Load(*keyDir)
		if err != nil {
			return err
		}
		in, err := ingest.New(ingest.Config{StateDir: *state, InboxDir: *inbox, Identity: c.Identity,
			SignKey: c.SignKey, Kiosks: keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json"))})
		if err != nil {
			return err
		}
		opts := ingest.ClientOptions{Brokers: strings.Split(*brokers, ","), ClientID: *id, Username: *user}
		if *pass != "" {
			b, err := os.ReadFile(*pass)
			if err != nil {
				return err
			}
			opts.Password = strings.TrimSpace(string(b))
		}
		if *ca != "" {
			if opts.TLS, err = tlsConfig(*ca, *cert, *key); err != nil {
				return err
			}
		}
		slog.Info("ingest running", "id", *id, "group", *group)
		if err := ingest.Run(ctx, opts, in, *group, *workers); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	return errors.New(usage)
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
