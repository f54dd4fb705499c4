// Command einwurfd is the kiosk appliance, the kiosk's composition root:
// only here are the board's concrete drivers chosen (GPIO lines, watchdog,
// UART barcode reader, USB or network scanner, TLS broker connection), as
// the configuration names them. It links no simulator and no central; the
// simulated appliance is firmware/cmd/einwurf-sim (make run).
//
//	einwurfd -config /etc/einwurf/einwurfd.json -data /var/lib/einwurf
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := noCoreDumps(); err != nil {
		fmt.Fprintln(os.Stderr, "einwurfd: not dumpable:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "einwurfd:", err)
		os.Exit(1)
	}
}

// flags are einwurfd's command line.
type flags struct {
	data    string
	config  string
	listen  string
	verbose bool
	// check is a configuration file to check, and nothing else.
	check string
	// launch is the file the UI's launch URL is kept in.
	launch string
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("einwurfd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "einwurfd %s: the kiosk appliance (for the simulation run einwurf-sim)\n\n", version)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.data, "data", "/var/lib/einwurf", "folder for all state")
	fs.StringVar(&f.config, "config", "", "configuration file (JSON); defaults apply where it is silent")
	fs.StringVar(&f.listen, "listen", "", "UI address (loopback only); overrides the configuration")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	fs.StringVar(&f.launch, "ui-launch-file", "", "file to keep the kiosk browser's one-time UI URL in (default $RUNTIME_DIRECTORY/"+launchFileName+" under systemd)")
	fs.StringVar(&f.check, "check-config", "", "check this configuration file (and the files it names), create nothing, exit")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return f, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if f.check != "" {
		return checkConfig(f, stdout)
	}
	log := appliance.NewLogger(stderr, f.verbose)
	a, err := startBoard(ctx, f, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if path := launchFile(f.launch); path != "" {
		if err := keepLaunchURL(ctx, a, path); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "einwurfd %s: kiosk %s, UI %s\n", version, a.KioskID, a.UIURL)
	<-ctx.Done()
	return nil
}

// checkConfig is -check-config: it reads and checks the configuration and
// every file it names, like a start would, and creates nothing.
func checkConfig(f flags, stdout io.Writer) error {
	cfg, err := config.Load(f.check)
	if err != nil {
		return fmt.Errorf("%s: %w", f.check, err)
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	res, err := cfg.CheckKiosk()
	if err != nil {
		return fmt.Errorf("%s: %w", f.check, err)
	}
	if err := checkUpdate(cfg, f.data); err != nil {
		return fmt.Errorf("%s: %w", f.check, err)
	}
	id := cfg.KioskID
	if id == "" {
		id = "(from the board)"
	}
	fmt.Fprintf(stdout, "%s: ok: kiosk %s, board %s, %d broker(s), TLS %v\n", f.check, id, res.Profile.Name, len(cfg.MQTT.Brokers), res.TLS != nil)
	return nil
}
