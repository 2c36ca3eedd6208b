#!/usr/bin/env bash
# One-time set-up on a fresh machine: checks the Rust toolchain, fetches every crate, installs
# the Python test tools (moto server and cfn-lint in .venv; checkov, schemathesis, and the SAM
# CLI with cargo-lambda, in virtualenvs of their own under .venv), the OpenID Connect provider
# the sign-in tests use (tests/oidc, on Node.js), the web portal (web/, built into web/dist) and
# Debian's Chromium for its browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is missing: $2" >&2; exit 1; }
}
need cargo "install Rust (https://rustup.rs) 1.94 or newer"
need python3 "install Python 3.9 or newer (the AWS emulator used by the tests is Python)"
cargo fmt --version >/dev/null 2>&1 || { echo "setup: rustfmt is missing: rustup component add rustfmt" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "setup: clippy is missing: rustup component add clippy" >&2; exit 1; }

need node "install Node.js 20 or newer (the tests sign in against an OpenID Connect provider that runs on it)"
need npm "install npm (it comes with Node.js)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || { echo "setup: Node.js $(node --version) is too old: the tests need 20 or newer" >&2; exit 1; }

# A cold build, the deployment build (scripts/package.sh) and the Python tools take about
# 10 GB; say so now rather than fail half-way.
free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${free_kb:-0}" -lt $((12 * 1024 * 1024)) ]; then
  echo "setup: only $((free_kb / 1024)) MB free on $(df -P . | awk 'NR==2 {print $6}');" \
    "the builds and test tools need about 10 GB (12 GB free to be safe). Free some space (cargo clean in old checkouts) and run again." >&2
  exit 1
fi

echo "setup: fetching crates (Cargo.lock pins every version)"
cargo fetch --locked

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv for the test tools"
  python3 -m venv .venv
fi
echo "setup: installing test tools from tests/requirements.txt"
.venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir -r tests/requirements.txt
# checkov and the SAM CLI pin their own boto3 versions, schemathesis its own hypothesis and
# jsonschema: each gets its own virtualenv.
for tool in checkov sam schemathesis; do
  if [ ! -x ".venv/$tool/bin/python" ]; then
    python3 -m venv ".venv/$tool"
  fi
  echo "setup: installing $tool from tests/requirements-$tool.txt into .venv/$tool"
  ".venv/$tool/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "tests/requirements-$tool.txt"
done
# The OpenID Connect provider the sign-in tests use (oidc-provider), as package-lock.json pins it.
echo "setup: installing the test OIDC provider from tests/oidc/package-lock.json"
npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

# The web portal (web/: Preact, Vite, TypeScript; package-lock.json pins every package), built
# into web/dist, which jit-local serves at /.
echo "setup: installing and building the web portal (web/)"
npm ci --prefix web --no-audit --no-fund --loglevel=error
npm --prefix web run build --silent

# A real browser for the portal's tests: Debian's Chromium (Playwright drives it; it cannot
# download browsers here).
if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the portal's browser tests"
  if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); elif command -v sudo >/dev/null 2>&1; then apt_get=(sudo apt-get); else
    echo "setup: chromium is missing and this user cannot install packages: run as root: apt-get install chromium" >&2; exit 1
  fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends chromium >/dev/null; }
fi
# PostgreSQL for the database grant tests: Debian's package (the test script runs initdb into a
# temporary directory of its own; no cluster of the package's is used).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup: installing Debian's postgresql for the database grant tests"
  if [ "$(id -u)" -eq 0 ]; then apt_get=(apt-get); elif command -v sudo >/dev/null 2>&1; then apt_get=(sudo apt-get); else
    echo "setup: PostgreSQL is missing and this user cannot install packages: run as root: apt-get install postgresql" >&2; exit 1
  fi
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends postgresql >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends postgresql >/dev/null; }
fi
echo "setup: done. Build with: cargo build --workspace --all-targets"
