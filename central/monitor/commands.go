package monitor

import (
	"context"
	"errors"
	"fmt"

	"github.com/einwurf/einwurf/central/store"
	"github.com/einwurf/einwurf/wire"
)

// Errors of Send.
var (
	ErrKind      = errors.New("monitor: unknown command")
	ErrArgs      = errors.New("monitor: bad command arguments")
	ErrNoKiosks  = errors.New("monitor: no kiosks chosen")
	ErrNoBroker  = errors.New("monitor: not connected to the broker")
	errNotSigned = errors.New("monitor: command not signed")
)

// Kinds are the commands an operator may send, in the order the dashboard
// offers them.
func Kinds() []string {
	return []string{wire.CmdOutOfService, wire.CmdInService, wire.CmdResendStatus, wire.CmdCheckUpdates,
		wire.CmdSupportBundle, wire.CmdReboot, wire.CmdRotateKey}
}

// ServiceReasons are the reason keys an operator may give for "out of
// service"; the kiosk shows its own text for each.
func ServiceReasons() []string {
	return []string{"maintenance", "technical-fault", "closed"}
}

func knownKind(k string) bool {
	for _, v := range Kinds() {
		if v == k {
			return true
		}
	}
	return false
}

// Send signs command kind with args for each kiosk (its own sequence
// number and an expiry), logs it in the audit log under operator by and
// publishes it. It returns the logged records; a kiosk whose command
// could not be published is logged with result "failed".
func (m *Monitor) Send(ctx context.Context, by string, kioskIDs []string, kind string, args map[string]string) ([]store.CommandRecord, error) {
	if !knownKind(kind) {
		return nil, fmt.Errorf("%w: %q", ErrKind, kind)
	}
	if kind == wire.CmdOutOfService {
		ok := false
		for _, r := range ServiceReasons() {
			ok = ok || args["reason"] == r
		}
		if !ok || len(args) != 1 {
			return nil, fmt.Errorf("%w: out of service needs one of the reasons", ErrArgs)
		}
	} else if len(args) != 0 {
		return nil, fmt.Errorf("%w: %s takes none", ErrArgs, kind)
	}
	if len(kioskIDs) == 0 {
		return nil, ErrNoKiosks
	}
	return m.send(ctx, by, kioskIDs, kind, args)
}

// detailNotPublished is the audit log's detail of a command the broker did
// not take (as far as the monitor knows).
const detailNotPublished = "not published"

// MonitorUser is the audit log's "by" of the commands the monitor sends by
// itself (the confirmation of a key rotation).
const MonitorUser = "monitor"

// send signs, logs and publishes a checked command.
func (m *Monitor) send(ctx context.Context, by string, kioskIDs []string, kind string, args map[string]string) ([]store.CommandRecord, error) {
	pub := m.publisher()
	var out []store.CommandRecord
	for _, id := range kioskIDs {
		if _, err := m.cfg.Kiosks.Lookup(id); err != nil {
			return out, fmt.Errorf("%w: %s", ErrUnknown, id)
		}
		seq, err := m.cfg.Store.NextSeq(ctx, id)
		if err != nil {
			return out, err
		}
		now := m.now()
		c := wire.Command{KioskID: id, Seq: seq, Expires: now.Add(m.cfg.CommandTTL), Kind: kind, Args: args}
		rec := store.CommandRecord{KioskID: id, Seq: seq, Kind: kind, Args: args, By: by, Sent: now}
		msg, err := wire.Sign(m.cfg.SignKey, wire.TypeCommand, c)
		if err != nil {
			return out, fmt.Errorf("%w: %v", errNotSigned, err)
		}
		if rec.ID, err = m.cfg.Store.AddCommand(ctx, rec); err != nil {
			return out, err
		}
		perr := ErrNoBroker
		if pub != nil {
			perr = pub(ctx, wire.CommandTopic(id), msg, false)
		}
		if perr != nil {
			m.cfg.Log.Warn("monitor: command not published", "kiosk", id, "seq", seq, "err", perr)
			rec.Result, rec.Detail, rec.Answered = wire.ResultFailed, detailNotPublished, m.now()
			if err := m.cfg.Store.SetResult(ctx, id, seq, rec.Result, rec.Detail, rec.Answered); err != nil {
				return out, err
			}
		}
		m.met.command(kind)
		m.cfg.Log.Info("monitor: command sent", "kiosk", id, "seq", seq, "kind", kind, "by", by)
		out = append(out, rec)
	}
	m.hub.notify("commands")
	return out, nil
}
