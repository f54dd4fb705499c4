// Package asyncapi holds the MQTT API as an AsyncAPI 3.0 document
// (einwurf.yaml) and the test that keeps it and package wire together.
package asyncapi

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/einwurf/einwurf/internal/testtool"
	"github.com/einwurf/einwurf/wire"
)

// notMQTT are wire's JSON types that never travel over MQTT, or travel only
// inside another message's schema under another name.
var notMQTT = map[string]string{
	"CentralKeys":     "central.pub.json, a file given to kiosks",
	"Statement":       "printed in the receipt's QR code",
	"SignedStatement": "printed in the receipt's QR code",
	"Signed":          "the envelope, spelt out in each signed message",
	"StaffList":       "staff-list.json, a signed file given to kiosks",
	"PINSlot":         "inside StaffList",
}

// qos0 are the operations at QoS 0, and why.
var qos0 = map[string]string{
	"sendFetchReply": "update chunks over the broker: a lost one is asked for again, and none is queued for a kiosk that is away (256 KiB each)",
}

// notMQTTTypes are signature domains of messages that are not MQTT messages.
var notMQTTTypes = map[string]bool{wire.TypeStatement: true}

// enums ties groups of wire's constants to the enum of a schema property:
// constant name prefix → schema, property.
var enums = []struct{ prefix, schema, prop string }{
	{"Cmd", "Command", "kind"},
	{"Result", "CommandResult", "status"},
	{"Receipt", "Receipt", "status"},
	{"Severity", "Event", "severity"},
	{"Update", "UpdateReport", "state"},
}

type sample struct {
	Name   string `json:"name"`
	Topic  string `json:"topic"`
	JSON   any    `json:"json,omitempty"`
	Binary *int   `json:"binary,omitempty"`
	// body is the message (inside the envelope when signed), checked to
	// have every field set so optional fields are validated too.
	body any
}

type report struct {
	Diagnostics []struct {
		Severity int    `json:"severity"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Path     string `json:"path"`
	} `json:"diagnostics"`
	Channels []struct {
		ID         string   `json:"id"`
		Address    string   `json:"address"`
		Parameters []string `json:"parameters"`
		Messages   []struct {
			ID          string         `json:"id"`
			ContentType string         `json:"contentType"`
			Payload     map[string]any `json:"payload"`
		} `json:"messages"`
	} `json:"channels"`
	Operations []struct {
		ID       string   `json:"id"`
		Action   string   `json:"action"`
		Channels []string `json:"channels"`
		QoS      int      `json:"qos"`
	} `json:"operations"`
	Schemas map[string]struct {
		Properties []string            `json:"properties"`
		Required   []string            `json:"required"`
		Enums      map[string][]string `json:"enums"`
	} `json:"schemas"`
	Results []struct {
		Name    string   `json:"name"`
		Channel string   `json:"channel"`
		Valid   bool     `json:"valid"`
		Errors  []string `json:"errors"`
	} `json:"results"`
}

// wireAPI is what package wire declares, read from its source.
type wireAPI struct {
	topicFuncs []string           // exported funcs named …Topic returning one string
	structs    map[string][]field // exported structs with JSON fields
	consts     map[string]string  // exported string constants with literal values
}

type field struct {
	name     string
	optional bool
}

func readWire(t *testing.T) wireAPI {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("../../wire/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("wire sources: %v", err)
	}
	api := wireAPI{structs: map[string][]field{}, consts: map[string]string{}}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				res := d.Type.Results
				if d.Recv == nil && d.Name.IsExported() && strings.HasSuffix(d.Name.Name, "Topic") &&
					res != nil && len(res.List) == 1 && len(res.List[0].Names) <= 1 {
					if id, ok := res.List[0].Type.(*ast.Ident); ok && id.Name == "string" {
						api.topicFuncs = append(api.topicFuncs, d.Name.Name)
					}
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						st, ok := sp.Type.(*ast.StructType)
						if !ok || !sp.Name.IsExported() {
							continue
						}
						var fs []field
						for _, fl := range st.Fields.List {
							if fl.Tag == nil {
								continue
							}
							tag, _ := strconv.Unquote(fl.Tag.Value)
							js, ok := reflect.StructTag(tag).Lookup("json")
							if !ok || js == "-" {
								continue
							}
							name, opts, _ := strings.Cut(js, ",")
							fs = append(fs, field{name, strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")})
						}
						if len(fs) > 0 {
							api.structs[sp.Name.Name] = fs
						}
					case *ast.ValueSpec:
						if d.Tok != token.CONST {
							continue
						}
						for i, n := range sp.Names {
							if i < len(sp.Values) && n.IsExported() {
								if lit, ok := sp.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
									api.consts[n.Name], _ = strconv.Unquote(lit.Value)
								}
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(api.topicFuncs)
	return api
}

// samples builds messages as the code does: wire's types, marshalled and
// signed by wire, every field set. Keyed by the topic function.
func samples(t *testing.T) map[string][]sample {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	pub, _, _ := ed25519.GenerateKey(nil)
	now := time.Date(2026, 12, 1, 9, 30, 15, 123456789, time.UTC)
	const kiosk, packet = "k-nord-01", "6f1c2a9e0b7d4e13a5c8f0e2d4b6a8c0"
	sha := strings.Repeat("ab", 32)
	plain := func(name, topic string, v any) sample {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var j any
		json.Unmarshal(b, &j)
		return sample{Name: name, Topic: topic, JSON: j, body: v}
	}
	signed := func(name, topic, typ string, v any) sample {
		b, err := wire.Sign(key, typ, v)
		if err != nil {
			t.Fatal(err)
		}
		var j any
		json.Unmarshal(b, &j)
		return sample{Name: name, Topic: topic, JSON: j, body: v}
	}
	tm := wire.Telemetry{KioskID: kiosk, Time: now, Model: "fi-7300nx", Serial: "A1B2", SpoolEntries: 2, SpoolBytes: 4 << 20,
		DiskFree: 8 << 30, DiskState: "ok", Quarantined: 1, Sent: 40, Visits: 55, Pages: 230, TempMilliC: 41500, Scanner: "ready",
		Oldest: now.Add(-time.Hour), LastDelivery: now.Add(-time.Minute), Printer: "ok", Reader: "ok",
		Consumables: map[string]string{"paper": "low"}, OutOfService: "maintenance",
		Counters: map[string]int64{"pages": 230, "feed-roller.since": 1200}}
	bundle, _ := json.Marshal(wire.SupportBundle{KioskID: kiosk, Time: now, Versions: map[string]string{"einwurfd": "1.2.3"},
		Counters: map[string]int64{"visits": 55}, Telemetry: &tm, Config: json.RawMessage(`{"site":"nord"}`),
		Files: map[string]string{"journal": "…"}})
	rot, _ := json.Marshal(wire.KeyRotation{NewPub: pub})
	chunkLen := wire.ChunkHashSize + 100
	fetchLen := len(wire.EncodeFetchReply(wire.FetchReply{ID: 9, Off: 262144, Total: 300000}, make([]byte, 100)))
	return map[string][]sample{
		"StatusTopic": {plain("status", wire.StatusTopic(kiosk), wire.Status{KioskID: kiosk, Online: true, Version: "1.2.3", Since: now})},
		"BirthTopic": {signed("birth", wire.BirthTopic(kiosk), wire.TypeBirth,
			wire.Birth{KioskID: kiosk, Seq: 7, Version: "1.2.3", Slot: "a", Site: "nord", Time: now})},
		"TelemetryTopic": {plain("telemetry", wire.TelemetryTopic(kiosk), tm)},
		"EventTopic": {plain("event", wire.EventTopic(kiosk),
			wire.Event{KioskID: kiosk, Time: now, Severity: wire.SeverityAlarm, Code: "disk.full", Detail: "3% free"})},
		"OfferTopic": {signed("offer", wire.OfferTopic(kiosk, packet), wire.TypeManifest,
			wire.Manifest{V: 1, PacketID: packet, KioskID: kiosk, Created: now, Size: 600 << 10, SHA256: sha, ChunkSize: wire.ChunkSize})},
		"ChunkTopic": {{Name: "chunk", Topic: wire.ChunkTopic(kiosk, packet, 2), Binary: &chunkLen}},
		"FetchRequestTopic": {plain("fetch-request", wire.FetchRequestTopic(kiosk),
			wire.FetchRequest{ID: 9, Repo: wire.FetchTargets, Path: sha + ".einwurf-1.3.0.tar", Off: 262144, N: 262144})},
		"FetchReplyTopic": {{Name: "fetch-reply", Topic: wire.FetchReplyTopic(kiosk), Binary: &fetchLen}},
		"CommandResultTopic": {
			signed("command-result bundle", wire.CommandResultTopic(kiosk), wire.TypeCommandResult,
				wire.CommandResult{KioskID: kiosk, Seq: 12, Kind: wire.CmdSupportBundle, Status: wire.ResultDone, Reason: "none", Time: now, Data: bundle}),
			signed("command-result key", wire.CommandResultTopic(kiosk), wire.TypeCommandResult,
				wire.CommandResult{KioskID: kiosk, Seq: 13, Kind: wire.CmdRotateKey, Status: wire.ResultDone, Reason: "none", Time: now, Data: rot}),
		},
		"UpdateReportTopic": {signed("update-report", wire.UpdateReportTopic(kiosk), wire.TypeUpdateReport,
			wire.UpdateReport{KioskID: kiosk, RolloutID: "r1", Target: "einwurf-1.3.0.raucb", Version: "1.3.0",
				State: wire.UpdateDownloading, Progress: 0.5, Reason: "none", Time: now})},
		"ProgressTopic": {signed("progress", wire.ProgressTopic(kiosk), wire.TypeProgress,
			wire.Progress{PacketID: packet, KioskID: kiosk, Missing: []int{0, 2}, Complete: true})},
		"ReceiptTopic": {signed("receipt", wire.ReceiptTopic(kiosk), wire.TypeReceipt,
			wire.Receipt{PacketID: packet, KioskID: kiosk, SHA256: sha, Status: wire.ReceiptRejected, Reason: "decrypt", Received: now})},
		"CommandTopic": {signed("command", wire.CommandTopic(kiosk), wire.TypeCommand,
			wire.Command{KioskID: kiosk, Seq: 12, Expires: now.Add(time.Hour), Kind: wire.CmdOutOfService, Args: map[string]string{"reason": "maintenance"}})},
		"UpdateOfferTopic": {signed("update-offer", wire.UpdateOfferTopic(kiosk), wire.TypeUpdateOffer,
			wire.UpdateOffer{KioskID: kiosk, Seq: 14, Expires: now.Add(time.Hour), RolloutID: "r1", Target: "einwurf-1.3.0.raucb",
				Version: "1.3.0", Kind: "bundle", MetadataURL: "https://central.example/tuf/", TargetsURL: "https://central.example/targets/"}),
			signed("update-ack", wire.UpdateOfferTopic(kiosk), wire.TypeUpdateAck,
				wire.UpdateAck{KioskID: kiosk, RolloutID: "r1", Version: "1.3.0", State: wire.UpdateTrial, Time: now})},
		"StaffListTopic": {signed("staff-list", wire.StaffListTopic(kiosk), wire.TypeStaffList,
			wire.StaffList{Seq: 3, Issued: now, Salt: strings.Repeat("0f", 16), Badges: []string{sha},
				PINs: []wire.PINSlot{{Slot: 1, Salt: []byte("0123456789abcdef"), Hash: []byte("fedcba9876543210"), Time: 2, MemoryKiB: 19 << 10, Threads: 1}}})},
	}
}

// check runs check.mjs on the document with the samples.
func check(t *testing.T, doc string, ss []sample) report {
	t.Helper()
	node := testtool.NeedTool(t, "node")
	if _, err := os.Stat("../../tools/npm/node_modules/@asyncapi/parser"); err != nil {
		testtool.SkipOrFail(t, "tools/npm is not installed (make deps runs .ci/npm)")
	}
	dir := t.TempDir()
	sf := filepath.Join(dir, "samples.json")
	b, _ := json.Marshal(ss)
	if err := os.WriteFile(sf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "check.mjs", doc, sf)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("check.mjs: %v: %s", err, errb.String())
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("check.mjs report: %v: %.500s", err, out.String())
	}
	return r
}

// TestDocumentMatchesWire is the contract check: the document parses
// without errors or warnings; every topic of wire has its channel and an
// operation, every message the code produces validates against its
// channel's schema (and broken ones do not), every JSON type of wire has a
// schema with exactly its fields, and wire's enumerated constants are the
// schemas' enums.
func TestDocumentMatchesWire(t *testing.T) {
	api := readWire(t)
	byFunc := samples(t)
	var all []sample
	for _, f := range api.topicFuncs {
		ss, ok := byFunc[f]
		if !ok {
			t.Errorf("wire.%s has no sample here: add its channel and schema to einwurf.yaml and a sample to samples()", f)
		}
		all = append(all, ss...)
	}
	for f := range byFunc {
		if !slices.Contains(api.topicFuncs, f) {
			t.Errorf("sample for wire.%s, which wire does not declare", f)
		}
	}
	for _, s := range all {
		if s.body != nil {
			v := reflect.ValueOf(s.body)
			for i := 0; i < v.NumField(); i++ {
				if v.Field(i).IsZero() {
					t.Errorf("sample %s leaves %s.%s unset: set every field so the schema checks it", s.Name, v.Type().Name(), v.Type().Field(i).Name)
				}
			}
		}
	}
	bad := badSamples(byFunc)
	r := check(t, "einwurf.yaml", append(all, bad...))
	if len(r.Results) != len(all)+len(bad) {
		t.Fatalf("%d results for %d samples", len(r.Results), len(all)+len(bad))
	}

	for _, d := range r.Diagnostics {
		if d.Severity <= 1 { // 0 error, 1 warning
			t.Errorf("parser: %s at %s: %s", d.Code, d.Path, d.Message)
		}
	}
	if len(r.Channels) == 0 {
		t.Fatal("the parser found no channels")
	}

	// Every sample on a channel, valid; every channel used by wire.
	used := map[string]bool{}
	for _, res := range r.Results {
		if strings.HasPrefix(res.Name, badPrefix) {
			if res.Valid {
				t.Errorf("%s was accepted", res.Name)
			}
			continue
		}
		if !res.Valid {
			t.Errorf("%s does not validate: channel %q: %s", res.Name, res.Channel, strings.Join(res.Errors, "; "))
		}
		used[res.Channel] = true
	}
	for _, ch := range r.Channels {
		if !used[ch.ID] {
			t.Errorf("channel %s (%s) matches no topic of wire: remove it or add its topic function", ch.ID, ch.Address)
		}
		for _, p := range ch.Parameters {
			if !strings.Contains(ch.Address, "{"+p+"}") {
				t.Errorf("channel %s: parameter %s not in the address", ch.ID, p)
			}
		}
	}

	// One operation per channel: the central receives what kiosks publish
	// and sends what it publishes to them, at QoS 1.
	ops := map[string]int{}
	for _, op := range r.Operations {
		for _, c := range op.Channels {
			ops[c]++
			var addr string
			for _, ch := range r.Channels {
				if ch.ID == c {
					addr = ch.Address
				}
			}
			want := "receive"
			if strings.HasPrefix(addr, wire.Root+"/c/") {
				want = "send"
			}
			wantQoS := 1
			if _, ok := qos0[op.ID]; ok {
				wantQoS = 0
			}
			if op.Action != want || op.QoS != wantQoS {
				t.Errorf("operation %s on %s: %s at QoS %d, want %s at QoS %d", op.ID, addr, op.Action, op.QoS, want, wantQoS)
			}
		}
	}
	for _, ch := range r.Channels {
		if ops[ch.ID] != 1 {
			t.Errorf("channel %s has %d operations, want 1", ch.ID, ops[ch.ID])
		}
	}

	// Every JSON type of wire has a schema with exactly its fields.
	for name, fields := range api.structs {
		if _, ok := notMQTT[name]; ok {
			continue
		}
		s, ok := r.Schemas[name]
		if !ok {
			t.Errorf("wire.%s has no schema in components/schemas", name)
			continue
		}
		var props, req []string
		for _, f := range fields {
			props = append(props, f.name)
			if !f.optional {
				req = append(req, f.name)
			}
		}
		if !sameSet(props, s.Properties) {
			t.Errorf("schema %s has properties %v, wire.%s has %v", name, s.Properties, name, props)
		}
		if !sameSet(req, s.Required) {
			t.Errorf("schema %s requires %v, wire.%s always sends %v", name, s.Required, name, req)
		}
	}

	// The signed messages' types are wire's signature domains.
	var docTypes, wireTypes []string
	for _, ch := range r.Channels {
		for _, m := range ch.Messages {
			if p, ok := m.Payload["properties"].(map[string]any); ok {
				if ty, ok := p["type"].(map[string]any); ok {
					if c, ok := ty["const"].(string); ok {
						docTypes = append(docTypes, c)
					}
				}
			}
		}
	}
	for n, v := range api.consts {
		if strings.HasPrefix(n, "Type") && !notMQTTTypes[v] {
			wireTypes = append(wireTypes, v)
		}
	}
	if !sameSet(docTypes, wireTypes) {
		t.Errorf("signed message types in the document %v, in wire %v", docTypes, wireTypes)
	}

	// Enumerated constants.
	for _, e := range enums {
		var vals []string
		for n, v := range api.consts {
			if strings.HasPrefix(n, e.prefix) && len(n) > len(e.prefix) && n[len(e.prefix)] >= 'A' && n[len(e.prefix)] <= 'Z' {
				vals = append(vals, v)
			}
		}
		got := r.Schemas[e.schema].Enums[e.prop]
		if len(vals) == 0 || !sameSet(vals, got) {
			t.Errorf("%s.%s enum %v, wire's %s… constants %v", e.schema, e.prop, got, e.prefix, vals)
		}
	}
}

// badSamples break the schemas (an unknown field, a wrong type, a wrong
// signature type, a topic nobody declared): the check must refuse each,
// which shows it has teeth.
func badSamples(byFunc map[string][]sample) []sample {
	receipt := byFunc["ReceiptTopic"][0]
	env := receipt.JSON.(map[string]any)
	withField := map[string]any{"type": env["type"], "sig": env["sig"], "body": map[string]any{}}
	for k, v := range env["body"].(map[string]any) {
		withField["body"].(map[string]any)[k] = v
	}
	withField["body"].(map[string]any)["number"] = "035F083761" // personal data has no place here
	wrongType := map[string]any{"type": "command", "sig": env["sig"], "body": env["body"]}
	status := map[string]any{"kiosk_id": "k1", "online": "yes", "since": "2026-12-01T09:00:00Z"}
	return []sample{
		{Name: badPrefix + "extra field", Topic: receipt.Topic, JSON: withField},
		{Name: badPrefix + "wrong envelope type", Topic: receipt.Topic, JSON: wrongType},
		{Name: badPrefix + "wrong field type", Topic: wire.StatusTopic("k1"), JSON: status},
		{Name: badPrefix + "undeclared topic", Topic: wire.Root + "/k/k1/secret", JSON: status},
		{Name: badPrefix + "JSON on the chunk channel", Topic: wire.ChunkTopic("k1", "p1", 0), JSON: status},
	}
}

const badPrefix = "bad: "

// TestBrokenDocument shows that the parser's verdict is taken: a document
// with a dangling reference reports an error.
func TestBrokenDocument(t *testing.T) {
	b, err := os.ReadFile("einwurf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(b, []byte("'#/components/schemas/Receipt'"), []byte("'#/components/schemas/NoSuchSchema'"), 1)
	if bytes.Equal(b, broken) {
		t.Fatal("nothing to break")
	}
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	r := check(t, path, nil)
	errs := 0
	for _, d := range r.Diagnostics {
		if d.Severity == 0 {
			errs++
		}
	}
	if errs == 0 {
		t.Fatalf("no error for a dangling reference: %+v", r.Diagnostics)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b)) && len(a) == len(b)
}
