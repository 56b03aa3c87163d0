package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// Config gives the global configuration in force, nil before one was accepted;
// *reloader.Reloader is one.
type Config interface {
	Global() *config.Global
}

// Alerter raises backup_failed; *alerts.Alerts is one.
type Alerter interface {
	BackupFailed(err error, tier string)
}

// JobOptions tune the job.
type JobOptions struct {
	DB         string // the database file
	DefaultDir string // the directory when backup.dir is not set ($BACKUP_DIR)
	Now        func() time.Time
	After      func(time.Duration) <-chan time.Time
}

// TierStatus is what GET /api/backups reports for one tier.
type TierStatus struct {
	Enabled             bool       `json:"enabled"`
	Schedule            string     `json:"schedule"`
	Keep                int        `json:"keep"`
	NextRun             *time.Time `json:"next_run,omitempty"`
	LastSuccess         *time.Time `json:"last_success,omitempty"`
	LastFile            string     `json:"last_file,omitempty"`
	LastSize            int64      `json:"last_size,omitempty"`
	LastDurationMS      int64      `json:"last_duration_ms,omitempty"`
	LastNote            string     `json:"last_note,omitempty"` // a full taken for want of a base, a skipped incremental
	LastFailure         *time.Time `json:"last_failure,omitempty"`
	LastError           string     `json:"last_error,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	Kept                int        `json:"kept"`
	KeptBytes           int64      `json:"kept_bytes"`
}

// Status is the state of the backups.
type Status struct {
	Enabled   bool                 `json:"enabled"`
	Dir       string               `json:"dir,omitempty"`
	Tiers     map[Tier]*TierStatus `json:"tiers"`
	ListError string               `json:"list_error,omitempty"`
}

// Job takes the backups on the schedule of the configuration in force and keeps their status.
type Job struct {
	log   *zap.Logger
	cfg   Config
	alert Alerter
	o     JobOptions

	run  sync.Mutex // one backup at a time in this process (the dir lock covers others)
	mu   sync.Mutex // guards last
	last map[Tier]*TierStatus
}

// NewJob returns the backup job.
func NewJob(log *zap.Logger, cfg Config, alert Alerter, o JobOptions) (*Job, error) {
	if log == nil || cfg == nil || alert == nil || o.DB == "" || o.DefaultDir == "" {
		return nil, errors.New("backup job: logger, config, alerter, database and default directory are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	last := map[Tier]*TierStatus{}
	for _, t := range Tiers {
		last[t] = &TierStatus{}
	}
	return &Job{log: log, cfg: cfg, alert: alert, o: o, last: last}, nil
}

// tierConfig is the configuration of tier t.
func tierConfig(b *config.Backup, t Tier) config.BackupTier {
	switch t {
	case Full:
		return b.Full
	case Differential:
		return b.Differential
	}
	return b.Incremental
}

// Due returns the next time after after that a tier of b fires and the tier that runs then:
// when several fire at the same minute only the largest runs (full > differential >
// incremental). The zero time when none fires.
func Due(b *config.Backup, after time.Time) (time.Time, Tier) {
	var at time.Time
	var tier Tier
	for _, t := range Tiers {
		c := tierConfig(b, t)
		if !c.Enabled {
			continue
		}
		if n := c.Schedule.Next(after); !n.IsZero() && (at.IsZero() || n.Before(at)) {
			at, tier = n, t
		}
	}
	return at, tier
}

// EngineFor returns an engine for the backup section b, reading the key file now.
func EngineFor(b *config.Backup, db, defaultDir string, now func() time.Time, log *zap.Logger) (*Engine, error) {
	dir := b.Dir
	if dir == "" {
		dir = defaultDir
	}
	key, err := LoadKey(b.Encryption.IdentityFile, b.Encryption.PassphraseFile)
	if err != nil {
		return nil, err
	}
	return New(Options{DB: db, Dir: dir, Key: key, Now: now, Log: log,
		Keep: Keep{Full: b.Full.Keep, Differential: b.Differential.Keep, Incremental: b.Incremental.Keep}})
}

// Run takes backups on schedule until ctx ends. It looks at the configuration at least every
// minute, so a changed schedule applies without a restart. Backups missed while the control
// plane was down are not made up: the next scheduled one runs.
func (j *Job) Run(ctx context.Context) error {
	last := j.o.Now()
	for {
		now := j.o.Now()
		wait := time.Minute
		if g := j.cfg.Global(); g != nil && g.Backup.Enabled {
			next, tier := Due(&g.Backup, last)
			if !next.IsZero() && !next.After(now) {
				last = next
				j.RunNow(ctx, tier) //nolint:errcheck // logged, alerted and in the status
				continue
			}
			if !next.IsZero() && next.Sub(now) < wait {
				wait = next.Sub(now)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-j.o.After(wait):
		}
	}
}

// RunNow takes a backup of tier t with the configuration in force, records the outcome in the
// status and, on failure, logs it and raises backup_failed.
func (j *Job) RunNow(ctx context.Context, t Tier) (Result, error) {
	j.run.Lock()
	defer j.run.Unlock()
	res, err := j.runOnce(ctx, t)
	now := j.o.Now()
	j.mu.Lock()
	s := j.last[res.Tier]
	if res.Tier == "" {
		s = j.last[t]
	}
	if err != nil {
		s.LastFailure, s.LastError = &now, err.Error()
		s.ConsecutiveFailures++
	} else {
		s.LastSuccess, s.LastNote, s.ConsecutiveFailures, s.LastError = &now, res.Note, 0, ""
		if res.Skipped {
			s.LastNote = "skipped: no page changed since the previous backup"
		} else {
			s.LastFile, s.LastSize, s.LastDurationMS = res.Name, res.Size, res.Duration.Milliseconds()
		}
	}
	j.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			j.log.Error("backup failed", zap.String("tier", string(t)), zap.Error(err))
			j.alert.BackupFailed(err, string(t))
		}
		return res, err
	}
	j.log.Info("backup", zap.String("requested", string(t)), zap.String("tier", string(res.Tier)),
		zap.String("file", res.Name), zap.Int64("bytes", res.Size), zap.Int("pages", res.Pages),
		zap.Bool("skipped", res.Skipped), zap.String("note", res.Note), zap.Strings("removed", res.Removed),
		zap.Duration("took", res.Duration))
	return res, nil
}

func (j *Job) runOnce(ctx context.Context, t Tier) (Result, error) {
	g := j.cfg.Global()
	if g == nil || !g.Backup.Enabled {
		return Result{Requested: t, Tier: t}, errors.New("backups are not enabled in the configuration in force")
	}
	e, err := EngineFor(&g.Backup, j.o.DB, j.o.DefaultDir, j.o.Now, j.log)
	if err != nil {
		return Result{Requested: t, Tier: t}, err
	}
	res, err := e.Run(ctx, t)
	if err != nil {
		return res, fmt.Errorf("%s backup: %w", t, err)
	}
	return res, nil
}

// Status returns the status of every tier, with what the backup directory holds now.
func (j *Job) Status() Status {
	st := Status{Tiers: map[Tier]*TierStatus{}}
	g := j.cfg.Global()
	j.mu.Lock()
	for _, t := range Tiers {
		c := *j.last[t]
		st.Tiers[t] = &c
	}
	j.mu.Unlock()
	if g == nil || !g.Backup.Enabled {
		return st
	}
	st.Enabled, st.Dir = true, g.Backup.Dir
	if st.Dir == "" {
		st.Dir = j.o.DefaultDir
	}
	now := j.o.Now()
	for _, t := range Tiers {
		c := tierConfig(&g.Backup, t)
		ts := st.Tiers[t]
		ts.Enabled, ts.Schedule, ts.Keep = c.Enabled, c.Schedule.String(), c.Keep
		if c.Enabled {
			if n := c.Schedule.Next(now); !n.IsZero() {
				ts.NextRun = &n
			}
		}
	}
	list, err := List(st.Dir)
	if err != nil {
		st.ListError = err.Error()
		return st
	}
	for _, in := range list {
		if ts, ok := st.Tiers[in.Tier]; ok && in.Err == "" {
			ts.Kept++
			ts.KeptBytes += in.Size
		}
	}
	return st
}
