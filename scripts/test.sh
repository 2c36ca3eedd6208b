#!/usr/bin/env bash
# The whole test suite. Starts moto server (the AWS emulator) for the adapter tests, an OpenID
# Connect provider (tests/oidc) for the sign-in tests and a PostgreSQL server (a data directory
# of its own) for the database grant tests, each on a free port on 127.0.0.1, runs every test,
# and stops them again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
pids=()
cleanup=()
stop_postgres=(true)
trap '"${stop_postgres[@]}" >/dev/null 2>&1 || true; kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; rm -rf "${cleanup[@]}"' EXIT

# Starts a server in the background (the rest of the arguments: its command line) and waits
# until URL answers; NAME says what it is in messages. Its log goes to a temporary file.
start_server() {
  local name=$1 url=$2 log
  shift 2
  log=$(mktemp -t "test-server.XXXXXX.log")
  "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  # Up to a minute: a cold node or moto on a loaded 2-core machine has taken over 20 s.
  for _ in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$url', timeout=1)" 2>/dev/null; then
      echo "test: $name at $url (log: $log)"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "test: $name failed to start:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "test: $name did not answer at $url within a minute; its log, then its process:" >&2
  cat "$log" >&2; ps -o pid,stat,etime,time,cmd -p "$pid" >&2 || true; exit 1
}

if [ ! -x .venv/bin/moto_server ]; then
  echo "test: moto is missing from .venv; run: bash scripts/setup.sh" >&2
  exit 1
fi
if [ ! -d tests/oidc/node_modules/oidc-provider ]; then
  echo "test: the test OIDC provider is missing; run: bash scripts/setup.sh" >&2
  exit 1
fi
# moto as AWS behaves under parallel callers: one request at a time (tests/moto_server.py says why).
port=$(free_port)
start_server "moto server" "http://127.0.0.1:$port/moto-api/data.json" \
  .venv/bin/python tests/moto_server.py -H 127.0.0.1 -p "$port"
# The OpenID Connect provider the sign-in tests sign in against (tests/oidc/server.mjs).
oidc_port=$(free_port)
oidc_keys=$(mktemp -d -t oidc-keys.XXXXXX)
cleanup+=("$oidc_keys")
start_server "OIDC provider" "http://127.0.0.1:$oidc_port/.well-known/openid-configuration" \
  node tests/oidc/server.mjs --port "$oidc_port" --keys "$oidc_keys"
export JIT_TEST_OIDC_ISSUER="http://127.0.0.1:$oidc_port" JIT_TEST_OIDC_KEYS="$oidc_keys"

# PostgreSQL (Debian's package): a fresh cluster in a temporary directory, password sign-in on
# TCP as the database grant tests need, stopped on exit. Postgres will not run as root, so as
# root it runs as the package's postgres user.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "test: PostgreSQL is missing; run: bash scripts/setup.sh" >&2
  exit 1
fi
pg_dir=$(mktemp -d -t jit-pg.XXXXXX)
cleanup+=("$pg_dir")
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$pg_dir"; as_pg=(runuser -u postgres --); fi
pg_port=$(free_port)
pg_password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$pg_password" >"$pg_dir/pw"
chmod 644 "$pg_dir/pw"
# Verified TLS, as deployed connections use it: a CA of this run's own and a certificate for
# 127.0.0.1 signed by it (the tests trust the CA through JIT_TEST_POSTGRES_CA).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=jit test CA" \
  -keyout "$pg_dir/ca.key" -out "$pg_dir/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$pg_dir/server.key" -out "$pg_dir/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$pg_dir/server.ext"
openssl x509 -req -in "$pg_dir/server.csr" -CA "$pg_dir/ca.pem" -CAkey "$pg_dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$pg_dir/server.ext" -out "$pg_dir/server.crt" >/dev/null 2>&1 \
  || { echo "test: could not make the database server's test certificate (openssl)" >&2; exit 1; }
chmod 600 "$pg_dir/server.key"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$pg_dir/server.key" "$pg_dir/server.crt"; fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U jit_admin --pwfile="$pg_dir/pw" \
  --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1 \
  || { echo "test: initdb failed:" >&2; cat "$pg_dir/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c ssl=on -c ssl_cert_file=$pg_dir/server.crt -c ssl_key_file=$pg_dir/server.key" start >/dev/null \
  || { echo "test: PostgreSQL failed to start:" >&2; cat "$pg_dir/server.log" >&2; exit 1; }
stop_postgres=("${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop)
export JIT_TEST_POSTGRES_URL="postgres://jit_admin:$pg_password@127.0.0.1:$pg_port" JIT_TEST_POSTGRES_CA="$pg_dir/ca.pem"
echo "test: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') at 127.0.0.1:$pg_port (log: $pg_dir/server.log)"

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
echo "test: cfn-lint infra/template.yaml infra/member-forwarding.yaml"
.venv/bin/cfn-lint infra/template.yaml infra/member-forwarding.yaml
echo "test: checkov infra/template.yaml infra/member-forwarding.yaml (every finding fixed or skipped in the template with a reason)"
.venv/checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml -f infra/member-forwarding.yaml
echo "test: sam validate --lint infra/template.yaml (the SAM transform, then cfn-lint)"
SAM_CLI_TELEMETRY=0 .venv/sam/bin/sam validate -t infra/template.yaml --region us-east-1
SAM_CLI_TELEMETRY=0 .venv/sam/bin/sam validate --lint -t infra/template.yaml --region us-east-1

# The end-to-end tests run the jit and jit-local binaries as processes: build them first.
cargo build --workspace --bins --locked
# The root manifest is a virtual workspace: with no -p, every member is tested; with -p (from
# "$@"), only those named.
cargo test --locked --no-fail-fast "$@"
# The portal in a real browser (web/tests/portal.mjs: Chromium through Playwright, axe-core on
# every page, 375 px, CSP), against jit-local serving the freshly built portal. Skipped only
# with -p, which names crates to test.
if [ "$#" -eq 0 ]; then
  echo "test: the web portal (build, then Chromium against jit-local)"
  npm --prefix web run build --silent
  node web/tests/portal.mjs
fi
# The API contract: schemathesis against a jit-local of its own, as the right people and with
# no identity (bounded: fixed examples per operation, fixed seed). Skipped only with -p, which
# names crates to test.
if [ "$#" -eq 0 ]; then
  echo "test: the API contract (schemathesis against jit-local)"
  .venv/schemathesis/bin/python tests/contract/schemathesis.py
fi
