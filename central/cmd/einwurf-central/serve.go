package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/monitor"
	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/postgres"
	"github.com/einwurf/einwurf/central/store/sqlite"
)

func init() {
	register(subcommand{Name: "serve",
		Synopsis: "serve the operators' dashboard: fleet, alarms, signed commands, receipt look-up, /metrics",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			keyDir := keysFlag(fs)
			db := dbFlag(fs)
			listen := fs.String("listen", "127.0.0.1:8090", "address of the dashboard")
			certFile := fs.String("tls-cert", "", "certificate (PEM) to serve the dashboard over HTTPS")
			keyFile := fs.String("tls-key", "", "key (PEM) of -tls-cert")
			session := fs.Duration("session", 8*time.Hour, "how long a login lasts")
			tokenFile := fs.String("metrics-token-file", "", "file holding the bearer token /metrics asks of Prometheus (its authorization.credentials_file); without it /metrics is open to whoever reaches -listen")
			mf := mqttFlags(fs, "monitor-1")
			return func(ctx context.Context) error {
				c, err := keys.Load(*keyDir)
				if err != nil {
					return err
				}
				token, err := metricsToken(*tokenFile)
				if err != nil {
					return err
				}
				if token == "" && !loopback(*listen) {
					e.Log.Warn("serve: /metrics is open to anyone who reaches the dashboard's address; give -metrics-token-file", "listen", *listen)
				}
				st, err := openStore(ctx, *db)
				if err != nil {
					return err
				}
				defer st.Close()
				m, err := monitor.New(monitor.Config{Store: st, Kiosks: keys.OpenRegister(filepath.Join(*keyDir, "kiosks.json")),
					SignKey: c.SignKey, SessionTTL: *session, SecureCookies: *certFile != "", MetricsToken: token, Log: e.Log})
				if err != nil {
					return err
				}
				opts, err := mf.options()
				if err != nil {
					return err
				}
				go func() {
					if err := m.Run(ctx, opts); err != nil && !errors.Is(err, context.Canceled) {
						e.Log.Error("monitor: broker connection ended", "err", err)
					}
				}()
				ln, err := net.Listen("tcp", *listen)
				if err != nil {
					return err
				}
				srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second,
					BaseContext: func(net.Listener) context.Context { return ctx }}
				if *certFile != "" {
					srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
				}
				go func() {
					<-ctx.Done()
					sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					defer cancel()
					srv.Shutdown(sctx)
				}()
				scheme := "http"
				if *certFile != "" {
					scheme = "https"
				}
				fmt.Fprintf(e.Stdout, "dashboard on %s://%s/\n", scheme, ln.Addr())
				if *certFile != "" {
					err = srv.ServeTLS(ln, *certFile, *keyFile)
				} else {
					err = srv.Serve(ln)
				}
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return err
			}
		}})
	register(subcommand{Name: "useradd",
		Synopsis: "create or replace an operator account (the first admin is made this way); password on stdin",
		Setup: func(fs *flag.FlagSet, e *env) func(context.Context) error {
			db := dbFlag(fs)
			login := fs.String("login", "", "the operator's login")
			role := fs.String("role", monitor.RoleViewer, "viewer, operator or admin")
			pwFile := fs.String("password-file", "", "read the password from this file instead of standard input")
			return func(ctx context.Context) error {
				var r io.Reader = os.Stdin
				if *pwFile != "" {
					f, err := os.Open(*pwFile)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				pw := strings.TrimRight(line, "\r\n")
				st, err := openStore(ctx, *db)
				if err != nil {
					return err
				}
				defer st.Close()
				if err := monitor.AddAccount(ctx, st, *login, *role, pw, time.Now()); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "account %s (%s) saved\n", *login, *role)
				return nil
			}
		}})
}

// minMetricsToken is the shortest bearer token serve takes: 128 bits as
// hex, which `openssl rand -hex 16` gives.
const minMetricsToken = 32

// errMetricsToken reports an unusable -metrics-token-file.
var errMetricsToken = errors.New("serve: metrics token")

// metricsToken reads the bearer token for /metrics from file (none when
// file is empty); surrounding white space, such as the newline an editor
// adds, is not part of it.
func metricsToken(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errMetricsToken, err)
	}
	token := strings.TrimSpace(string(b))
	switch {
	case len(token) < minMetricsToken:
		return "", fmt.Errorf("%w: %s holds %d characters, at least %d are needed", errMetricsToken, file, len(token), minMetricsToken)
	case strings.ContainsAny(token, " \t\r\n"):
		return "", fmt.Errorf("%w: %s holds more than one word", errMetricsToken, file)
	}
	return token, nil
}

// loopback reports whether the listen address addr is reachable only from
// this machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dbFlag defines the -db flag of the subcommands that use the central's
// database.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "central.db", "the central's database: a SQLite file, or a PostgreSQL URL (postgres://…) shared by several processes")
}

// openStore opens the central's database: PostgreSQL for a postgres:// or
// postgresql:// URL, else the SQLite file at path.
func openStore(ctx context.Context, path string) (store.Store, error) {
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		return postgres.Open(ctx, path, postgres.Options{})
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	return sqlite.Open(ctx, path, sqlite.Options{})
}
