#!/usr/bin/env bash
# `make run`: both binaries with the example configuration from deploy/, two demo backends and a
# generated token, on unprivileged loopback ports. State lives in .run/ (ignored by git); the site
# files are copied there once, so edits survive restarts (`make clean` starts afresh).
# Ctrl-C stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$ROOT/.run
HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8000}
TLS_ADDR=${TLS_ADDR:-127.0.0.1:8443}   # TCP for HTTP/1.1 and HTTP/2, UDP for HTTP/3
OPS_ADDR=${OPS_ADDR:-127.0.0.1:9901}
GRPC_ADDR=${GRPC_ADDR:-127.0.0.1:9090}
ADMIN_ADDR=${ADMIN_ADDR:-127.0.0.1:8080}

mkdir -p "$RUN"/{sites-available,certs,data,secrets,bin}
[ -f "$RUN/global.yaml" ] || cp "$ROOT/deploy/global.yaml" "$RUN/global.yaml"
[ -d "$RUN/error-pages" ] || cp -r "$ROOT/deploy/error-pages" "$RUN/error-pages"
if [ -z "$(ls -A "$RUN/sites-available")" ]; then cp "$ROOT"/deploy/sites-available/*.yaml "$RUN/sites-available/"; fi
if [ ! -s "$RUN/secrets/grpc_token" ]; then
  umask 077
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RUN/secrets/grpc_token"
fi
(cd "$ROOT" && go build -o "$RUN/bin/demo-backend" ./scripts/e2e/cmd/demo-backend && go build -o "$RUN/bin/devcert" ./scripts/e2e/cmd/devcert)
# A self-signed certificate for localhost and *.localhost (kept while valid for another week).
"$RUN/bin/devcert" -out "$RUN/certs" -name localhost

# Children run in their own sessions (setsid) so that Ctrl-C reaches only this script, which then
# stops them in order: the data plane first (it delivers its buffered events), then the rest.
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || continue
    while kill -0 "${pids[i]}" 2>/dev/null; do sleep 0.05; done
  done
}
trap stop INT TERM EXIT

setsid "$RUN/bin/demo-backend" -addr 127.0.0.1:8001 -name blue -color '#1f6feb' & pids+=($!)
setsid "$RUN/bin/demo-backend" -addr 127.0.0.1:8002 -name green -color '#1a7f37' & pids+=($!)

export LOG_LEVEL=${LOG_LEVEL:-info} LOG_FORMAT=${LOG_FORMAT:-pretty}
PROXY_GLOBAL_CONFIG=$RUN/global.yaml PROXY_SITES_DIR=$RUN/sites-available PROXY_CERTS_DIR=$RUN/certs \
PROXY_DB_PATH=$RUN/data/proxy.db PROXY_GRPC_ADDR=$GRPC_ADDR PROXY_GRPC_SOCKET=$RUN/grpc.sock \
PROXY_ADMIN_ADDR=$ADMIN_ADDR PROXY_GRPC_TOKEN_FILE=$RUN/secrets/grpc_token \
  setsid "$ROOT/bin/controlplane" & pids+=($!)
PROXY_CONTROLPLANE_ADDR=$GRPC_ADDR PROXY_GRPC_TOKEN_FILE=$RUN/secrets/grpc_token PROXY_NODE_ID=dev-1 \
PROXY_LISTEN_ADDR=$HTTP_ADDR PROXY_TLS_ADDR=$TLS_ADDR PROXY_H3_ADDR=$TLS_ADDR PROXY_OPS_ADDR=$OPS_ADDR \
  setsid "$ROOT/bin/dataplane" & pids+=($!)

for _ in $(seq 100); do
  curl -fsS "http://$OPS_ADDR/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
port=${HTTP_ADDR##*:}
tport=${TLS_ADDR##*:}
cat <<MSG

  proxy-manager is running.
    dashboard     http://localhost:${ADMIN_ADDR##*:}/dashboard/
    browse        https://demo.localhost:$tport/   https://app.localhost:$tport/   https://app.localhost:$tport/api
                  (self-signed: accept the warning; http://demo.localhost:$port/ redirects there)
                  curl -k --resolve demo.localhost:$tport:127.0.0.1 https://demo.localhost:$tport/
    live reload   edit $RUN/sites-available/demo.localhost.yaml
                  (change the backend to http://127.0.0.1:8002 and reload the page)
    validate      $ROOT/bin/controlplane validate --global $RUN/global.yaml --sites $RUN/sites-available
    grpcurl       go tool grpcurl -plaintext -H "authorization: Bearer \$(cat $RUN/secrets/grpc_token)" $GRPC_ADDR list
    health        http://$OPS_ADDR/health/ready (data plane)   http://$ADMIN_ADDR/health/ready (control plane)
    requests      sqlite3 $RUN/data/proxy.db 'SELECT timestamp, method, host, path, status_code, request_id FROM request_logs ORDER BY log_id DESC LIMIT 10'
  Ctrl-C stops everything.

MSG
wait -n "${pids[@]}" || true
echo "a process exited; stopping the rest" >&2
