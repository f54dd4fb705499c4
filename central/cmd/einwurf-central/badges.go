package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/argon2"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/wire"
)

// PIN hashing parameters of the lists this command makes: argon2id with
// OWASP's smallest recommended setting (19 MiB, 2 passes), which a kiosk's
// board still checks in well under a second.
const (
	pinTime      = 2
	pinMemoryKiB = 19 << 10
	pinThreads   = 1
	pinHashLen   = 32
)

// errStaffInput is a line of the staff list's input that is not
// "badge NUMBER" or "pin SLOT PIN".
var errStaffInput = errors.New("staff list input")

func init() {
	register(subcommand{Name: "badges",
		Synopsis: "sign the kiosks' staff list (service badges and PINs) from standard input",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			seq := fs.Uint64("seq", uint64(time.Now().Unix()), "the list's sequence number (grows with every list)")
			out := fs.String("out", "", "write the signed list here (default: standard output)")
			stdin := io.Reader(os.Stdin)
			return func(ctx context.Context) error {
				c, err := keys.Load(*keyDir)
				if err != nil {
					return err
				}
				l, err := staffList(stdin, *seq)
				if err != nil {
					return err
				}
				b, err := wire.SignStaffList(c.SignKey, l)
				if err != nil {
					return err
				}
				if *out == "" {
					_, err = e.Stdout.Write(append(b, '\n'))
					return err
				}
				if err := os.WriteFile(*out, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(e.Stderr, "staff list %d: %d badges, %d PINs → %s\n", l.Seq, len(l.Badges), len(l.PINs), *out)
				return nil
			}
		}})
}

func init() {
	register(subcommand{Name: "staff-push",
		Synopsis: "send a signed staff list to kiosks (retained on each kiosk's staff-list topic)",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			list := fs.String("list", "", "the signed staff list (output of einwurf-central badges)")
			kiosks := fs.String("kiosk", "", "kiosk ids, comma-separated")
			mf := mqttFlags(fs, "staff-push")
			return func(ctx context.Context) error {
				if *list == "" || *kiosks == "" {
					return errors.New("staff-push: -list and -kiosk are required")
				}
				c, err := keys.Load(*keyDir)
				if err != nil {
					return err
				}
				b, err := os.ReadFile(*list)
				if err != nil {
					return err
				}
				// Only a list this central signed goes out: a kiosk would
				// refuse any other, and say so with an alarm.
				l, err := wire.OpenStaffList(c.SignKey.Public().(ed25519.PublicKey), bytes.TrimSpace(b))
				if err != nil {
					return fmt.Errorf("staff-push: %s: %w", *list, err)
				}
				ids := strings.Split(*kiosks, ",")
				for _, id := range ids {
					if !wire.ValidID(id) {
						return fmt.Errorf("staff-push: kiosk id %q", id)
					}
				}
				o, err := mf.options()
				if err != nil {
					return err
				}
				cl := mqtt.NewClient(o.MQTTOptions().SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
				if t := cl.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
					return fmt.Errorf("staff-push: connect: %v", t.Error())
				}
				defer cl.Disconnect(100)
				for _, id := range ids {
					t := cl.Publish(wire.StaffListTopic(id), 1, true, bytes.TrimSpace(b))
					if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
						return fmt.Errorf("staff-push: %s: %v", id, t.Error())
					}
				}
				fmt.Fprintf(e.Stdout, "staff list %d (%d badges, %d PINs) sent to %d kiosk(s)\n", l.Seq, len(l.Badges), len(l.PINs), len(ids))
				return nil
			}
		}})
}

// staffList reads lines "badge NUMBER" and "pin SLOT PIN" (blank lines
// and # comments skipped) and hashes them into a list. Numbers and PINs
// go in on standard input, never on the command line, and only their
// hashes come out.
func staffList(r io.Reader, seq uint64) (wire.StaffList, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return wire.StaffList{}, err
	}
	l := wire.StaffList{Seq: seq, Issued: time.Now().UTC(), Salt: hex.EncodeToString(salt)}
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case f[0] == "badge" && len(f) == 2 && wire.ValidBadgeNumber(f[1]):
			l.Badges = append(l.Badges, wire.BadgeHash(l.Salt, f[1]))
		case f[0] == "pin" && len(f) == 3 && validPIN(f[2]):
			slot, err := strconv.Atoi(f[1])
			if err != nil {
				return wire.StaffList{}, fmt.Errorf("%w: line %d: slot %q", errStaffInput, n, f[1])
			}
			ps := wire.PINSlot{Slot: slot, Salt: make([]byte, 16), Time: pinTime, MemoryKiB: pinMemoryKiB, Threads: pinThreads}
			if _, err := rand.Read(ps.Salt); err != nil {
				return wire.StaffList{}, err
			}
			ps.Hash = argon2.IDKey([]byte(f[2]), ps.Salt, ps.Time, ps.MemoryKiB, ps.Threads, pinHashLen)
			l.PINs = append(l.PINs, ps)
		default:
			// The line may hold a PIN: never echo it.
			return wire.StaffList{}, fmt.Errorf("%w: line %d is not \"badge NUMBER\" (4–20 digits) or \"pin SLOT PIN\" (6–12 digits)", errStaffInput, n)
		}
	}
	if err := sc.Err(); err != nil {
		return wire.StaffList{}, err
	}
	return l, l.Check()
}

// validPIN: 6 to 12 digits.
func validPIN(s string) bool {
	if len(s) < 6 || len(s) > 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
