#!/usr/bin/env bash
# The whole test suite: unit, property, service (in-memory) and CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
