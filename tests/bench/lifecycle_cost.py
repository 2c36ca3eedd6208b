"""What a request costs: the end-to-end lifecycles (tests/e2e/tests/lifecycles.rs) run against a
moto server of this script's own, each printing its AWS calls, the DynamoDB capacity its items
consume (estimated from their sizes by tests/e2e/src/capacity.rs) and its emails, function
invocations, API calls and schedules; this script prices them per 1,000 requests at us-east-1
on-demand prices. Each function's compute is taken as 0.3 s at 256 MB (the template's memory
size; the functions' warm times are far below that except where Identity Center waits)."""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from lambda_bench import ROOT, start_moto, stop_moto  # noqa: E402

PRICE = {
    "write_unit": 0.625 / 1e6,
    "read_unit": 0.125 / 1e6,
    "email": 0.10 / 1000,
    "invocation": 0.20 / 1e6 + 0.25 * 0.3 * 0.0000133334,
    "api": 1.00 / 1e6,
    "scheduled": 1.00 / 1e6,
}


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="jit-cost-"))
    log = open(work / "moto.log", "wb")
    moto, endpoint = start_moto(log)
    try:
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
        out = subprocess.run(["cargo", "test", "--locked", "-q", "-p", "jit-e2e", "--test", "lifecycles",
                              "--", "--nocapture", "--test-threads", "1"],
                             cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stdout[-4000:] + out.stderr[-4000:])
            raise SystemExit("bench: the lifecycles did not run")
        rows = []
        for line in out.stdout.splitlines():
            # The test harness's progress dots may lead a line.
            b = re.search(r"bench (lifecycle=.*)", line)
            if b:
                rows.append(dict(kv.split("=", 1) for kv in b[1].split()))
            m = re.search(r"submit granted at once, (\d+) people in each approver group: (\d+) AWS calls", line)
            if m:
                print(f"submit granted at once, {int(m[1]):>5} people in the owner team and the platform group: {m[2]} AWS calls (cold)")
        print()
        print("| lifecycle (cold functions, moto) | AWS calls | DynamoDB read / write units | emails | invocations | cost per 1,000 requests |")
        print("| --- | --- | --- | --- | --- | --- |")
        for r in rows:
            cost = (float(r["write_units"]) * PRICE["write_unit"] + float(r["read_units"]) * PRICE["read_unit"]
                    + int(r["emails"]) * PRICE["email"] + int(r["invocations"]) * PRICE["invocation"]
                    + int(r["api"]) * PRICE["api"] + int(r["scheduled"]) * PRICE["scheduled"])
            dynamo = (float(r["write_units"]) * PRICE["write_unit"] + float(r["read_units"]) * PRICE["read_unit"]) * 1000
            print(f"| {r['lifecycle']} | {r['calls']} | {r['read_units']} / {r['write_units']} | {r['emails']} "
                  f"| {r['invocations']} | ${cost * 1000:.3f} (DynamoDB ${dynamo:.3f}, email ${int(r['emails']) * PRICE['email'] * 1000:.3f}) |")
    finally:
        stop_moto(moto, log, work)


if __name__ == "__main__":
    main()
