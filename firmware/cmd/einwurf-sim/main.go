// Command einwurf-sim is the kiosk appliance in simulation, for a laptop
// (make run): the same appliance as einwurfd (firmware/appliance) on a
// simulated board, eSCL scanner and barcode reader, with an embedded MQTT
// broker and the central's ingest in-process, all state under -data.
//
//	einwurf-sim                 the appliance in simulation (make run)
//	einwurf-sim -demo           one customer visit without a person
//
// It is never shipped to a kiosk: einwurfd links none of this.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	scannersim "github.com/einwurf/einwurf/drivers/scanner/sim"
	"github.com/einwurf/einwurf/firmware/appliance"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "einwurf-sim:", err)
		os.Exit(1)
	}
}

// defaultBroker is the embedded broker's address unless -broker says
// otherwise; when something else holds it, a free port is taken instead.
const defaultBroker = "127.0.0.1:1883"

// flags are einwurf-sim's command line.
type flags struct {
	demo       bool
	data       string
	config     string
	listen     string
	brokerAddr string
	brokerSet  bool // -broker given: its address or nothing
	code       string
	profile    string
	dashboard  string // the central's dashboard address
	// dashboardSet: -dashboard given, so its address or nothing.
	dashboardSet bool
	verbose      bool
	// Tests only (no command-line flag): the watchdog's time-out and pet
	// interval and the device loop's interval (0: the appliance's default).
	dogTimeout, dogInterval, deviceInterval time.Duration
	// ext (tests only) routes the kiosk, the ingest and the monitor
	// through another broker (a real mosquitto) instead of the embedded
	// one.
	ext *externalBroker
}

// externalBroker is a broker the simulation's parts use instead of the
// embedded one (tests only: mosquitto with its TLS and ACL).
type externalBroker struct {
	KioskURL, CentralURL string
	// KioskTLS lets the kiosk in (its certificate and the broker's ACL)
	// and returns its TLS configuration.
	KioskTLS   func(kioskID string) (*tls.Config, error)
	CentralTLS *tls.Config
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("einwurf-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "einwurf-sim %s: the kiosk appliance in simulation, with broker and central in-process\n\n", version)
		fs.PrintDefaults()
	}
	fs.BoolVar(&f.demo, "demo", false, "run one customer visit without a person, print the filed PDF's path, exit")
	fs.StringVar(&f.data, "data", "./var", "folder for all state")
	fs.StringVar(&f.config, "config", "", "configuration file (JSON); defaults apply where it is silent")
	fs.StringVar(&f.listen, "listen", "", "UI address (loopback only); overrides the configuration")
	fs.StringVar(&f.brokerAddr, "broker", defaultBroker, "address of the embedded MQTT broker; when the default is taken, a free port")
	fs.StringVar(&f.code, "code", "035F083761", "the number on the simulated pages; with -demo also the one the simulated reader reads")
	fs.StringVar(&f.profile, "scanner-profile", "spec", "device profile the simulated scanner plays: "+strings.Join(scannersim.Profiles(), ", ")+" (the simulation page switches it too)")
	fs.StringVar(&f.dashboard, "dashboard", "127.0.0.1:8090", "address of the central's dashboard (loopback)")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	fs.Visit(func(fl *flag.Flag) {
		f.brokerSet = f.brokerSet || fl.Name == "broker"
		f.dashboardSet = f.dashboardSet || fl.Name == "dashboard"
	})
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return f, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := appliance.NewLogger(stderr, f.verbose)
	s, err := startSim(ctx, f, log)
	if err != nil {
		return err
	}
	defer s.Close()
	if f.demo {
		path, err := s.demo(ctx, f.code)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintln(stdout, path)
		return nil
	}
	a := s.app()
	fmt.Fprintf(stdout, "Einwurf kiosk (simulation) %s\n", version)
	fmt.Fprintf(stdout, "  kiosk UI:      %s (open this once; later %s)\n", strings.TrimSuffix(a.UIURL, "/")+a.UILaunch(), a.UIURL)
	fmt.Fprintf(stdout, "  simulation:    %ssim/ (scanner profile %s; faults to trigger)\n", a.UIURL, s.scanner.Server().Profile().Name)
	fmt.Fprintf(stdout, "  MQTT broker:   %s\n", s.broker.URL())
	if s.brokerMoved {
		fmt.Fprintf(stdout, "                 (%s is taken by another program; -broker ADDR picks one)\n", defaultBroker)
	}
	fmt.Fprintf(stdout, "  filed PDFs in: %s\n", s.inbox)
	fmt.Fprintf(stdout, "  dashboard:     %s (first admin: einwurf-central useradd -db %s -login admin -role admin)\n", s.dashboard.URL, s.dashboard.DB)
	fmt.Fprintln(stdout, "  type a number on stdin to 'scan' it with the simulated reader; Ctrl-C stops")
	go s.reader.Feed(ctx, stdin)
	select {
	case <-ctx.Done():
	case <-s.restart: // an update switched slots: the launcher starts the other one
		fmt.Fprintln(stdout, "restarting for an update")
	}
	return nil
}
