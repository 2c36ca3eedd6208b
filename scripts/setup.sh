#!/usr/bin/env bash
# One-time set-up on a fresh machine: checks the Rust toolchain and fetches every crate, so
# that builds and tests afterwards need no network. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is missing: $2" >&2; exit 1; }
}
need cargo "install Rust (https://rustup.rs) 1.85 or newer"
cargo fmt --version >/dev/null 2>&1 || { echo "setup: rustfmt is missing: rustup component add rustfmt" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "setup: clippy is missing: rustup component add clippy" >&2; exit 1; }

echo "setup: fetching crates (Cargo.lock pins every version)"
cargo fetch --locked
echo "setup: done. Build with: cargo build --workspace --all-targets"
