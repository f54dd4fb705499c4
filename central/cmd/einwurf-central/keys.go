package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/einwurf/einwurf/central/keys"
)

func init() {
	register(subcommand{Name: "keygen",
		Synopsis: "create the central's keys (age hybrid identity, signing key) and central.pub.json",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			return func(context.Context) error {
				c, err := keys.Generate(*keyDir)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "keys written to %s; give kiosks %s\n", *keyDir, filepath.Join(*keyDir, "central.pub.json"))
				fmt.Fprintf(e.Stdout, "recipient: %.40s...\n", c.Public().AgeRecipient)
				return nil
			}
		}})
	register(subcommand{Name: "enrol",
		Synopsis: "enrol a kiosk's Ed25519 public key",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			kiosk := fs.String("kiosk", "", "kiosk id")
			pub := fs.String("pub", "", "the kiosk's Ed25519 public key, base64")
			return func(context.Context) error {
				k, err := keys.ParsePublicKey(*pub)
				if err != nil {
					return err
				}
				if err := keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json")).Enrol(*kiosk, k); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "enrolled %s\n", *kiosk)
				return nil
			}
		}})
}
