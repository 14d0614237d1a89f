package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Outgoing is an activity to deliver, signed as Signer (a channel's
// actor), to each of Inboxes.
type Outgoing struct {
	Signer  string
	Body    []byte
	Inboxes []string
}

// Delivery is one queued POST of an activity to one inbox.
type Delivery struct {
	ID        int64
	Signer    string
	Body      []byte
	Inbox     string
	Host      string
	Attempts  int
	CreatedAt time.Time
}

// QueueLimits bound the delivery queue, so that an unreachable or slow
// server cannot make it grow without end.
type QueueLimits struct {
	PerHost int // deliveries waiting for one host
	Total   int // deliveries waiting in all
}

// DeliveryResult is what became of a delivery: done (delivered or given
// up), or to be tried again at Next.
type DeliveryResult struct {
	ID   int64
	Done bool
	Next time.Time
}

// DeliveryQueue is the durable queue of outgoing ActivityPub deliveries.
type DeliveryQueue interface {
	// Enqueue stores o with one delivery per distinct inbox, due now, and
	// reports how many inboxes were left out for being beyond lim.
	Enqueue(ctx context.Context, o *Outgoing, lim QueueLimits, now time.Time) (int, error)
	// DueDeliveries lists up to limit deliveries due at now, oldest first,
	// at most perHost of each host. Deliveries under way are still due, so
	// they count in perHost: the caller skips those it has started.
	DueDeliveries(ctx context.Context, now time.Time, perHost, limit int) ([]Delivery, error)
	// FinishDeliveries records results in one transaction: done ones are
	// removed (with their activity once no delivery needs it), the others
	// rescheduled with one more attempt.
	FinishDeliveries(ctx context.Context, results []DeliveryResult) error
	// NextDeliveryAt is when the earliest delivery after now is due (false:
	// none is).
	NextDeliveryAt(ctx context.Context, now time.Time) (time.Time, bool, error)
	// CountDeliveries is how many deliveries wait.
	CountDeliveries(ctx context.Context) (int, error)
}

// Enqueue implements DeliveryQueue.
func (s *SQLite) Enqueue(ctx context.Context, o *Outgoing, lim QueueLimits, now time.Time) (int, error) {
	queued, left := 0, 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var total int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_deliveries`).Scan(&total); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO ap_activities (signer, body, created_at) VALUES (?,?,?)`, o.Signer, o.Body, now.UnixMilli())
		if err != nil {
			return err
		}
		act, err := res.LastInsertId()
		if err != nil {
			return err
		}
		perHost := map[string]int{}
		for _, inbox := range o.Inboxes {
			host := inboxHost(inbox)
			if host == "" {
				continue
			}
			if total >= lim.Total {
				left++
				continue
			}
			n, seen := perHost[host]
			if !seen {
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_deliveries WHERE host = ?`, host).Scan(&n); err != nil {
					return err
				}
			}
			if n >= lim.PerHost {
				perHost[host] = n
				left++
				continue
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO ap_deliveries (activity_id, inbox, host, next_at, created_at)
				VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING`, act, inbox, host, now.UnixMilli(), now.UnixMilli())
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 1 {
				perHost[host], total, queued = n+1, total+1, queued+1
			} else {
				perHost[host] = n
			}
		}
		if queued == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM ap_activities WHERE id = ?`, act)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("queue an activity of %s: %w", o.Signer, err)
	}
	return left, nil
}

// inboxHost is the host an inbox URL is on, lower case ("" if none).
func inboxHost(inbox string) string {
	u, err := url.Parse(inbox)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// DueDeliveries implements DeliveryQueue.
func (s *SQLite) DueDeliveries(ctx context.Context, now time.Time, perHost, limit int) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, a.signer, a.body, d.inbox, d.host, d.attempts, d.created_at FROM (
			SELECT *, ROW_NUMBER() OVER (PARTITION BY host ORDER BY next_at, id) AS n
			FROM ap_deliveries WHERE next_at <= ?) d
		JOIN ap_activities a ON a.id = d.activity_id
		WHERE d.n <= ? ORDER BY d.next_at, d.id LIMIT ?`, now.UnixMilli(), perHost, limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var created int64
		if err := rows.Scan(&d.ID, &d.Signer, &d.Body, &d.Inbox, &d.Host, &d.Attempts, &created); err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		d.CreatedAt = time.UnixMilli(created)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return out, nil
}

// FinishDeliveries implements DeliveryQueue.
func (s *SQLite) FinishDeliveries(ctx context.Context, results []DeliveryResult) error {
	if len(results) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range results {
			if !r.Done {
				if _, err := tx.ExecContext(ctx, `UPDATE ap_deliveries SET attempts = attempts + 1, next_at = ? WHERE id = ?`, r.Next.UnixMilli(), r.ID); err != nil {
					return err
				}
				continue
			}
			var act int64
			err := tx.QueryRowContext(ctx, `DELETE FROM ap_deliveries WHERE id = ? RETURNING activity_id`, r.ID).Scan(&act)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM ap_activities WHERE id = ?
				AND NOT EXISTS (SELECT 1 FROM ap_deliveries WHERE activity_id = ?)`, act, act); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d deliveries: %w", len(results), err)
	}
	return nil
}

// NextDeliveryAt implements DeliveryQueue.
func (s *SQLite) NextDeliveryAt(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(next_at) FROM ap_deliveries WHERE next_at > ?`, now.UnixMilli()).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", err)
	}
	return time.UnixMilli(next.Int64), next.Valid, nil
}

// CountDeliveries implements DeliveryQueue.
func (s *SQLite) CountDeliveries(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_deliveries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}
