package monitor

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/einwurf/einwurf/wire"
)

// metrics exposes the fleet to Prometheus: per-kiosk gauges and counters
// read from the store at each scrape, and the monitor's own counters.
type metrics struct {
	m        *Monitor
	reg      *prometheus.Registry
	messages *prometheus.CounterVec
	commands *prometheus.CounterVec
}

var (
	kioskLabels   = []string{"kiosk", "site"}
	descUp        = prometheus.NewDesc("einwurf_kiosk_up", "Whether the kiosk is connected to the broker (1) or not (0).", kioskLabels, nil)
	descLastSeen  = prometheus.NewDesc("einwurf_kiosk_last_seen_timestamp_seconds", "When the central last heard from the kiosk.", kioskLabels, nil)
	descInfo      = prometheus.NewDesc("einwurf_kiosk_info", "The kiosk's software version and update slot (always 1).", []string{"kiosk", "site", "version", "slot"}, nil)
	descWaiting   = prometheus.NewDesc("einwurf_kiosk_spool_documents", "Documents waiting in the kiosk's spool.", kioskLabels, nil)
	descSpool     = prometheus.NewDesc("einwurf_kiosk_spool_bytes", "Bytes waiting in the kiosk's spool.", kioskLabels, nil)
	descOldest    = prometheus.NewDesc("einwurf_kiosk_spool_oldest_age_seconds", "Age of the oldest document waiting in the kiosk's spool.", kioskLabels, nil)
	descDiskFree  = prometheus.NewDesc("einwurf_kiosk_disk_free_bytes", "Free space on the kiosk's spool disk.", kioskLabels, nil)
	descQuar      = prometheus.NewDesc("einwurf_kiosk_spool_quarantined_documents", "Documents the kiosk put aside as unsendable.", kioskLabels, nil)
	descTemp      = prometheus.NewDesc("einwurf_kiosk_temperature_celsius", "The kiosk board's temperature.", kioskLabels, nil)
	descDelivered = prometheus.NewDesc("einwurf_kiosk_delivered_documents_total", "Documents the kiosk delivered to the central.", kioskLabels, nil)
	descPages     = prometheus.NewDesc("einwurf_kiosk_scanned_pages_total", "Pages the kiosk scanned.", kioskLabels, nil)
	descVisits    = prometheus.NewDesc("einwurf_kiosk_visits_total", "Customer visits at the kiosk.", kioskLabels, nil)
	descOOS       = prometheus.NewDesc("einwurf_kiosk_out_of_service", "Whether the kiosk was taken out of service by a command.", kioskLabels, nil)
	descDeviceOK  = prometheus.NewDesc("einwurf_kiosk_device_ok", "Whether the kiosk's scanner, receipt printer or barcode reader reports ok (1) or another state (0); absent while the kiosk does not report it.", []string{"kiosk", "site", "device"}, nil)
	descAlarms    = prometheus.NewDesc("einwurf_alarms_open", "Open alarms by severity.", []string{"severity"}, nil)
	descUnacked   = prometheus.NewDesc("einwurf_alarms_unacknowledged", "Open alarms nobody acknowledged yet, by severity.", []string{"severity"}, nil)
)

func newMetrics(m *Monitor) *metrics {
	mt := &metrics{m: m, reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "einwurf_monitor_messages_total",
			Help: "Kiosk messages the monitor took (result ok) or dropped."}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "einwurf_monitor_commands_sent_total",
			Help: "Signed commands the monitor sent, by kind."}, []string{"kind"}),
	}
	mt.reg.MustRegister(mt.messages, mt.commands, mt)
	return mt
}

func (mt *metrics) message(err error) {
	r := "ok"
	if err != nil {
		r = "dropped"
	}
	mt.messages.WithLabelValues(r).Inc()
}

func (mt *metrics) command(kind string) { mt.commands.WithLabelValues(kind).Inc() }

// Describe sends the fleet's descriptors.
func (mt *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descLastSeen, descInfo, descWaiting, descSpool, descOldest,
		descDiskFree, descQuar, descTemp, descDelivered, descPages, descVisits, descOOS, descDeviceOK, descAlarms, descUnacked} {
		ch <- d
	}
}

// Collect reads the fleet from the store.
func (mt *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ks, err := mt.m.cfg.Store.Kiosks(ctx, "")
	if err != nil {
		mt.m.cfg.Log.Warn("monitor: metrics: fleet", "err", err)
		return
	}
	now := mt.m.now()
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	c := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, k := range ks {
		l := []string{k.KioskID, k.Site}
		g(descUp, b2f(k.Online), l...)
		if !k.LastSeen.IsZero() {
			g(descLastSeen, float64(k.LastSeen.Unix()), l...)
		}
		g(descInfo, 1, k.KioskID, k.Site, k.Version, k.Slot)
		var t wire.Telemetry
		if json.Unmarshal(k.Telemetry, &t) != nil {
			continue
		}
		g(descWaiting, float64(t.SpoolEntries), l...)
		g(descSpool, float64(t.SpoolBytes), l...)
		age := 0.0
		if !t.Oldest.IsZero() && t.SpoolEntries > 0 {
			age = now.Sub(t.Oldest).Seconds()
		}
		g(descOldest, age, l...)
		g(descDiskFree, float64(t.DiskFree), l...)
		g(descQuar, float64(t.Quarantined), l...)
		if t.TempMilliC != 0 {
			g(descTemp, float64(t.TempMilliC)/1000, l...)
		}
		c(descDelivered, float64(t.Sent), l...)
		c(descPages, float64(t.Pages), l...)
		c(descVisits, float64(t.Visits), l...)
		g(descOOS, b2f(t.OutOfService != ""), l...)
		for _, d := range []struct{ name, state string }{{"scanner", t.Scanner}, {"printer", t.Printer}, {"reader", t.Reader}} {
			if d.state != "" {
				g(descDeviceOK, b2f(d.state == "ok"), k.KioskID, k.Site, d.name)
			}
		}
	}
	as, err := mt.m.cfg.Store.Alarms(ctx, true)
	if err != nil {
		return
	}
	open, unacked := map[string]int{}, map[string]int{}
	for _, s := range []string{wire.SeverityAlarm, SeverityWarning} {
		open[s], unacked[s] = 0, 0
	}
	for _, a := range as {
		open[a.Severity]++
		if a.AckedBy == "" {
			unacked[a.Severity]++
		}
	}
	for s, n := range open {
		g(descAlarms, float64(n), s)
		g(descUnacked, float64(unacked[s]), s)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// bearer serves next only to requests that carry token as their bearer
// token (compared in constant time); an empty token lets every request
// through.
func bearer(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="einwurf-metrics"`)
			http.Error(w, "metrics: bearer token required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handler serves /metrics.
func (mt *metrics) handler() http.Handler {
	return promhttp.HandlerFor(mt.reg, promhttp.HandlerOpts{})
}
