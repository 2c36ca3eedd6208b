#!/usr/bin/env bash
# The whole test suite. Starts moto server (the AWS emulator) for the adapter tests and an
# OpenID Connect provider (tests/oidc) for the sign-in tests, each on a free port on 127.0.0.1,
# runs every test, and stops both again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/moto_server ]; then
  echo "test: moto is missing from .venv; run: bash scripts/setup.sh" >&2
  exit 1
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp -t moto.XXXXXX.log)
# moto as AWS behaves under parallel callers: one request at a time (tests/moto_server.py says why).
.venv/bin/python tests/moto_server.py -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "test: moto server failed to start:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.2
done
echo "test: moto server on 127.0.0.1:$port (log: $log)"

# The OpenID Connect provider the sign-in tests sign in against (tests/oidc/server.mjs).
if [ ! -d tests/oidc/node_modules/oidc-provider ]; then
  echo "test: the test OIDC provider is missing; run: bash scripts/setup.sh" >&2
  exit 1
fi
oidc_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
oidc_keys=$(mktemp -d -t oidc-keys.XXXXXX)
oidc_log=$(mktemp -t oidc.XXXXXX.log)
node tests/oidc/server.mjs --port "$oidc_port" --keys "$oidc_keys" >"$oidc_log" 2>&1 &
oidc_pid=$!
trap 'kill "$moto_pid" "$oidc_pid" 2>/dev/null || true; wait "$moto_pid" "$oidc_pid" 2>/dev/null || true; rm -rf "$oidc_keys"' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$oidc_port/.well-known/openid-configuration', timeout=1)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$oidc_pid" 2>/dev/null; then
    echo "test: the OIDC provider failed to start:" >&2; cat "$oidc_log" >&2; exit 1
  fi
  sleep 0.2
done
echo "test: OIDC provider on 127.0.0.1:$oidc_port (log: $oidc_log)"
export JIT_TEST_OIDC_ISSUER="http://127.0.0.1:$oidc_port" JIT_TEST_OIDC_KEYS="$oidc_keys"

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
echo "test: cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml
echo "test: checkov infra/template.yaml (every finding fixed or skipped in the template with a reason)"
.venv/checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml
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
