package monitor

import (
	"context"
	"testing"

	"github.com/einwurf/einwurf/wire"
)

// FuzzHandle feeds the monitor arbitrary kiosk messages: it must not
// panic, and nothing a kiosk that is not enrolled sends may reach the
// fleet.
func FuzzHandle(f *testing.F) {
	fx := newFixture(f)
	f.Add(wire.StatusTopic("k-1"), []byte(`{"kiosk_id":"k-1","online":true}`))
	f.Add(wire.TelemetryTopic("k-2"), []byte(`{"kiosk_id":"k-2","spool_entries":3,"temp_milli_c":40000}`))
	f.Add(wire.EventTopic("k-1"), []byte(`{"kiosk_id":"k-1","severity":"alarm","code":"disk.full"}`))
	f.Add(wire.EventTopic("k-1"), []byte(`{"kiosk_id":"k-1","severity":"info","code":"disk.ok"}`))
	f.Add(wire.BirthTopic("k-1"), fx.signed("k-1", wire.TypeBirth, wire.Birth{KioskID: "k-1", Seq: 3}))
	f.Add(wire.CommandResultTopic("k-1"), fx.signed("k-1", wire.TypeCommandResult, wire.CommandResult{KioskID: "k-1", Seq: 1, Status: "done"}))
	f.Add(wire.StatusTopic("k-9"), []byte(`{"kiosk_id":"k-9","online":true}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		fx.m.Handle(context.Background(), topic, payload)
		ks, err := fx.st.Kiosks(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if k.KioskID != "k-1" && k.KioskID != "k-2" {
				t.Fatalf("kiosk %q entered the fleet", k.KioskID)
			}
		}
	})
}
