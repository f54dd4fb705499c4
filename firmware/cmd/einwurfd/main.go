// Command einwurfd is the kiosk appliance. It is the one composition root:
// only here are concrete drivers chosen — the board's, or with -sim the
// simulated board, scanner, barcode reader, an embedded MQTT broker and the
// central's ingest in-process, all state under -data.
//
//	einwurfd -sim                 the appliance in simulation (make run)
//	einwurfd -sim -demo           one customer visit without a person
//	einwurfd -config FILE         on a kiosk
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "einwurfd:", err)
		os.Exit(1)
	}
}

// flags are einwurfd's command line.
type flags struct {
	sim        bool
	demo       bool
	data       string
	config     string
	listen     string
	brokerAddr string
	code       string
	verbose    bool
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("einwurfd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&f.sim, "sim", false, "run in simulation: simulated devices, embedded broker and central")
	fs.BoolVar(&f.demo, "demo", false, "with -sim: run one customer visit without a person, print the filed PDF's path, exit")
	fs.StringVar(&f.data, "data", "./var", "folder for all state")
	fs.StringVar(&f.config, "config", "", "configuration file (JSON); defaults apply where it is silent")
	fs.StringVar(&f.listen, "listen", "", "UI address (loopback only); overrides the configuration")
	fs.StringVar(&f.brokerAddr, "broker", "127.0.0.1:1883", "with -sim: address of the embedded MQTT broker")
	fs.StringVar(&f.code, "code", "035F083761", "with -demo: the number the simulated reader reads")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.demo && !f.sim {
		return f, errors.New("-demo needs -sim")
	}
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
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	start := startBoard
	if f.sim {
		start = startSim
	}
	a, err := start(ctx, f)
	if err != nil {
		return err
	}
	defer a.Close()
	if f.demo {
		path, err := a.demo(ctx, f.code)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintln(stdout, path)
		return nil
	}
	if !f.sim {
		<-ctx.Done()
		return nil
	}
	fmt.Fprintf(stdout, "Einwurf kiosk (simulation) %s\n", version)
	fmt.Fprintf(stdout, "  kiosk UI:      %s\n", a.uiURL)
	fmt.Fprintf(stdout, "  MQTT broker:   %s\n", a.broker.URL())
	fmt.Fprintf(stdout, "  filed PDFs in: %s\n", a.inbox)
	fmt.Fprintln(stdout, "  type a number on stdin to 'scan' it with the simulated reader; Ctrl-C stops")
	go a.simReader.Feed(ctx, stdin)
	<-ctx.Done()
	return nil
}
