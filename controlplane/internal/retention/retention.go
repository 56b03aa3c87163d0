// Package retention is the job that deletes stored data once its data_retention period is over
// (GDPR storage limitation), and proves it did in the audit log.
//
// Invariants:
//   - Every route is pruned with the periods recorded for it (routes.retention_*), active or not:
//     a route removed from the configuration keeps its data until its own period runs out.
//     Rows without a route, and tables that hold none (pool_stats, ...), use the global defaults
//     (defaults.data_retention over the built-in 7d/30d/90d/365d/30d).
//   - Rows are deleted in batches, each one short write of the store's single writer, so the event
//     batches of the data planes are stored between two batches and never wait for the whole job.
//   - Each (table, route) with rows deleted gets one "retention_delete" audit entry, committed with
//     its last batch; each run gets one "retention_run" entry, also when nothing was deleted.
//   - audit_log itself is not pruned here (audit_logs retention belongs with the audit trail).
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// Store is what the job needs of the database; *store.Store is one.
type Store interface {
	RetentionRoutes(ctx context.Context) ([]store.RouteRetention, error)
	Prune(ctx context.Context, p store.Prune, batch int, proof func(deleted int64) (store.AuditEntry, error)) (int64, error)
	IncrementalVacuum(ctx context.Context, pages, steps int) (int64, error)
	Audit(ctx context.Context, e store.AuditEntry) error
	DeleteAuditBefore(ctx context.Context, cutoff time.Time, batch int) (int, error)
	QueryAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error)
}

// Config gives the global configuration in force, nil before one was accepted;
// *reloader.Reloader is one.
type Config interface {
	Global() *config.Global
}

// ErrRunning is returned by RunNow while another run is in progress.
var ErrRunning = errors.New("a retention run is already in progress")

// Options tune the job; the zero value is the production setting.
type Options struct {
	Now   func() time.Time                     // default time.Now (local time: schedules use it)
	After func(time.Duration) <-chan time.Time // default time.After
	// BatchSize is the most rows deleted per write; default 1000 (a few ms of the writer).
	BatchSize int
	// VacuumPages is the most free pages given back to the file system per write; default 128
	// (512 KiB of 4 KiB pages, a few ms of the writer).
	VacuumPages int
}

// Job deletes expired data, on its schedule (Run) or when asked (RunNow).
type Job struct {
	log   *zap.Logger
	store Store
	cfg   Config
	opts  Options
	mu    sync.Mutex // one run at a time
}

// New returns a job; cfg may answer nil until a configuration is accepted, the built-in schedule
// and defaults apply then.
func New(log *zap.Logger, st Store, cfg Config, opts Options) (*Job, error) {
	if log == nil || st == nil || cfg == nil {
		return nil, errors.New("retention job: logger, store and config are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.VacuumPages <= 0 {
		opts.VacuumPages = 128
	}
	return &Job{log: log, store: st, cfg: cfg, opts: opts}, nil
}

// global is the configuration in force, or the built-in one.
func (j *Job) global() (*config.Global, error) {
	if g := j.cfg.Global(); g != nil {
		return g, nil
	}
	g, err := config.ParseGlobal("<built-in>", nil)
	if err != nil {
		return nil, fmt.Errorf("built-in configuration: %w", err)
	}
	return g, nil
}

// Run runs the job at the schedule of the configuration in force (retention.schedule, in local
// time) until ctx ends. It looks at the schedule at least every minute, so a changed schedule
// applies without a restart. A failed run is logged; the next one tries again. A run the schedule
// called for while the control plane was down (the last recorded run is older than the latest
// scheduled time, or there is none) is made up at once: a host that is off at 03:00 every night
// must still delete what it must.
func (j *Job) Run(ctx context.Context) error {
	last := j.lastRun(ctx)
	for {
		g, err := j.global()
		if err != nil {
			return err
		}
		now := j.opts.Now()
		next := g.Retention.Schedule.Next(last)
		if !next.IsZero() && !next.After(now) {
			last = now
			if _, err := j.RunNow(ctx, "schedule"); err != nil && ctx.Err() == nil {
				j.log.Error("retention run failed", zap.Error(err))
			}
			continue
		}
		wait := time.Minute
		if !next.IsZero() && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-j.opts.After(wait):
		}
	}
}

// actionRun is the audit action of a run.
const actionRun = "retention_run"

// lastRun is when the last recorded run started (its retention_run audit entry), the zero time
// when there is none; now if the audit log cannot be read (the schedule then goes on from now).
func (j *Job) lastRun(ctx context.Context) time.Time {
	now := j.opts.Now()
	runs, err := j.store.QueryAudit(ctx, store.AuditQuery{Limit: 1, Action: actionRun})
	switch {
	case err != nil:
		j.log.Warn("last retention run unknown; following the schedule from now", zap.Error(err))
		return now
	case len(runs) == 0:
		return time.Time{}
	}
	return runs[0].Time.In(now.Location())
}

// Deletion is what one (table, route) lost in a run.
type Deletion struct {
	Table       string    `json:"table"`
	Retention   string    `json:"retention"` // the data_retention key that applied
	Route       string    `json:"route"`     // route key; "" for rows without a route or tables without routes
	RouteActive bool      `json:"route_active"`
	Period      string    `json:"period"`
	Cutoff      time.Time `json:"cutoff"` // rows older than this were deleted
	Rows        int64     `json:"rows"`
}

// Report is the outcome of one run.
type Report struct {
	Source     string     `json:"source"`
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	Deleted    []Deletion `json:"deleted"` // only (table, route) pairs that lost rows
	Total      int64      `json:"total"`
	FreedPages int64      `json:"freed_pages"`
	Errors     []string   `json:"errors,omitempty"`
}

// RunNow runs the job once and returns what it deleted. source says who asked ("schedule",
// "api"); it goes into the audit log. A failure on one (table, route) is reported and the others
// still run. It returns ErrRunning if a run is in progress.
func (j *Job) RunNow(ctx context.Context, source string) (Report, error) {
	if !j.mu.TryLock() {
		return Report{}, ErrRunning
	}
	defer j.mu.Unlock()
	rep := Report{Source: source, Started: j.opts.Now(), Deleted: []Deletion{}}
	err := j.prune(ctx, &rep)
	if ctx.Err() == nil {
		freed, verr := j.store.IncrementalVacuum(ctx, j.opts.VacuumPages, 1<<30)
		rep.FreedPages = freed
		err = errors.Join(err, verr)
	}
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	rep.Finished = j.opts.Now()
	if aerr := j.auditRun(ctx, rep); aerr != nil {
		err = errors.Join(err, aerr)
	}
	j.log.Info("retention run", zap.String("source", source), zap.Int64("rows_deleted", rep.Total),
		zap.Int("tables_routes", len(rep.Deleted)), zap.Int64("freed_pages", rep.FreedPages),
		zap.Duration("took", rep.Finished.Sub(rep.Started)), zap.Error(err))
	if err != nil {
		return rep, fmt.Errorf("retention run: %w", err)
	}
	return rep, nil
}

// prune deletes every target's expired rows, route by route; it stops at the first error that
// comes from ctx, and otherwise goes on and returns the errors joined.
func (j *Job) prune(ctx context.Context, rep *Report) error {
	g, err := j.global()
	if err != nil {
		return err
	}
	defaults := periods(g.Defaults.DataRetention)
	routes, err := j.store.RetentionRoutes(ctx)
	if err != nil {
		return err
	}
	// Rows without a route are kept as long as the global defaults say.
	routes = append(routes, store.RouteRetention{ID: 0, Periods: defaults})
	now := rep.Started
	var errs []error
	for _, t := range store.PruneTargets() {
		scope := routes
		if !t.PerRoute {
			scope = []store.RouteRetention{{ID: 0, Periods: defaults}}
		}
		for _, r := range scope {
			period, ok := r.Periods[t.Retention]
			if !ok {
				period = defaults[t.Retention]
			}
			if period <= 0 { // no period known: keep, never delete by accident
				continue
			}
			d := Deletion{Table: t.Table, Retention: t.Retention, Route: r.Key, RouteActive: r.Active,
				Period: config.FormatDuration(period), Cutoff: now.Add(-period).Truncate(time.Second)}
			n, err := j.store.Prune(ctx, store.Prune{Target: t, RouteID: r.ID, Cutoff: d.Cutoff}, j.opts.BatchSize,
				func(deleted int64) (store.AuditEntry, error) { d.Rows = deleted; return proof(rep.Source, now, t, d) })
			d.Rows = n
			if n > 0 {
				rep.Deleted = append(rep.Deleted, d)
				rep.Total += n
			}
			if err != nil {
				if ctx.Err() != nil {
					return errors.Join(append(errs, err)...)
				}
				errs = append(errs, err)
			}
		}
	}
	if err := j.pruneAudit(ctx, rep, g.Defaults.DataRetention); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pruneAudit deletes the audit entries older than the global audit_logs period, oldest first in
// batches (the store opens the audit log's retention gate for each batch only), and records the
// deletion as a new entry, chained after what is left. That entry is a transaction of its own:
// if the control plane stops between the two, the entries are gone without their proof, which
// the next run cannot tell; the chain still verifies from the first entry left.
func (j *Job) pruneAudit(ctx context.Context, rep *Report, d *config.DataRetention) error {
	if d == nil || d.AuditLogs <= 0 {
		return nil
	}
	now := rep.Started
	del := Deletion{Table: "audit_log", Retention: "audit_logs", Period: config.FormatDuration(d.AuditLogs),
		Cutoff: now.Add(-d.AuditLogs).Truncate(time.Second)}
	for {
		n, err := j.store.DeleteAuditBefore(ctx, del.Cutoff, j.opts.BatchSize)
		del.Rows += int64(n)
		if err != nil {
			return errors.Join(fmt.Errorf("audit_log: %w", err), j.proveAudit(ctx, rep, del))
		}
		if n < j.opts.BatchSize {
			break
		}
	}
	return j.proveAudit(ctx, rep, del)
}

func (j *Job) proveAudit(ctx context.Context, rep *Report, del Deletion) error {
	if del.Rows == 0 {
		return nil
	}
	rep.Deleted = append(rep.Deleted, del)
	rep.Total += del.Rows
	e, err := proof(rep.Source, rep.Started, store.PruneTarget{Table: del.Table, Retention: del.Retention}, del)
	if err != nil {
		return err
	}
	if err := j.store.Audit(ctx, e); err != nil {
		return fmt.Errorf("audit_log: proof of %d deleted entries: %w", del.Rows, err)
	}
	return nil
}

// periods maps retention classes to the periods of d.
func periods(d *config.DataRetention) map[string]time.Duration {
	if d == nil {
		return map[string]time.Duration{}
	}
	return map[string]time.Duration{
		store.RetentionAccessLogs:   d.AccessLogs,
		store.RetentionErrorLogs:    d.ErrorLogs,
		store.RetentionSecurityLogs: d.SecurityLogs,
		store.RetentionMetrics:      d.Metrics,
		// Fixed, not configurable: the per-minute roll-ups only serve the last day's views.
		store.RetentionMinuteRollups: store.MinuteRollupRetention,
	}
}

// proof is the audit entry of one (table, route) deletion: the proof that the rows are gone. Its
// resource is the table and the route: "request_logs <route key>", "request_logs (no route)", or
// the table alone for tables without routes; new_value holds the Deletion as JSON.
func proof(source string, at time.Time, t store.PruneTarget, d Deletion) (store.AuditEntry, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("encode deletion: %w", err)
	}
	id, route := d.Table, "all routes"
	switch {
	case !t.PerRoute:
	case d.Route == "":
		id, route = d.Table+" (no route)", "no route"
	case !d.RouteActive:
		id, route = d.Table+" "+d.Route, "route "+d.Route+" (removed from the configuration)"
	default:
		id, route = d.Table+" "+d.Route, "route "+d.Route
	}
	return store.AuditEntry{
		Time: at, User: "system", Action: "retention_delete", ResourceType: "table",
		ResourceID: id, NewValue: string(body), Source: source,
		Notes: fmt.Sprintf("%d %s rows (%s) of %s older than %s deleted: %s is %s", d.Rows, d.Table,
			d.Retention, route, d.Cutoff.UTC().Format(time.RFC3339), d.Retention, d.Period),
	}, nil
}

// auditRun records the run itself, so a run that deleted nothing is on record too.
func (j *Job) auditRun(ctx context.Context, rep Report) error {
	body, err := json.Marshal(struct {
		Started, Finished time.Time
		Total, FreedPages int64
		Deletions         int
		Errors            []string `json:",omitempty"`
	}{rep.Started, rep.Finished, rep.Total, rep.FreedPages, len(rep.Deleted), rep.Errors})
	if err != nil {
		return fmt.Errorf("encode retention run: %w", err)
	}
	// The run is recorded even when its own context was cancelled half-way.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return j.store.Audit(actx, store.AuditEntry{
		Time: rep.Started, User: "system", Action: actionRun, ResourceType: "retention",
		NewValue: string(body), Source: rep.Source,
		Notes: fmt.Sprintf("started %s, finished %s: %d rows deleted from %d table/route pairs, %d pages freed, %d errors",
			rep.Started.Format(time.RFC3339), rep.Finished.Format(time.RFC3339), rep.Total, len(rep.Deleted), rep.FreedPages, len(rep.Errors)),
	})
}
