#!/usr/bin/env bash
# Benchmarks: prints figures, asserts nothing (timed assertions do not belong in tests on
# shared machines). Today: local mode's store as it fills (SQLite, jit-local's default, and the
# in-memory store), 100,000 requests by default (JIT_BENCH_FILL=N to change it).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench: $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || uname -m), $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
cargo bench --locked -q -p jit-sqlite --bench store
