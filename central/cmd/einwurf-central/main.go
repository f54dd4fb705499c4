// Command einwurf-central is the reference receiving side.
//
//	einwurf-central -h                 list the subcommands
//	einwurf-central SUBCOMMAND -h      a subcommand's flags
//
// The subcommands are rows of one table (see subcommand and register): each
// lives in its own file and registers itself, so adding one touches no
// other file.
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
	"sort"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "einwurf-central:", err)
		os.Exit(1)
	}
}

// env is what a subcommand gets besides its flags.
type env struct {
	Stdout, Stderr io.Writer
	Log            *slog.Logger
	// Args are the positional arguments left after the flags.
	Args []string
}

// subcommand is one row of the command table.
type subcommand struct {
	// Name is the word after einwurf-central.
	Name string
	// Synopsis is one line for the list that -h prints.
	Synopsis string
	// Setup defines the subcommand's flags on fs and returns the function
	// that runs it once the flags are parsed.
	Setup func(fs *flag.FlagSet, e *env) func(ctx context.Context) error
}

// table holds the subcommands by name. It is filled by register from the
// init functions of the files that define them, and only read afterwards.
var table = map[string]subcommand{}

// register adds a subcommand to the table; call it from an init function.
func register(c subcommand) {
	if _, dup := table[c.Name]; dup {
		panic("einwurf-central: subcommand registered twice: " + c.Name)
	}
	table[c.Name] = c
}

// errUsage is returned (after the usage was printed) for a missing or
// unknown subcommand.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: einwurf-central SUBCOMMAND [flags]   (einwurf-central SUBCOMMAND -h for its flags)")
	fmt.Fprintln(w, "\nsubcommands:")
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, table[n].Synopsis)
	}
}

// run runs one subcommand. -h (or help) prints the usage to stdout and
// returns nil; a subcommand's -h prints its flags and returns nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	c, ok := table[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "einwurf-central: unknown subcommand %q\n", args[0])
		usage(stderr)
		return errUsage
	}
	e := &env{Stdout: stdout, Stderr: stderr, Log: slog.New(slog.NewTextHandler(stderr, nil))}
	fs := flag.NewFlagSet("einwurf-central "+c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	body := c.Setup(fs, e)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "einwurf-central %s: %s\n\nflags:\n", c.Name, c.Synopsis)
		fs.PrintDefaults()
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		if a == "--" {
			break
		}
	}
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	e.Args = fs.Args()
	return body(ctx)
}

// keysFlag defines the -keys flag every subcommand that needs the central's
// keys shares.
func keysFlag(fs *flag.FlagSet) *string {
	return fs.String("keys", "central-keys", "folder of the central's keys and kiosk register")
}
