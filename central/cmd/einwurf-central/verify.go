package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/wire"
)

// errInvalid is returned when a statement does not verify; what was wrong
// is printed, and the exit status is 1.
var errInvalid = errors.New("statement NOT valid")

func init() {
	register(subcommand{Name: "verify",
		Synopsis: "check the signed statement from a receipt's QR code (argument or standard input)",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			pdf := fs.String("pdf", "", "also check that this PDF is the one the statement names")
			stdin := io.Reader(os.Stdin)
			return func(ctx context.Context) error {
				text := strings.Join(e.Args, " ")
				if text == "" {
					b, err := io.ReadAll(io.LimitReader(stdin, wire.MaxStatement+1))
					if err != nil {
						return err
					}
					text = string(b)
				}
				return verifyStatement(e.Stdout, keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json")), text, *pdf)
			}
		}})
}

// verifyStatement checks text against the kiosk register and prints what
// the statement proves.
func verifyStatement(w io.Writer, reg *keys.Register, text, pdf string) error {
	st, err := wire.ParseStatement(text)
	if err != nil {
		fmt.Fprintf(w, "NOT valid: not a receipt statement (%v)\n", err)
		return fmt.Errorf("%w: %w", errInvalid, err)
	}
	all, err := reg.Keys(st.KioskID)
	if errors.Is(err, keys.ErrUnknownKiosk) {
		fmt.Fprintf(w, "NOT valid: kiosk %s is not enrolled\n", st.KioskID)
		return fmt.Errorf("%w: %w", errInvalid, err)
	}
	if err != nil {
		return err // our own register failed: no verdict
	}
	// The key the statement names: the kiosk's current one or one it had
	// before a rotation.
	which := ""
	for i, pub := range all {
		if wire.KeyIDOf(pub) != st.KeyID {
			continue
		}
		if err := st.Verify(pub); err != nil {
			break
		}
		which = "current key"
		if i > 0 {
			which = "earlier key, since rotated"
		}
	}
	if which == "" {
		fmt.Fprintf(w, "NOT valid: the signature is by no key kiosk %s has had (statement names key %x)\n", st.KioskID, st.KeyID)
		return fmt.Errorf("%w: %w", errInvalid, wire.ErrSignature)
	}
	if pdf != "" {
		b, err := os.ReadFile(pdf)
		if err != nil {
			return err
		}
		if sha256.Sum256(b) != st.PDF {
			fmt.Fprintf(w, "NOT valid for %s: the statement names another PDF\n", pdf)
			return errInvalid
		}
	}
	fmt.Fprintf(w, "valid: signed by kiosk %s (key %x, its %s)\n", st.KioskID, st.KeyID, which)
	fmt.Fprintf(w, "packet:   %s\n", st.PacketID)
	fmt.Fprintf(w, "accepted: %s\n", st.Accepted.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "pages:    %d\n", st.Pages)
	fmt.Fprintf(w, "pdf:      sha256 %s\n", hex.EncodeToString(st.PDF[:]))
	fmt.Fprintf(w, "receipt:  %s\n", st.Code)
	return nil
}
