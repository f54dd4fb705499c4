// Command einwurf-launch starts the kiosk program from its application
// slot, as U-Boot's boot script starts a root file system: it counts a boot
// on trial and falls back to the other slot past the boot limit (ota.Slots
// Boot), then executes the slot's einwurfd with EINWURF_SLOT and
// EINWURF_OTA_DIR set. systemd restarts it when the program exits (after a
// switch, a rollback, or a crash).
//
//	einwurf-launch -dir /var/lib/einwurf/app -- -config /etc/einwurf/einwurfd.json
//	einwurf-launch -dir DIR -install bundle.tar     (once: factory install into slot a)
//	einwurf-launch -dir DIR -factory /usr/lib/einwurf/factory -- ARGS
//
// With -factory (the Debian package's unit), the folder the package ships
// (einwurfd, VERSION) is the factory bundle: installed into slot a at the
// first start, and into the other slot, switched to, when an upgrade of
// the package brought a newer VERSION than the booted slot holds and no
// over-the-air update is under way (ota.InstallPackaged). Then it boots.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/einwurf/einwurf/ota"
	"github.com/einwurf/einwurf/ota/durable"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "einwurf-launch:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("einwurf-launch", flag.ContinueOnError)
	dir := fs.String("dir", "/var/lib/einwurf/app", "folder of the application slots")
	install := fs.String("install", "", "install this bundle into slot a of fresh slots, then exit")
	factory := fs.String("factory", "", "the package's factory bundle folder (einwurfd, VERSION): installed when the slots are fresh or hold an older version, then boot")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *install != "" {
		b, err := os.ReadFile(*install)
		if err != nil {
			return err
		}
		return ota.InstallFactory(durable.OS{}, *dir, b)
	}
	if *factory != "" {
		v, err := os.ReadFile(filepath.Join(*factory, ota.BundleVersion))
		if err != nil {
			return fmt.Errorf("factory bundle: %w", err)
		}
		did, err := ota.InstallPackaged(durable.OS{}, *dir, string(v), func() ([]byte, error) { return ota.TarFolder(*factory) })
		if err != nil {
			return fmt.Errorf("factory bundle: %w", err)
		}
		if did != ota.PackagedNothing {
			fmt.Fprintf(os.Stderr, "einwurf-launch: %s bundle %s installed from %s\n", did, strings.TrimSpace(string(v)), *factory)
		}
	}
	s := ota.AppSlots(durable.OS{}, *dir)
	slot, err := s.Boot()
	if err != nil {
		return err
	}
	bin := s.Binary(slot)
	env := append(os.Environ(), ota.EnvSlot+"="+slot, ota.EnvDir+"="+*dir)
	return syscall.Exec(bin, append([]string{bin}, fs.Args()...), env)
}
