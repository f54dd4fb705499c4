package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/release"
	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/firmware/appliance"
	"github.com/einwurf/einwurf/firmware/broker"
	"github.com/einwurf/einwurf/firmware/config"
	"github.com/einwurf/einwurf/firmware/update"
)

// startUpdates runs the simulation's update server, when einwurf-sim was
// started by einwurf-launch from an application slot and the central's
// TUF repository exists (DATA/central/tuf, made with einwurf-central
// release init): the repository over HTTP on loopback, the rollouts of
// DATA/central/central.db offered over the embedded broker, the kiosk's
// reports recorded. It returns the kiosk's update parts (nil: no updates).
// With update.rootfs in the configuration the root file system is updated
// too (also when not launched from a slot): its switch "reboots" by ending
// einwurf-sim like a restart for an update (the virtual board's init then
// reboots the machine), through the reboot it returns.
func (s *simulation) startUpdates(ctx context.Context, cfg config.Config, data, centralDir, kioskID string, central *keys.Central,
	reg *keys.Register, centralSecret string) (*appliance.UpdateParts, func(context.Context) error, error) {
	dir, slot, err := update.FromEnvironment()
	var rootfs *config.UpdateRootfs
	if cfg.Update != nil && cfg.Update.Rootfs != nil {
		r := cfg.Update.Rootfs.WithDefaults(data)
		rootfs = &r
	}
	if errors.Is(err, update.ErrNotLaunched) {
		if rootfs == nil {
			return nil, nil, nil
		}
		dir, slot = "", ""
	}
	up, err := s.startUpdateServer(ctx, centralDir, kioskID, central, reg, centralSecret, dir, slot)
	if err == nil && cfg.Update != nil {
		up.Settings.Transport = cfg.Update.Transport
		if cfg.Update.HealthDeadline > 0 {
			up.HealthDeadline = time.Duration(cfg.Update.HealthDeadline)
		}
	}
	if err != nil || rootfs == nil {
		return up, nil, err
	}
	up.Rootfs = &update.RootfsConfig{SlotA: rootfs.SlotA, SlotB: rootfs.SlotB, FWEnvConfig: rootfs.FWEnvConfig,
		Cmdline: rootfs.Cmdline, VersionFile: rootfs.VersionFile, Dir: rootfs.Dir}
	reboot := func(context.Context) error { return up.Restart() }
	return up, reboot, nil
}

func (s *simulation) startUpdateServer(ctx context.Context, centralDir, kioskID string, central *keys.Central,
	reg *keys.Register, centralSecret, dir, slot string) (*appliance.UpdateParts, error) {
	repo := release.Repo{Dir: filepath.Join(centralDir, "tuf"), Keys: filepath.Join(centralDir, "tuf-keys")}
	root, err := repo.RootJSON()
	if err != nil {
		return nil, fmt.Errorf("updates: no TUF repository (einwurf-central release init -repo %s): %w", repo.Dir, err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(centralDir, "central.db"), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { st.Close() })
	if _, err := st.Kiosk(ctx, kioskID); errors.Is(err, store.ErrNotFound) {
		if err := st.PutKiosk(ctx, store.KioskState{KioskID: kioskID, Site: "simulation", Updated: time.Now()}); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: repo.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	s.closers = append(s.closers, func() { srv.Close() })
	base := "http://" + ln.Addr().String()
	m := &release.Manager{Store: st, Repo: repo, Kiosks: reg, SignKey: central.SignKey, Log: s.log,
		MetadataURL: base + "/tuf/metadata/", TargetsURL: base + "/tuf/targets/"}
	var mu sync.Mutex // Step and HandleReport one at a time
	opts := ingest.ClientOptions{Brokers: []string{s.broker.URL()}, ClientID: "release-sim",
		Username: broker.CentralUser, Password: centralSecret,
		OnConnect: func(c mqtt.Client) {
			// Chunks of the repository for a kiosk configured to fetch over
			// the broker (update.transport "mqtt").
			fetch := release.FetchServer{Repo: repo, Publish: func(_ context.Context, topic string, payload []byte) error {
				return c.Publish(topic, 0, false, payload).Error()
			}}
			go c.Subscribe(release.FetchFilter, 0, func(_ mqtt.Client, msg mqtt.Message) {
				s.fetchServed.Add(1)
				if err := fetch.Handle(ctx, msg.Topic(), msg.Payload()); err != nil {
					s.log.Warn("einwurf-sim: fetch request", "err", err)
				}
			})
			go c.Subscribe(release.ReportFilter, 1, func(_ mqtt.Client, msg mqtt.Message) {
				mu.Lock()
				defer mu.Unlock()
				if err := m.HandleReport(ctx, msg.Topic(), msg.Payload()); err != nil {
					s.log.Warn("einwurf-sim: update report", "err", err)
				}
				msg.Ack()
			})
		}}
	client := ingest.NewClient(opts)
	m.Publish = func(ctx context.Context, topic string, payload []byte, retained bool) error {
		t := client.Publish(topic, 1, retained, payload)
		if !t.WaitTimeout(10 * time.Second) {
			return context.DeadlineExceeded
		}
		return t.Error()
	}
	client.Connect()
	s.closers = append(s.closers, func() { client.Disconnect(100) })
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !client.IsConnectionOpen() {
				continue
			}
			mu.Lock()
			if err := m.Step(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("einwurf-sim: rollout step", "err", err)
			}
			mu.Unlock()
		}
	}()
	s.restart = make(chan struct{})
	var once sync.Once
	return &appliance.UpdateParts{Settings: update.Settings{Dir: dir, MetadataURL: m.MetadataURL, TargetsURL: m.TargetsURL},
		Booted: slot, RootJSON: root, HealthDeadline: 30 * time.Second,
		Restart: func() error {
			once.Do(func() { close(s.restart) })
			return nil
		}}, nil
}
