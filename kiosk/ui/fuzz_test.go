package ui

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/einwurf/einwurf/drivers/scanner"
	"github.com/einwurf/einwurf/drivers/scanner/scannertest"
	"github.com/einwurf/einwurf/kiosk/document"
	"github.com/einwurf/einwurf/kiosk/session"
)

// FuzzAPI sends the UI any method, path, query and JSON body. Whatever
// comes, the UI answers without a server error, keeps a JSON answer JSON
// and tells no one but the browser the visit's capability.
func FuzzAPI(f *testing.F) {
	for _, s := range []struct {
		method      byte
		path, query string
		body        string
	}{
		{1, "/api/identify", "", `{"number":"035F083761"}`},
		{1, "/api/identify", "", `{"number":`},
		{1, "/api/identify", "", `{"number":"035F083761","x":[1,2,{"y":null}]}`},
		{1, "/api/sim/barcode", "", `{"number":"03510//0961289"}`},
		{1, "/api/scan", "", `{}`},
		{1, "/api/toggle/0", "", `{}`},
		{1, "/api/toggle/-1", "", ``},
		{1, "/api/toggle/99999999999999999999", "", ``},
		{1, "/api/confirm", "", `null`},
		{1, "/api/cancel", "", `[]`},
		{0, "/api/view", "", ``},
		{0, "/api/thumb/abc/0", "w=1200", ``},
		{0, "/api/thumb/0", "w=-1&g=%zz", ``},
		{0, "/launch/00", "", ``},
		{0, "/../../etc/passwd", "", ``},
		{0, "/index.html", "", ``},
	} {
		f.Add(s.method, s.path, s.query, []byte(s.body))
	}
	k, err := session.New(session.Config{
		Scanner:  &scannertest.Scanner{ScanErr: scanner.ErrFeederEmpty},
		WorkDir:  filepath.Join(f.TempDir(), "visits"),
		Document: document.DefaultOptions(), Submitter: &submitter{}})
	if err != nil {
		f.Fatal(err)
	}
	h := New(Config{Kiosk: k, InjectCode: k.Identify})
	defer h.Close()
	f.Fuzz(func(t *testing.T, method byte, path, query string, body []byte) {
		u := &url.URL{Path: path, RawQuery: query}
		m := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete}[method%4]
		req := httptest.NewRequest(m, "http://127.0.0.1/", bytes.NewReader(body))
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s?%s: %d %s", m, path, query, w.Code, w.Body)
		}
		if w.Header().Get("Content-Type") == "application/json" {
			var v map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s %s: not JSON: %v", m, path, err)
			}
			if c, ok := v["thumbs"]; ok && c != "" {
				t.Fatalf("%s %s told a stranger the capability", m, path)
			}
		}
	})
}
