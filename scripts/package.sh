#!/usr/bin/env bash
# Builds the seven functions exactly as the deployment guide does (`sam build` on
# infra/template.yaml: cargo-lambda, release, arm64, one binary each) and checks that each is an
# arm64 Linux executable. CI runs it after the tests, so the template's build metadata is held
# to the code. About 10 minutes cold on 2 cores; the artifacts land in .aws-sam/build.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=.venv/sam/bin
for t in sam cargo-lambda; do
  [ -x "$tools/$t" ] || { echo "package: $tools/$t is missing; run: bash scripts/setup.sh" >&2; exit 1; }
done
if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
    rustup target add aarch64-unknown-linux-gnu
fi

# cargo-lambda finds zig through the virtualenv's python (the ziglang package): put it first.
PATH="$PWD/$tools:$PATH" SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 \
  sam build -t infra/template.yaml --build-dir .aws-sam/build

python3 - <<'PY'
import pathlib, sys, zipfile, io
build = pathlib.Path(".aws-sam/build")
bad = []
print(f"{'function':<10} {'bootstrap':>12} {'zipped':>12}")
for name in ["intake", "approval", "grant", "revoke", "escalate", "pod", "chat"]:
    path = build / f"{name.capitalize()}Function" / "bootstrap"
    if not path.is_file():
        bad.append(f"{path} is missing")
        continue
    head = path.read_bytes()[:20]
    # ELF, 64-bit, little-endian, e_machine 183 (AArch64).
    if head[:4] != b"\x7fELF" or head[4] != 2 or int.from_bytes(head[18:20], "little") != 183:
        bad.append(f"{path} is not an arm64 Linux executable")
        continue
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    print(f"{name:<10} {path.stat().st_size:>12,} {len(buf.getvalue()):>12,}")
if bad:
    sys.exit("package: " + "; ".join(bad))
PY
