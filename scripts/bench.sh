#!/usr/bin/env bash
# Benchmarks: prints figures, asserts nothing (timed assertions do not belong in tests on
# shared machines):
# - the Lambda functions' cold starts and warm calls under a Lambda Runtime API emulator against
#   moto, each beside a Python boto3 handler making the same AWS calls (recorded through a proxy;
#   tests/bench/replay.py), with peak RSS; then grants applied
#   and removed through the Identity Center adapter, with the limiter as it was and as it is
#   (tests/bench/lambda_bench.py; JIT_BENCH_RUNS, JIT_BENCH_WARM); then the Identity Center
#   fleet simulation (crates/aws/examples/identity_center_simulation.rs; JIT_SIM_BURSTS);
# - what a request costs: the end-to-end lifecycles' AWS calls, DynamoDB capacity, emails and
#   invocations, priced per 1,000 requests, and a submit's calls at 1, 100 and 1,000 members
#   of the groups that could approve it (tests/bench/lifecycle_cost.py; a debug test build);
# - local mode under load: a release jit-local on 10,000 people at 16 and 64 connections, for
#   the catalog, a request's view, a submit granted at once and an approval
#   (crates/local/examples/load.rs);
# - the room check as a person's live grants grow (crates/core/benches/room.rs);
# - local mode's store as it fills (SQLite, jit-local's default, and the in-memory store),
#   100,000 requests by default (JIT_BENCH_FILL=N to change it).
# Release builds of the functions take about 10 minutes cold on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench: $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || uname -m), $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
# The functions on their own (as sam build builds them), so no tool's features reach them.
cargo build --release --locked -q -p intake -p approval -p revoke -p pod -p escalate -p grant
cargo build --release --locked -q -p jit-local -p jit-cli
cargo build --release --locked -q -p jit-aws --example grant_wall --example identity_center_simulation
.venv/bin/python tests/bench/lambda_bench.py
.venv/bin/python tests/bench/lifecycle_cost.py
cargo build --release --locked -q -p jit-local --example load
target/release/examples/load target/release/jit-local
cargo bench --locked -q -p jit-core --bench room
cargo bench --locked -q -p jit-sqlite --bench store
