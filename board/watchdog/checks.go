package watchdog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"
)

// HTTPCheck returns a Check that GETs url with client (nil means a client
// without proxy) and passes on a 2xx answer: "the UI is serving". The body
// is drained up to 64 KiB; on another status its first line (up to 80
// bytes, quoted) goes into the error, so the log says why ("status 503:
// \"stuck: session\""). The time-out is ctx's: Healthy bounds each check.
func HTTPCheck(name, url string, client *http.Client) Check {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	return Check{Name: name, Run: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			line, _, _ := bytes.Cut(body[:min(len(body), 80)], []byte("\n"))
			if line = bytes.TrimSpace(line); len(line) > 0 {
				return fmt.Errorf("status %d: %q", resp.StatusCode, line)
			}
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}}
}

// OpenSim opens a stand-in watchdog for simulation: a regular file at path,
// created (mode 0600) if missing, that records keepalives and the magic
// close. It refuses anything but a regular file, so a simulation never
// arms a real watchdog by mistake.
func OpenSim(path string, timeout time.Duration) (*Watchdog, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return nil, fmt.Errorf("watchdog: create %s: %w", path, cerr)
		}
		f.Close()
	case err != nil:
		return nil, fmt.Errorf("watchdog: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("watchdog: simulated watchdog %s is not a regular file", path)
	}
	return Open(path, timeout)
}
