package main

import (
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/envflag"
)

// settings are the process settings, from the environment or flags (flags win).
type settings struct {
	globalConfig    string
	sitesDir        string
	certsDir        string
	dbPath          string
	grpcAddr        string
	grpcSocket      string
	adminAddr       string
	tokenFile       string
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	errorLog        string
	backupDir       string
}

func parseSettings(args []string) (settings, error) {
	var s settings
	fs := envflag.New("controlplane")
	// The seeds' deployment files use GLOBAL_CONFIG, SITES_PATH and DB_PATH: accepted as aliases.
	fs.StringVar(&s.globalConfig, "global", "PROXY_GLOBAL_CONFIG", "/etc/proxy/global.yaml", "global configuration file", "GLOBAL_CONFIG")
	fs.StringVar(&s.sitesDir, "sites", "PROXY_SITES_DIR", "/etc/proxy/sites-available", "directory of site files", "SITES_PATH")
	fs.StringVar(&s.certsDir, "certs", "PROXY_CERTS_DIR", "/etc/proxy/certs", "certificate directory")
	fs.StringVar(&s.dbPath, "db", "PROXY_DB_PATH", "/data/proxy.db", "SQLite database file", "DB_PATH")
	fs.StringVar(&s.grpcAddr, "grpc-addr", "PROXY_GRPC_ADDR", ":9090", "gRPC listen address (overlay network only)")
	fs.StringVar(&s.grpcSocket, "grpc-socket", "PROXY_GRPC_SOCKET", "", "also serve gRPC on this Unix socket (for grpcurl with the target unix:/path on the host)")
	fs.StringVar(&s.adminAddr, "admin-addr", "PROXY_ADMIN_ADDR", "127.0.0.1:8080", "admin HTTP address: a loopback host:port or unix:/path")
	fs.StringVar(&s.tokenFile, "token-file", "PROXY_GRPC_TOKEN_FILE", "/run/secrets/proxy_grpc_token", "file holding the gRPC bearer token")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", "PROXY_SHUTDOWN_TIMEOUT", 30*time.Second, "how long shutdown may take")
	fs.StringVar(&s.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", "LOG_FORMAT", "json", "json or pretty")
	fs.StringVar(&s.errorLog, "error-log", "PROXY_ERROR_LOG", "file", "failed requests as JSON lines: file (daily files in logs/ beside the database) or stdout")
	fs.StringVar(&s.backupDir, "backup-dir", "PROXY_BACKUP_DIR", "/mnt/storagebox/backups/proxy", "backup directory when global.yaml's backup.dir is not set", "BACKUP_DIR")
	return s, fs.Parse(args)
}
