#!/usr/bin/env python3
"""The API contract, fuzzed: schemathesis against a jit-local of its own.

Starts jit-local (on its default durable store, in a fresh data directory) on a free port, seeds it with real requests made as the demo
catalog's people (an auto-approved grant, two-group requests waiting for a DBA and security, a
break-glass grant, an access-denied prompt) and takes a real decision link and prompt link from
its outbox. Then runs schemathesis twice from the served document, bounded (fixed examples per
operation, a fixed seed):

1. as the right person for each operation (the requester releases and extends, a DBA approves,
   security denies, the platform admin revokes and reviews), against those real ids and tokens,
   so that requests are really approved, denied, cancelled, released, extended and revoked;
2. with no identity at all (every route but the public ones must answer 401, as documented).

Fails (exit 1) on any server error or any response that does not conform to the document.
Usage: tests/contract/schemathesis.py [--examples N] [--seed S] [--keep]
"""

import argparse
import json
import os
import re
import socket
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ST = os.path.join(ROOT, ".venv", "schemathesis", "bin", "st")
LOCAL = os.path.join(ROOT, "target", "debug", "jit-local")

# The checks that say "the server and the document agree". 422 (well-formed, refused by a rule)
# and 410 (a used or expired link) are outcomes the document lists; schemathesis does not count
# them as acceptance by default.
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
])
CONFIG_HEAD = """\
[checks]
positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "410", "422"]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Local:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix="jit-local-", suffix=".log", delete=False)
        # Its default store (SQLite under a data directory of its own), as people run it.
        self.data = tempfile.mkdtemp(prefix="jit-local-data-")
        self.proc = subprocess.Popen(
            [LOCAL, "--port", str(port), "--catalog", os.path.join(ROOT, "catalog", "examples"),
             "--data-dir", self.data],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        for _ in range(100):
            try:
                self.call("GET", "/v1/config")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        sys.exit(f"contract: jit-local did not start; log: {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.data, ignore_errors=True)

    def call(self, method, path, user=None, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if user:
            req.add_header("X-Jit-User", f"{user}@example.com")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def ask(self, user, **body):
        status, r = self.call("POST", "/v1/requests", user, body)
        if status != 201:
            sys.exit(f"contract: seeding failed: {user} asked {body}: {status} {r}")
        return r["id"]

    def wait_active(self, rid):
        for _ in range(100):
            if self.call("GET", f"/v1/requests/{rid}", "alice")[1]["status"] == "active":
                return
            time.sleep(0.1)
        sys.exit(f"contract: request {rid} never became active")

    def link(self, pattern, request_id=None):
        """The first token in the outbox's emails (about `request_id`, if given) whose link
        matches `pattern`."""
        for m in self.call("GET", "/local/outbox")[1]["messages"]:
            if request_id and m.get("request_id") != request_id:
                continue
            found = re.search(pattern, m["text"])
            if found:
                return found.group(1)
        sys.exit(f"contract: no link matching {pattern} in the outbox")


def seed(local):
    """Real requests and links, named by the operation that will act on them."""
    pii = dict(bundle="rds-prod-pii", duration="1h", reason="INC-7 customer data", ticket="INC-7")
    logs = dict(bundle="api-logs-read", duration="4h", reason="contract test")
    ids = {
        "active": local.ask("alice", **logs),
        "release": local.ask("alice", **logs),
        "revoke": local.ask("bob", **logs),
        "approve": local.ask("carol", **pii),
        "deny": local.ask("carol", **pii),
        "cancel": local.ask("carol", **pii),
        # bob, not carol: one person may have at most three requests waiting for one bundle.
        "link": local.ask("bob", **pii),
        "review": local.ask("grace", bundle="prod-admin", flow="break-glass", duration="1h",
                            reason="INC-9 outage"),
    }
    for k in ("active", "release", "revoke", "review"):
        local.wait_active(ids[k])
    decision = local.link(r"/v1/decisions/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\?action=approve",
                          ids["link"])
    with open(os.path.join(ROOT, "events", "cloudtrail-s3-access-denied.json")) as f:
        status, _ = local.call("POST", "/local/cloudtrail", body=json.load(f))
    if status >= 300:
        sys.exit(f"contract: the access-denied event was refused: {status}")
    prompt = local.link(r"/v1/prompts/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")
    return ids, decision, prompt


def operation(op_id, user=None, **parameters):
    lines = ["[[operations]]", f'include-operation-id = "{op_id}"']
    if user:
        lines.append(f'headers = {{ "X-Jit-User" = "{user}@example.com" }}')
    if parameters:
        pairs = ", ".join(f'"{k}" = "{v}"' for k, v in parameters.items())
        lines.append(f"parameters = {{ {pairs} }}")
    return "\n".join(lines) + "\n"


def config_as_people(ids, decision, prompt):
    ops = [
        operation("approve", "dave", id=ids["approve"]),
        operation("deny", "erin", id=ids["deny"]),
        operation("cancel", "carol", id=ids["cancel"]),
        operation("release", "alice", id=ids["release"]),
        operation("extend", "alice", id=ids["active"]),
        operation("revoke", "frank", id=ids["revoke"]),
        operation("review", "frank", id=ids["review"]),
        operation("show_request", "alice", id=ids["active"]),
        operation("list_approvals", "dave"),
        operation("show_decision", token=decision),
        operation("decide", token=decision),
        operation("show_prompt", token=prompt),
        operation("answer_prompt", token=prompt),
    ]
    return CONFIG_HEAD + "\n" + "\n".join(ops)


def run(local, config, label, args, headers=()):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(config)
    cmd = [ST, "--no-color", "--config-file", f.name, "run", f"{local.base}/v1/openapi.json",
           "--url", local.base, "--checks", CHECKS, "--max-examples", str(args.examples),
           "--seed", str(args.seed), "--generation-database", "none",
           "--request-timeout", "10", "--workers", "1"]
    for h in headers:
        cmd += ["--header", h]
    print(f"contract: schemathesis {label} (seed {args.seed}, {args.examples} examples an operation)",
          flush=True)
    started = time.time()
    proc = subprocess.run(cmd, cwd=tempfile.gettempdir(), capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    summary = [l for l in out.splitlines() if re.search(r"\d+ generated", l)]
    print(f"contract: {label}: {summary[-1].strip() if summary else 'no summary'}; "
          f"exit {proc.returncode} in {time.time() - started:.0f}s", flush=True)
    if proc.returncode != 0:
        print(out)
    return proc.returncode == 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=25)
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--keep", action="store_true", help="leave jit-local running afterwards")
    args = p.parse_args()
    for tool in (ST, LOCAL):
        if not os.path.exists(tool):
            sys.exit(f"contract: {tool} is missing: run scripts/setup.sh and cargo build --workspace")

    ok = True
    local = Local(free_port())
    try:
        ids, decision, prompt = seed(local)
        print(f"contract: seeded jit-local at {local.base} with requests {sorted(ids.values())}")
        ok &= run(local, config_as_people(ids, decision, prompt), "as the right people", args,
                  headers=["X-Jit-User: alice@example.com"])
        # Nothing acted on was left half-done: each seeded request ended where its operation took it.
        after = {k: local.call("GET", f"/v1/requests/{v}", "alice")[1]["status"] for k, v in ids.items()}
        print(f"contract: afterwards: {after}")
        expected = {"approve": {"pending", "approved", "active"}, "deny": {"denied"},
                    "link": {"pending", "approved", "active", "denied"},
                    "cancel": {"cancelled"}, "release": {"released"}, "revoke": {"revoked"}}
        for k, statuses in expected.items():
            if after[k] not in statuses:
                print(f"contract: the {k} request ended {after[k]}, not {sorted(statuses)}")
                ok = False
    finally:
        if not args.keep:
            local.stop()
    local = Local(free_port())
    try:
        ok &= run(local, CONFIG_HEAD, "with no identity", args)
    finally:
        local.stop()
    print("contract: passed" if ok else "contract: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
