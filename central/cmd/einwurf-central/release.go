package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/release"
	"github.com/einwurf/einwurf/central/store"
)

func init() {
	register(subcommand{Name: "release",
		Synopsis: "updates: release init|add|rotate-root|refresh|start|status|serve (TUF repository, staged rollouts)",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			db := dbFlag(fs)
			repoDir := fs.String("repo", "tuf", "folder of the TUF repository (metadata/, targets/)")
			tufKeys := fs.String("tuf-keys", "tuf-keys", "folder of the TUF signing keys (keep the root keys offline)")
			rootKeys := fs.Int("root-keys", 3, "init, rotate-root: number of root keys")
			threshold := fs.Int("threshold", 2, "init, rotate-root: root keys needed to sign a new root")
			name := fs.String("name", "", "add, start: the target's name, e.g. einwurf-1.2.0.tar")
			version := fs.String("version", "", "add: the payload's version")
			kind := fs.String("kind", "bundle", "add: bundle (application slots) or rootfs (root file system image)")
			id := fs.String("rollout", "", "start, status: the rollout's id")
			group := fs.String("group", "", "start: the site to roll out to (empty: the whole fleet)")
			percent := fs.Int("percent", 100, "start: share of the group's kiosks, after the canaries")
			canary := fs.String("canary", "", "start: kiosk ids offered first, comma-separated")
			failAt := fs.Int("fail-threshold", 1, "start: halt when this many kiosks roll back or refuse")
			listen := fs.String("listen", "127.0.0.1:8443", "serve: address of the update server")
			certFile := fs.String("tls-cert", "", "serve: certificate (PEM) for HTTPS")
			keyFile := fs.String("tls-key", "", "serve: key (PEM) of -tls-cert")
			base := fs.String("base-url", "", "serve: the URL kiosks reach the update server at (offers name it)")
			mf := mqttFlags(fs, "release-1")
			return func(ctx context.Context) error {
				if len(e.Args) == 0 {
					return fmt.Errorf("%w: release needs a verb: init, add, rotate-root, refresh, start, status, serve", errUsage)
				}
				verb := e.Args[0]
				if err := fs.Parse(e.Args[1:]); err != nil {
					return err
				}
				args := fs.Args()
				repo := release.Repo{Dir: *repoDir, Keys: *tufKeys}
				switch verb {
				case "init":
					if err := repo.Init(*rootKeys, *threshold); err != nil {
						return err
					}
					fmt.Fprintf(e.Stdout, "repository in %s; build kiosks with %s\n", *repoDir, filepath.Join(*repoDir, "metadata", "root.json"))
					return nil
				case "add":
					if len(args) != 1 || *name == "" || *version == "" {
						return fmt.Errorf("%w: release add -name NAME -version V [-kind K] FILE", errUsage)
					}
					if err := repo.Add(*name, args[0], *version, *kind); err != nil {
						return err
					}
					fmt.Fprintf(e.Stdout, "target %s (%s %s) published\n", *name, *kind, *version)
					return nil
				case "rotate-root":
					return repo.RotateRoot(*rootKeys, *threshold)
				case "refresh":
					return repo.Refresh()
				}
				st, err := openStore(ctx, *db)
				if err != nil {
					return err
				}
				defer st.Close()
				m := &release.Manager{Store: st, Repo: repo, Log: e.Log}
				switch verb {
				case "start":
					var c []string
					if *canary != "" {
						c = strings.Split(*canary, ",")
					}
					if err := m.Start(ctx, store.Rollout{ID: *id, Target: *name, Group: *group, Percent: *percent,
						Canary: c, FailThreshold: *failAt}); err != nil {
						return err
					}
					fmt.Fprintf(e.Stdout, "rollout %s of %s started; release serve offers it\n", *id, *name)
					return nil
				case "status":
					return printStatus(ctx, e, m, *id)
				case "serve":
					c, err := keys.Load(*keyDir)
					if err != nil {
						return err
					}
					m.SignKey = c.SignKey
					m.Kiosks = keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json"))
					if *base != "" {
						m.MetadataURL, m.TargetsURL = strings.TrimSuffix(*base, "/")+"/tuf/metadata/", strings.TrimSuffix(*base, "/")+"/tuf/targets/"
					}
					opts, err := mf.options()
					if err != nil {
						return err
					}
					return serveRelease(ctx, e, m, opts, *listen, *certFile, *keyFile)
				}
				return fmt.Errorf("%w: unknown verb %q", errUsage, verb)
			}
		}})
}

func printStatus(ctx context.Context, e *env, m *release.Manager, id string) error {
	var ids []string
	if id != "" {
		ids = []string{id}
	} else {
		rs, err := m.Store.Rollouts(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
	}
	for _, id := range ids {
		r, ks, err := m.Status(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "rollout %s: %s %s to %q (%d%%, canary %s): %s %s\n", r.ID, r.Target, r.Version,
			r.Group, r.Percent, strings.Join(r.Canary, ","), r.State, r.Reason)
		for _, k := range ks {
			s := k.State
			if s == "" {
				s = "waiting"
			}
			fmt.Fprintf(e.Stdout, "  %-20s %-12s %s\n", k.KioskID, s, k.Detail)
		}
	}
	return nil
}

// serveRelease serves the repository over HTTP(S) with Range and in
// chunks on the broker (kiosks with update.transport "mqtt"), receives the
// kiosks' update reports and moves the rollouts on.
func serveRelease(ctx context.Context, e *env, m *release.Manager, o ingest.ClientOptions, listen, cert, key string) error {
	o.OnConnect = func(c mqtt.Client) {
		fetch := release.FetchServer{Repo: m.Repo, Publish: func(_ context.Context, topic string, payload []byte) error {
			return c.Publish(topic, 0, false, payload).Error()
		}}
		go c.Subscribe(release.FetchFilter, 0, func(_ mqtt.Client, msg mqtt.Message) {
			if err := fetch.Handle(ctx, msg.Topic(), msg.Payload()); err != nil {
				e.Log.Debug("release: fetch request", "err", err)
			}
		})
		go c.Subscribe(release.ReportFilter, 1, func(_ mqtt.Client, msg mqtt.Message) {
			hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := m.HandleReport(hctx, msg.Topic(), msg.Payload()); err != nil && !errors.Is(err, release.ErrReport) {
				e.Log.Warn("release: report not recorded", "err", err)
				return // not acknowledged: delivered again
			}
			msg.Ack()
		})
	}
	client := ingest.NewClient(o)
	m.Publish = func(ctx context.Context, topic string, payload []byte, retained bool) error {
		t := client.Publish(topic, 1, retained, payload)
		select {
		case <-t.Done():
			return t.Error()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return context.DeadlineExceeded
		}
	}
	client.Connect()
	defer client.Disconnect(250)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: m.Repo.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if cert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	go func() {
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		lastRefresh := time.Time{}
		for {
			if time.Since(lastRefresh) > time.Hour {
				if err := m.Repo.Refresh(); err != nil {
					e.Log.Warn("release: timestamp not refreshed", "err", err)
				} else {
					lastRefresh = time.Now()
				}
			}
			if err := m.Step(ctx); err != nil {
				e.Log.Warn("release: step", "err", err)
			}
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				srv.Shutdown(sctx)
				cancel()
				return
			case <-tick.C:
			}
		}
	}()
	fmt.Fprintf(e.Stdout, "update server on %s\n", ln.Addr())
	if cert != "" {
		err = srv.ServeTLS(ln, cert, key)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
