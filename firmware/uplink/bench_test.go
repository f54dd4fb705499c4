package uplink_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/firmware/uplink"
	"github.com/einwurf/einwurf/firmware/uplink/internal/e2e"
	"github.com/einwurf/einwurf/firmware/uplink/mosquittotest"
	"github.com/einwurf/einwurf/internal/testtool"
)

// benchWorld is a world whose broker takes one message of limit bytes, so
// mosquitto_pub -f can send a whole packet for comparison.
func benchWorld(b *testing.B, limit int) *e2e.World {
	b.Helper()
	mosquittotest.Need(b)
	w, err := e2e.NewWorldLimit(b.TempDir(), limit)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Close)
	if err := w.AddKiosk("k-a"); err != nil {
		b.Fatal(err)
	}
	return w
}

// deliverOnce seals pdf (untimed; if copyTo is not empty, the ciphertext
// is copied there), then times spool → receipt.
func deliverOnce(b *testing.B, k *e2e.Kiosk, w *e2e.World, u *uplink.Uplink, delivered chan string, pdf []byte, copyTo string) time.Duration {
	b.StopTimer()
	id, err := k.Seal(w.Public(), pdf, nil)
	if err != nil {
		b.Fatal(err)
	}
	if copyTo != "" {
		ct, err := os.ReadFile(filepath.Join(k.Spool.Dir(), id+".age"))
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(copyTo, ct, 0o600)
	}
	b.StartTimer()
	start := time.Now()
	u.Kick()
	for {
		select {
		case got := <-delivered:
			if got == id {
				return time.Since(start)
			}
		case <-time.After(2 * time.Minute):
			b.Fatal("no receipt within 2 minutes")
		}
	}
}

func benchUplink(b *testing.B, w *e2e.World, k *e2e.Kiosk, window int) (*uplink.Uplink, chan string) {
	cfg, err := w.UplinkConfig(k, w.Broker.URL(), window)
	if err != nil {
		b.Fatal(err)
	}
	delivered := make(chan string, 16)
	cfg.OnDelivered = func(id string) { delivered <- id }
	u := uplink.New(cfg)
	runUplink(b, u)
	return u, delivered
}

// mosquittoPub times mosquitto_pub -f of file at QoS 1 until mosquitto_sub
// (as the central) has received it: the same broker, TLS and path as ours,
// with programs no one here wrote at both ends.
func mosquittoPub(b *testing.B, w *e2e.World, file string, size int) time.Duration {
	b.Helper()
	var bins [2]string
	for i, name := range []string{"mosquitto_pub", "mosquitto_sub"} {
		bins[i] = testtool.NeedTool(b, name)
	}
	pki := w.PKI.Dir
	topic := "einwurf/v1/k/k-a/bench"
	tlsArgs := func(user string) []string {
		port := w.Broker.Port()
		if user == mosquittotest.CentralUser {
			port = w.Broker.CentralPort()
		}
		return []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "--cafile", filepath.Join(pki, "ca.pem"),
			"--cert", filepath.Join(pki, user+".pem"), "--key", filepath.Join(pki, user+".key")}
	}
	out := filepath.Join(b.TempDir(), "received")
	of, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer of.Close()
	sub := exec.Command(bins[1], append(tlsArgs(mosquittotest.CentralUser), "-i", "bench-sub", "-q", "1", "-C", "1", "-N",
		"-W", "120", "-t", topic)...)
	sub.Stdout = of
	if err := sub.Start(); err != nil {
		b.Fatal(err)
	}
	defer sub.Process.Kill()
	// mosquitto_sub says nothing when subscribed: wait for its session.
	waitFor(b, 10*time.Second, "mosquitto_sub connected", func() bool {
		return strings.Contains(w.Broker.Log(), "as bench-sub")
	})
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if o, err := exec.Command(bins[0], append(tlsArgs("k-a"), "-i", "k-a-pub", "-q", "1", "-t", topic, "-f", file)...).CombinedOutput(); err != nil {
		b.Fatalf("mosquitto_pub: %v: %s", err, o)
	}
	if err := sub.Wait(); err != nil {
		b.Fatalf("mosquitto_sub: %v", err)
	}
	d := time.Since(start)
	if fi, err := os.Stat(out); err != nil || fi.Size() != int64(size) {
		b.Fatalf("mosquitto_sub received %v bytes, want %d (%v)", fi.Size(), size, err)
	}
	// Count a fresh log for the next iteration's "connected" check.
	os.Truncate(filepath.Join(w.Broker.Dir(), "mosquitto.log"), 0)
	return d
}

// BenchmarkThroughput20MB: a 20 MB packet from the spool to the inbox (the
// receipt back on the kiosk) through mosquitto over TLS, and, in the same
// run on the same broker, mosquitto_pub -f of the same bytes as one QoS 1
// message to a subscriber. ratio = our MB/s / mosquitto_pub's MB/s.
func BenchmarkThroughput20MB(b *testing.B) {
	for _, window := range []int{16, 32, 64} {
		b.Run("window="+strconv.Itoa(window), func(b *testing.B) {
			w := benchWorld(b, 64<<20)
			runIngest(b, w, "ingest-1", nil)
			k := openKiosk(b, w, "k-a")
			u, delivered := benchUplink(b, w, k, window)
			pdf := e2e.PDF(20<<20, 5, "bench")
			var ours, theirs time.Duration
			var bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f := filepath.Join(b.TempDir(), "packet")
				ours += deliverOnce(b, k, w, u, delivered, pdf, f)
				b.StopTimer()
				// The same ciphertext, as one message.
				fi, err := os.Stat(f)
				if err != nil {
					b.Fatal(err)
				}
				theirs += mosquittoPub(b, w, f, int(fi.Size()))
				bytes += fi.Size()
				b.StartTimer()
			}
			mb := float64(bytes) / 1e6
			b.ReportMetric(mb/ours.Seconds(), "MB/s")
			b.ReportMetric(mb/theirs.Seconds(), "pub-MB/s")
			b.ReportMetric(theirs.Seconds()/ours.Seconds(), "ratio")
		})
	}
}

// BenchmarkReceipt10Pages: time from "send" (the spool entry committed and
// the uplink kicked) to the central's receipt for a 10-page document (about
// 60 KB a page, as a G4-compressed A4 scan at 300 dpi).
func BenchmarkReceipt10Pages(b *testing.B) {
	w := benchWorld(b, 0)
	runIngest(b, w, "ingest-1", nil)
	k := openKiosk(b, w, "k-a")
	u, delivered := benchUplink(b, w, k, 0)
	waitFor(b, 10*time.Second, "connected", u.Connected)
	pdf := e2e.PDF(10*60<<10, 6, "ten pages")
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		total += deliverOnce(b, k, w, u, delivered, pdf, "")
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/receipt")
}

// BenchmarkPeakMemory100MB: the kiosk process's peak resident memory
// (VmHWM) while it sends a 100 MB packet: it reads chunks from the spool
// file and must not hold the packet.
func BenchmarkPeakMemory100MB(b *testing.B) {
	w := benchWorld(b, 0)
	runIngest(b, w, "ingest-1", nil)
	var peak int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		k := openKiosk(b, w, "k-a")
		id, err := k.Seal(w.Public(), e2e.PDF(100<<20, uint64(i), "hundred"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		p, err := w.StartKiosk("k-a", 0)
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, 5*time.Minute, "100 MB delivered", func() bool {
			return w.SpoolEntries("k-a") == 0 && e2e.Inbox(w.InboxDir())[id] == 1
		})
		kb := vmHWM(b, p.Pid())
		b.Logf("kiosk: %v, VmHWM %d KiB", p.Stop(), kb)
		peak = max(peak, kb)
	}
	b.ReportMetric(float64(peak)/1024, "peakMB")
}

// vmHWM reads a process's peak resident set in KiB.
func vmHWM(b *testing.B, pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
