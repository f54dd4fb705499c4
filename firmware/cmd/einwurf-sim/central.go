package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"time"

	"github.com/einwurf/einwurf/central/ingest"
	"github.com/einwurf/einwurf/central/keys"
	"github.com/einwurf/einwurf/central/monitor"
	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/central/store/sqlite"
	"github.com/einwurf/einwurf/firmware/broker"
)

// dashboard is the central's monitor in the simulation: the operators'
// dashboard on its own loopback address, on the central's SQLite store.
type dashboard struct {
	Monitor *monitor.Monitor
	Store   store.Store
	URL     string
	// DB is the database file (for einwurf-central useradd).
	DB string
	// Keys is the central's register of kiosk keys.
	Keys *keys.Register
}

// startDashboard starts the monitor beside the simulated kiosk: it follows
// the kiosk through the embedded broker and sends it signed commands.
//
// When addr is taken and movable, a free port is taken instead (as the
// broker does): another program, or another simulation, may hold the
// default.
func (s *simulation) startDashboard(ctx context.Context, addr string, movable bool, centralDir string, central *keys.Central, reg *keys.Register,
	brokerURL, centralSecret string, centralTLS *tls.Config, log *slog.Logger) error {
	db := filepath.Join(centralDir, "central.db")
	st, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		return err
	}
	s.closers = append(s.closers, func() { st.Close() })
	m, err := monitor.New(monitor.Config{Store: st, Kiosks: reg, SignKey: central.SignKey, Log: log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := m.Run(ctx, ingest.ClientOptions{Brokers: []string{brokerURL}, ClientID: "monitor-sim",
			Username: broker.CentralUser, Password: centralSecret, TLS: centralTLS})
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("einwurf-sim: monitor ended", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", addr)
	if err != nil && movable && errors.Is(err, syscall.EADDRINUSE) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		cancel()
		<-done
		return fmt.Errorf("dashboard: %w", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go srv.Serve(ln)
	s.closers = append(s.closers, func() {
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
		cancel()
		<-done
	})
	s.dashboard = &dashboard{Monitor: m, Store: st, URL: "http://" + ln.Addr().String() + "/", DB: db, Keys: reg}
	return nil
}
