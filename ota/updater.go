package ota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/einwurf/einwurf/ota/durable"
	"github.com/einwurf/einwurf/ota/tuf"
	"github.com/einwurf/einwurf/wire"
	"github.com/einwurf/einwurf/wire/blocks"
)

// Errors of the updater.
var (
	// ErrRefused wraps the reason an update was refused (its code is in
	// the state's Reason).
	ErrRefused = errors.New("ota: update refused")
	// ErrBusy is returned for an offer while another update is under way.
	ErrBusy = errors.New("ota: another update is under way")
	// ErrCrash is what a test Hook returns to stop the machine where it is.
	ErrCrash = errors.New("ota: stopped by hook")
	// ErrNoUpdate is returned by Newest when the repository holds nothing
	// newer of the updater's kind.
	ErrNoUpdate = errors.New("ota: no update")
)

// Custom is a target's custom metadata, as the release tool writes it.
type Custom struct {
	Version string `json:"version"`
	Kind    string `json:"kind"`
	// Blocks names the target holding the payload's block index.
	Blocks string `json:"blocks"`
}

// Config is what an Updater works with.
type Config struct {
	FS durable.FS
	// Dir holds the machine's state and the slots' block indexes.
	Dir    string
	Slots  Slots
	TUF    *tuf.Client
	Source Source
	// Booted is the slot this program runs from; Version its version (of
	// the bundle or root file system, as Slots.Kind says).
	Booted, Version string
	// Health runs the appliance's checks after a switch; a non-nil error's
	// text is the reason code reported.
	Health         func(ctx context.Context) error
	HealthDeadline time.Duration
	// MayInstall says whether a switch may happen now (no visit in
	// progress, inside the maintenance window).
	MayInstall func(now time.Time) bool
	// Poll is how often MayInstall is asked again (default 30 s).
	Poll time.Duration
	// Switching is told when the kiosk goes out of service for the switch.
	Switching func(on bool)
	// Restart boots the switched slot: the application exits to its
	// launcher, or the board reboots. It may return (then Run returns).
	Restart func() error
	// Report sends a report to the central (signed by the caller).
	Report func(wire.UpdateReport)
	Now    func() time.Time
	Log    *slog.Logger
	// Hook, for tests, is called after each persisted phase (and with
	// "block" during downloads); an error stops the machine there.
	Hook func(phase string) error
}

// Updater runs the update state machine.
type Updater struct {
	c     Config
	mu    sync.Mutex // guards state's writes and the state file, and reads from other goroutines
	state State
	Stats DownloadStats
}

// New loads the persisted state.
func New(c Config) (*Updater, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Poll == 0 {
		c.Poll = 30 * time.Second
	}
	if c.HealthDeadline == 0 {
		c.HealthDeadline = 2 * time.Minute
	}
	if err := c.FS.MkdirAll(c.Dir); err != nil {
		return nil, err
	}
	st, err := loadState(c.FS, c.Dir)
	if err != nil {
		c.Log.Warn("ota: unreadable state, starting idle", "err", err)
		st = State{}
	}
	return &Updater{c: c, state: st}, nil
}

// State returns the machine's state. It is safe to call from any
// goroutine.
func (u *Updater) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

func (u *Updater) set(phase, reason string) error {
	u.mu.Lock()
	u.state.Phase, u.state.Reason, u.state.Updated = phase, reason, u.c.Now()
	err := saveState(u.c.FS, u.c.Dir, u.state)
	u.mu.Unlock()
	if err != nil {
		return err
	}
	u.report(0)
	return u.hook(phase)
}

func (u *Updater) hook(phase string) error {
	if u.c.Hook != nil {
		return u.c.Hook(phase)
	}
	return nil
}

func (u *Updater) report(progress float64) {
	if u.c.Report == nil {
		return
	}
	u.c.Report(wire.UpdateReport{RolloutID: u.state.RolloutID, Target: u.state.Target, Version: u.state.Version,
		State: u.state.Phase, Progress: progress, Reason: u.state.Reason, Time: u.c.Now()})
}

// Kind returns the kind of payload the updater installs (KindBundle or
// KindRootfs).
func (u *Updater) Kind() string { return u.c.Slots.Kind }

// Newest asks the repository now (a TUF refresh) for the newest target of
// the updater's kind above the running version, and returns it as an
// offer of no rollout (the kiosk's own check, "check for updates now"):
// Offer carries it out like any other. It returns ErrNoUpdate when there is
// none. It must not run beside Offer or Resume.
func (u *Updater) Newest(ctx context.Context) (wire.UpdateOffer, error) {
	if err := u.c.TUF.Refresh(ctx); err != nil {
		return wire.UpdateOffer{}, err
	}
	names, err := u.c.TUF.TargetNames()
	if err != nil {
		return wire.UpdateOffer{}, err
	}
	var best wire.UpdateOffer
	for _, n := range names {
		tg, err := u.c.TUF.Target(n)
		if err != nil {
			return wire.UpdateOffer{}, err
		}
		var cu Custom
		if len(tg.Custom) == 0 || json.Unmarshal(tg.Custom, &cu) != nil || cu.Kind != u.c.Slots.Kind || cu.Blocks == "" {
			continue // a block index, or another kind
		}
		if CompareVersions(cu.Version, u.c.Version) > 0 && (best.Target == "" || CompareVersions(cu.Version, best.Version) > 0) {
			best = wire.UpdateOffer{Target: n, Version: cu.Version, Kind: cu.Kind}
		}
	}
	if best.Target == "" {
		return best, ErrNoUpdate
	}
	return best, nil
}

// Offer starts (or resumes) the update an offer names. The offer's
// signature and expiry are the caller's to check; nothing else in it is
// trusted. It returns when the update is refused, has failed for now (to
// be resumed), or has switched and restarted.
func (u *Updater) Offer(ctx context.Context, o wire.UpdateOffer) error {
	if !u.state.Done() {
		if u.state.Target == o.Target && u.state.RolloutID == o.RolloutID {
			return u.Resume(ctx)
		}
		return ErrBusy
	}
	u.mu.Lock()
	u.state = State{RolloutID: o.RolloutID, Target: o.Target, Version: o.Version, Kind: o.Kind,
		Slot: Other(u.c.Booted), FromSlot: u.c.Booted, FromVersion: u.c.Version}
	u.mu.Unlock()
	if err := u.set(wire.UpdateOffered, ""); err != nil {
		return err
	}
	return u.run(ctx)
}

// Resume continues whatever the persisted state says, at start-up: an
// interrupted download, a trial (health check, then commit or roll back),
// a fall-back by the boot loader, a report not yet sent.
func (u *Updater) Resume(ctx context.Context) error {
	st := u.state
	if st.Done() {
		if st.Phase != "" && st.Reported != st.Phase {
			u.report(0)
		}
		return nil
	}
	env, err := u.c.Slots.Read()
	if err != nil {
		return err
	}
	switch {
	case u.c.Booted == st.Slot && env.Slot == st.Slot && env.Trial:
		return u.trial(ctx)
	case u.c.Booted == st.Slot && env.Slot == st.Slot && (st.Phase == wire.UpdateSwitched || st.Phase == wire.UpdateTrial):
		// Committed in the environment before the state said so.
		return u.set(wire.UpdateCommitted, "")
	case u.c.Booted == st.Slot && (st.Phase == wire.UpdateSwitched || st.Phase == wire.UpdateTrial):
		// Fell back in the environment before the state said so.
		reason := st.Reason
		if reason == "" {
			reason = "health"
		}
		if err := u.set(wire.UpdateRolledBack, reason); err != nil {
			return err
		}
		return u.restart()
	case u.c.Booted != st.Slot && (st.Phase == wire.UpdateSwitched || st.Phase == wire.UpdateTrial):
		if env.Slot == st.Slot && env.Trial {
			// Switched, not yet restarted into it.
			return u.restart()
		}
		reason := st.Reason
		if reason == "" {
			reason = "boot-limit"
		}
		return u.set(wire.UpdateRolledBack, reason)
	}
	return u.run(ctx)
}

// MarkReported records that the central has phase (if it is still the
// current one). It is safe to call from any goroutine.
func (u *Updater) MarkReported(phase string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state.Phase != phase || u.state.Reported == phase {
		return nil
	}
	u.state.Reported = phase
	return saveState(u.c.FS, u.c.Dir, u.state)
}

func (u *Updater) refuse(reason string, err error) error {
	if e := u.set(wire.UpdateRefused, reason); e != nil {
		return e
	}
	return fmt.Errorf("%w: %s: %v", ErrRefused, reason, err)
}

// refusalReason names a verification failure, or "" for a fault to retry.
func refusalReason(err error) string {
	for _, r := range []struct {
		err  error
		code string
	}{{tuf.ErrSignature, "bad-signature"}, {tuf.ErrExpired, "expired"}, {tuf.ErrRollback, "rollback"},
		{tuf.ErrMismatch, "mix-and-match"}, {tuf.ErrTooLong, "too-long"}, {tuf.ErrMalformed, "malformed"},
		{tuf.ErrNotFound, "unknown-target"}, {blocks.ErrMalformed, "bad-index"}, {ErrPayload, "payload-mismatch"},
		{ErrBundle, "bad-bundle"}} {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return ""
}

// run carries an update from offered to switched.
func (u *Updater) run(ctx context.Context) error {
	if u.state.Phase == wire.UpdateVerified {
		return u.switchSlot(ctx)
	}
	tg, idx, err := u.verifyMetadata(ctx)
	if err != nil {
		if reason := refusalReason(err); reason != "" {
			return u.refuse(reason, err)
		}
		if errors.Is(err, ErrRefused) {
			return err
		}
		return err // a fault: the state stays, Resume retries
	}
	image := u.c.Slots.Image[u.state.Slot]
	streamed := false // the whole payload's hash was checked as it was written, in this run
	if u.state.Phase == wire.UpdateOffered || u.state.Phase == wire.UpdateDownloading {
		if err := u.set(wire.UpdateDownloading, ""); err != nil {
			return err
		}
		sum, err := u.download(ctx, tg, idx)
		if err != nil {
			if reason := refusalReason(err); reason != "" {
				u.discard(image)
				return u.refuse(reason, err)
			}
			return err
		}
		if sum != tg.SHA256 {
			u.discard(image)
			return u.refuse("payload-mismatch", ErrPayload)
		}
		streamed = true
		if err := u.set(wire.UpdateWritten, ""); err != nil {
			return err
		}
	}
	if u.state.Phase == wire.UpdateWritten {
		if !streamed {
			// Written by an earlier run (before a crash or power cut):
			// read back what is on the disk, this is what will boot.
			sum, err := hashFile(u.c.FS, image, tg.Length)
			if err != nil {
				return err
			}
			if sum != tg.SHA256 {
				u.discard(image)
				return u.refuse("payload-mismatch", ErrPayload)
			}
		}
		if u.c.Slots.Kind == KindBundle {
			if err := u.unpack(image, tg.Length); err != nil {
				if reason := refusalReason(err); reason != "" {
					u.discard(image)
					return u.refuse(reason, err)
				}
				return err
			}
		}
		if err := durable.WriteFile(u.c.FS, u.indexPath(u.state.Slot), idx.Marshal()); err != nil {
			return err
		}
		if err := u.set(wire.UpdateVerified, ""); err != nil {
			return err
		}
	}
	return u.switchSlot(ctx)
}

// switchSlot waits until the kiosk may install, then switches to the
// verified slot and restarts into it.
func (u *Updater) switchSlot(ctx context.Context) error {
	if err := u.waitMayInstall(ctx); err != nil {
		return err
	}
	if u.c.Switching != nil {
		u.c.Switching(true)
	}
	if err := u.c.Slots.SwitchTo(u.state.Slot); err != nil {
		return err
	}
	if err := u.hook("env-switched"); err != nil {
		return err
	}
	if err := u.set(wire.UpdateSwitched, ""); err != nil {
		return err
	}
	return u.restart()
}

func (u *Updater) restart() error {
	if u.c.Restart == nil {
		return nil
	}
	return u.c.Restart()
}

func (u *Updater) indexPath(slot string) string { return path.Join(u.c.Dir, "index-"+slot+".json") }

// discard empties a slot's image after a refusal, so nothing of the
// refused payload stays in it.
func (u *Updater) discard(image string) {
	f, err := u.c.FS.OpenFile(image, os.O_RDWR)
	if err != nil {
		return
	}
	defer f.Close()
	if u.c.Slots.Kind == KindBundle {
		f.Truncate(0)
	} else {
		f.WriteAt(make([]byte, 4096), 0) // a partition: spoil its start
	}
	f.Sync()
	u.c.FS.Remove(u.indexPath(u.state.Slot))
}

// verifyMetadata refreshes the TUF metadata and checks the offer against
// it: the target exists, its kind, its version (newer than ours) and its
// block index.
func (u *Updater) verifyMetadata(ctx context.Context) (tuf.Target, blocks.Index, error) {
	var idx blocks.Index
	if err := u.c.TUF.Refresh(ctx); err != nil {
		return tuf.Target{}, idx, err
	}
	tg, err := u.c.TUF.Target(u.state.Target)
	if err != nil {
		return tg, idx, err
	}
	var cu Custom
	if err := json.Unmarshal(tg.Custom, &cu); err != nil {
		return tg, idx, fmt.Errorf("%w: custom metadata: %v", tuf.ErrMalformed, err)
	}
	switch {
	case cu.Kind != u.c.Slots.Kind || u.state.Kind != "" && u.state.Kind != cu.Kind:
		return tg, idx, u.refuse("wrong-kind", fmt.Errorf("target is %q", cu.Kind))
	case u.state.Version != "" && u.state.Version != cu.Version:
		return tg, idx, u.refuse("version-mismatch", fmt.Errorf("offer says %q, metadata %q", u.state.Version, cu.Version))
	case CompareVersions(cu.Version, u.c.Version) <= 0:
		return tg, idx, u.refuse("older-version", fmt.Errorf("%q is not newer than %q", cu.Version, u.c.Version))
	}
	u.mu.Lock()
	u.state.Version = cu.Version
	u.mu.Unlock()
	it, err := u.c.TUF.Target(cu.Blocks)
	if err != nil {
		return tg, idx, err
	}
	if it.Length > blocks.MaxIndex {
		return tg, idx, fmt.Errorf("%w: index %d bytes", tuf.ErrTooLong, it.Length)
	}
	body, err := u.c.Source.Range(ctx, it.Path, 0, it.Length, it.Length)
	if err != nil {
		return tg, idx, err
	}
	ib := make([]byte, it.Length)
	_, err = ioReadFull(body, ib)
	body.Close()
	if err != nil {
		return tg, idx, fmt.Errorf("%w: index: %v", ErrFetch, err)
	}
	if sha256Sum(ib) != it.SHA256 {
		return tg, idx, fmt.Errorf("%w: index hash", ErrPayload)
	}
	idx, err = blocks.Parse(ib)
	if err != nil {
		return tg, idx, err
	}
	if idx.Length != tg.Length {
		return tg, idx, fmt.Errorf("%w: index says %d bytes, target %d", ErrPayload, idx.Length, tg.Length)
	}
	return tg, idx, nil
}

func (u *Updater) download(ctx context.Context, tg tuf.Target, idx blocks.Index) ([32]byte, error) {
	var active *blocks.Index
	if b, err := u.c.FS.ReadFile(u.indexPath(u.c.Booted)); err == nil {
		if x, err := blocks.Parse(b); err == nil {
			active = &x
		}
	}
	if active == nil && u.c.Slots.Kind == KindRootfs {
		// A root file system flashed at the factory has no index: the
		// running partition is read (locally, once) for blocks to reuse.
		active = u.indexPartition(u.c.Slots.Image[u.c.Booted], idx)
	}
	img := u.c.Slots.Image[u.state.Slot]
	if u.c.Slots.Kind == KindBundle {
		if err := u.c.FS.MkdirAll(path.Dir(img)); err != nil {
			return [32]byte{}, err
		}
	}
	// The slot's old index no longer describes it.
	if err := u.c.FS.Remove(u.indexPath(u.state.Slot)); err != nil && !durable.IsNotExist(err) {
		return [32]byte{}, err
	}
	next := 0.1
	var hookErr error
	sum, err := download(ctx, u.c.FS, img, u.c.Slots.Image[u.c.Booted], active, idx, hookedSource{u.c.Source, func() error {
		if hookErr == nil {
			hookErr = u.hook("block")
		}
		return hookErr
	}, idx.Size}, tg.Path, func(done int64) {
		if p := float64(done) / float64(max(idx.Length, 1)); p >= next {
			next = p + 0.1
			u.report(p)
		}
	}, &u.Stats)
	if hookErr != nil {
		return sum, hookErr
	}
	if err == nil && u.c.Slots.Kind == KindBundle {
		f, ferr := u.c.FS.OpenFile(img, os.O_RDWR)
		if ferr != nil {
			return sum, ferr
		}
		defer f.Close()
		if err := f.Truncate(tg.Length); err != nil {
			return sum, err
		}
		if err := f.Sync(); err != nil {
			return sum, err
		}
		if err := u.c.FS.SyncDir(path.Dir(img)); err != nil {
			return sum, err
		}
	}
	return sum, err
}

// indexPartition builds the block index of the first idx.Length bytes of
// a partition (nil when it cannot be read).
func (u *Updater) indexPartition(part string, idx blocks.Index) *blocks.Index {
	f, err := u.c.FS.OpenFile(part, os.O_RDONLY)
	if err != nil {
		return nil
	}
	defer f.Close()
	x, err := blocks.Build(io.NewSectionReader(f, 0, idx.Length), idx.Size)
	if err != nil || x.Length != idx.Length {
		return nil
	}
	return &x
}

func (u *Updater) unpack(image string, n int64) error {
	dir := path.Join(u.c.Slots.Tree, u.state.Slot)
	tmp := dir + ".new"
	if err := u.c.FS.RemoveAll(tmp); err != nil {
		return err
	}
	if err := u.c.FS.RemoveAll(dir); err != nil {
		return err
	}
	if err := u.c.FS.SyncDir(u.c.Slots.Tree); err != nil {
		return err
	}
	if err := unpack(u.c.FS, image, n, tmp); err != nil {
		return err
	}
	if err := u.c.FS.Rename(tmp, dir); err != nil {
		return err
	}
	return u.c.FS.SyncDir(u.c.Slots.Tree)
}

func (u *Updater) waitMayInstall(ctx context.Context) error {
	for u.c.MayInstall != nil && !u.c.MayInstall(u.c.Now()) {
		t := time.NewTimer(u.c.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// trial runs the health check in the switched slot, then commits or falls
// back to the slot it came from.
func (u *Updater) trial(ctx context.Context) error {
	if u.state.Phase != wire.UpdateTrial {
		if err := u.set(wire.UpdateTrial, ""); err != nil {
			return err
		}
	}
	if u.c.Switching != nil {
		u.c.Switching(false)
	}
	var herr error
	if u.c.Health != nil {
		hctx, cancel := context.WithTimeout(ctx, u.c.HealthDeadline)
		herr = u.c.Health(hctx)
		if herr == nil && hctx.Err() != nil {
			herr = errors.New("health-deadline")
		}
		cancel()
	}
	if herr == nil {
		if err := u.c.Slots.Commit(); err != nil {
			return err
		}
		return u.set(wire.UpdateCommitted, "")
	}
	reason := "health:" + sanitizeReason(herr.Error())
	u.c.Log.Warn("ota: health check failed, rolling back", "reason", reason)
	if u.c.Switching != nil {
		u.c.Switching(true)
	}
	if err := u.c.Slots.FallBack(u.state.FromSlot); err != nil {
		return err
	}
	if err := u.hook("env-fallback"); err != nil {
		return err
	}
	if err := u.set(wire.UpdateRolledBack, reason); err != nil {
		return err
	}
	return u.restart()
}

func sanitizeReason(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == ':' {
			b.WriteRune(r)
		} else if r >= 'A' && r <= 'Z' {
			b.WriteRune(r + 32)
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

// CompareVersions compares dotted versions numerically field by field
// (1.10 > 1.9); a field that is not a number compares as text. "dev" and
// "" are older than any other version.
func CompareVersions(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" || a == "dev" {
		return -1
	}
	if b == "" || b == "dev" {
		return 1
	}
	as, bs := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case x != y:
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
