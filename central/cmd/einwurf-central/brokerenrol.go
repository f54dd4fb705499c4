package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/brokeracl"
)

func init() {
	register(subcommand{Name: "broker-enrol",
		Synopsis: "let an enrolled kiosk in at the broker (its dynamic-security role and client)",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			kiosk := fs.String("kiosk", "", "kiosk id")
			mf := mqttFlags(fs, "enrol")
			return func(ctx context.Context) error {
				if *kiosk == "" {
					return errors.New("broker-enrol: -kiosk is required")
				}
				o, err := mf.options()
				if err != nil {
					return err
				}
				c := mqtt.NewClient(o.MQTTOptions().SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
				if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
					return fmt.Errorf("broker-enrol: connect: %v", t.Error())
				}
				defer c.Disconnect(100)
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if err := brokeracl.Enrol(ctx, c, *kiosk); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "broker: %s may connect with its certificate\n", *kiosk)
				return nil
			}
		}})
}
