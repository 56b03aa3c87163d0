package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Certificates (certificates, migrations 0001 and 0009): one row per certificate in force, keyed
// by its name (the domain column).
const (
	upsertCertificateSQL = `INSERT INTO certificates (domain, cert_path, key_path, expires_at, san_domains,
  last_checked, issuer, not_before, level)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (domain) DO UPDATE SET cert_path = excluded.cert_path, key_path = excluded.key_path,
  expires_at = excluded.expires_at, san_domains = excluded.san_domains, last_checked = excluded.last_checked,
  issuer = excluded.issuer, not_before = excluded.not_before, level = excluded.level`
	deleteCertificatesSQL = `DELETE FROM certificates WHERE domain NOT IN (SELECT value FROM json_each(?))`
	selectCertificatesSQL = `SELECT domain, cert_path, key_path, expires_at, COALESCE(san_domains, '[]'), last_checked,
  issuer, COALESCE(not_before, 0), level FROM certificates ORDER BY domain`
)

// Certificate is what the certificate monitor records of one certificate.
type Certificate struct {
	Domain      string // the certificate's name (certbot lineage or file name)
	CertPath    string
	KeyPath     string
	NotBefore   time.Time
	ExpiresAt   time.Time // not after
	SANs        []string
	Issuer      string
	Level       string // ok, warning, urgent, critical, expired
	LastChecked time.Time
}

// SaveCertificates records the certificates in force, in one transaction: each is inserted or
// updated by its domain, and the rows of certificates no longer in force are deleted.
func (s *Store) SaveCertificates(ctx context.Context, certs []Certificate) error {
	domains := make([]string, 0, len(certs))
	sans := make([]string, len(certs))
	for i, c := range certs {
		domains = append(domains, c.Domain)
		b, err := json.Marshal(append([]string{}, c.SANs...))
		if err != nil {
			return fmt.Errorf("save certificates: %s: %w", c.Domain, err)
		}
		sans[i] = string(b)
	}
	keep, err := json.Marshal(domains)
	if err != nil {
		return fmt.Errorf("save certificates: %w", err)
	}
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i, c := range certs {
			if _, err := tx.ExecContext(ctx, upsertCertificateSQL, c.Domain, c.CertPath, c.KeyPath, c.ExpiresAt.Unix(),
				sans[i], c.LastChecked.Unix(), c.Issuer, c.NotBefore.Unix(), c.Level); err != nil {
				return fmt.Errorf("%s: %w", c.Domain, err)
			}
		}
		_, err := tx.ExecContext(ctx, deleteCertificatesSQL, string(keep))
		return err
	})
	if err != nil {
		return fmt.Errorf("save certificates: %w", err)
	}
	return nil
}

// Certificates returns the recorded certificates, by domain.
func (s *Store) Certificates(ctx context.Context) (certs []Certificate, err error) {
	rows, err := s.read.QueryContext(ctx, selectCertificatesSQL)
	if err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var c Certificate
		var expires, checked, notBefore int64
		var sans string
		if err := rows.Scan(&c.Domain, &c.CertPath, &c.KeyPath, &expires, &sans, &checked, &c.Issuer, &notBefore, &c.Level); err != nil {
			return nil, fmt.Errorf("read certificates: %w", err)
		}
		if err := json.Unmarshal([]byte(sans), &c.SANs); err != nil {
			return nil, fmt.Errorf("read certificates: %s: san_domains: %w", c.Domain, err)
		}
		c.ExpiresAt, c.LastChecked, c.NotBefore = time.Unix(expires, 0), time.Unix(checked, 0), time.Unix(notBefore, 0)
		certs = append(certs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read certificates: %w", err)
	}
	return certs, nil
}
