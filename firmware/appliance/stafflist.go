package appliance

import (
	"context"
	"errors"
	"strconv"

	"github.com/einwurf/einwurf/kiosk/service"
	"github.com/einwurf/einwurf/wire"
)

// staffInLen bounds the pushed staff lists waiting; a retained topic
// delivers one list per connect, so more is a flood and dropped.
const staffInLen = 4

// staffListIn is the uplink's OnStaffList: the message is queued for
// takeStaffLists, never blocking the MQTT client. An empty message is the
// central clearing its retained list on the broker: the kiosk keeps the
// list it holds (a withdrawal is a newer list, not an empty topic).
func (a *Appliance) staffListIn(payload []byte) {
	if len(payload) == 0 {
		a.log.Info("einwurfd: the staff list topic was cleared; the list held stays")
		return
	}
	select {
	case a.staffIn <- append([]byte(nil), payload...):
	default:
		a.log.Warn("einwurfd: staff list dropped: too many waiting")
	}
}

// takeStaffLists takes the staff lists the central pushes on
// wire.StaffListTopic (retained): a list verified with the central's key
// and newer than the one held is stored atomically and used at once (the
// next badge or PIN is checked against it) and reported as a notice; the
// same list again (every reconnect delivers it) is nothing; an older,
// foreign-signed or broken one changes nothing and is reported as an
// alarm with a cause key.
func (a *Appliance) takeStaffLists(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-a.staffIn:
			seq, err := a.staff.Update(b, a.staffPath)
			switch {
			case err == nil:
				a.log.Info("einwurfd: staff list taken", "seq", seq)
				a.Notice("service.staff-list", "seq="+strconv.FormatUint(seq, 10))
			case errors.Is(err, service.ErrSameList):
			default:
				a.Alarm("service.staff-list-refused", staffListCause(err))
			}
		}
	}
}

// staffListCause is the refusal's cause key, never text from the message.
func staffListCause(err error) string {
	switch {
	case errors.Is(err, service.ErrStaleList):
		return "stale"
	case errors.Is(err, wire.ErrSignature):
		return "signature"
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	}
	return "storage"
}
