package sqldb

import "context"

// RolloutKioskDetails returns kiosk id → (state, detail) of rollout id:
// the detail is a download's progress or a rollback's reason
// (central/release shows it; an optional addition to store.Rollouts).
func (s *DB) RolloutKioskDetails(ctx context.Context, id string) (map[string][2]string, error) {
	rows, err := s.query(ctx, `SELECT kiosk_id, state, detail FROM rollout_kiosks WHERE rollout_id = ?`, id)
	if err != nil {
		return nil, err
	}
	type row struct{ k, st, d string }
	rs, err := collect(s, rows, func(sc interface{ Scan(...any) error }) (row, error) {
		var r row
		err := sc.Scan(&r.k, &r.st, &r.d)
		return r, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string][2]string, len(rs))
	for _, r := range rs {
		out[r.k] = [2]string{r.st, r.d}
	}
	return out, nil
}
