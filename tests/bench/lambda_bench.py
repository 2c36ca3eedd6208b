#!/usr/bin/env python3
"""Cold starts and warm calls of the Lambda functions, as Lambda runs them: each release binary
is spawned with a Lambda Runtime API of our own (this script serves it), against moto server,
and timed from the spawn to its first poll for work (init), to its first answer (cold total),
and on later calls (warm). Beside each function a Python boto3 handler runs the same way: for
GET /v1/catalog one doing its reads (tests/bench/python_catalog.py); for the others one making
the AWS calls the function made on a first call of its own, recorded (untimed) through a proxy
in front of moto (tests/bench/replay.py, tests/bench/python_replay.py). The escalate and grant
functions each act on a request of their own, made first (untimed). Prints min / median / max
of each figure, peak RSS and Python's medians over Rust's; asserts nothing.

Then the grantor example (crates/aws/examples/grant_wall.rs) on the same moto: a grant applied
and removed with the Identity Center limiter as it was and as it is; and the fleet simulation
(crates/aws/examples/identity_center_simulation.rs): bursts of grants from ten processes against
a fake of Identity Center that enforces its rules, as before the shared budget and as it is.

Run by scripts/bench.sh after a release build; JIT_BENCH_RUNS (default 12) cold starts per
function, JIT_BENCH_WARM (default 5) warm calls after each.
"""

import http.server
import json
import os
import pathlib
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import replay  # noqa: E402

import boto3  # the virtualenv's (scripts/setup.sh installs moto, which brings it)

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELEASE = ROOT / "target" / "release"
RUNS = int(os.environ.get("JIT_BENCH_RUNS", "12"))
WARM = int(os.environ.get("JIT_BENCH_WARM", "5"))
NEXT = "/2018-06-01/runtime/invocation/next"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(log):
    """moto server (through tests/moto_server.py) on a free port, once it answers; the process
    and its endpoint."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    python = ROOT / ".venv" / "bin" / "python"
    moto = subprocess.Popen([str(python), "tests/moto_server.py", "-H", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, stdout=log, stderr=log)
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return moto, endpoint
        except OSError:
            time.sleep(0.1)
    moto.kill()
    raise SystemExit(f"bench: moto server did not answer on {endpoint}")


def stop_moto(moto, log, work):
    """Stops what start_moto started and removes the bench's working directory."""
    moto.kill()
    moto.wait()
    log.close()
    shutil.rmtree(work, ignore_errors=True)


class Emulator:
    """The Lambda Runtime API for one process: events are handed out in order by /next, and
    each answer (or error) is recorded with when it came."""

    def __init__(self):
        self.events = queue.Queue()
        self.done = {}
        self.handed = {}
        self.first_poll = None
        self.cv = threading.Condition()
        emu = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != NEXT:
                    self.send_error(404)
                    return
                with emu.cv:
                    if emu.first_poll is None:
                        emu.first_poll = time.perf_counter()
                rid, event = emu.events.get()
                body = json.dumps(event).encode()
                with emu.cv:
                    emu.handed[rid] = time.perf_counter()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:jit-bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                # .../invocation/<id>/response, .../invocation/<id>/error, .../init/error
                kind = parts[-1]
                rid = parts[-2] if parts[-3:-2] == ["invocation"] else "init"
                with emu.cv:
                    emu.done[rid] = (time.perf_counter(), kind, body)
                    emu.cv.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event):
        rid = str(uuid.uuid4())
        self.events.put((rid, event))
        return rid

    def wait(self, rid, timeout=60):
        with self.cv:
            ok = self.cv.wait_for(lambda: rid in self.done or "init" in self.done, timeout)
        if not ok:
            raise SystemExit(f"bench: no answer to {rid} within {timeout} s")
        if "init" in self.done:
            raise SystemExit(f"bench: init failed: {self.done['init'][2][:500]!r}")
        at, kind, body = self.done[rid]
        if kind != "response":
            raise SystemExit(f"bench: the function failed: {body[:500]!r}")
        return at, body

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def peak_rss_mb(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(cmd, env, event_at, log):
    """One cold start and WARM warm calls; returns (init, cold, [warm...], rss, first answer)."""
    emu = Emulator()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{emu.port}")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        rid = emu.invoke(event_at(0))
        at, first = emu.wait(rid)
        init, cold = emu.first_poll - t0, at - t0
        warm = []
        for i in range(WARM):
            rid = emu.invoke(event_at(i + 1))
            at, _ = emu.wait(rid)
            warm.append(at - emu.handed[rid])
        return init, cold, warm, peak_rss_mb(proc.pid), first
    finally:
        proc.kill()
        proc.wait()
        emu.close()


def event(name):
    return json.loads((ROOT / "events" / name).read_text())


def catalog_event(_i):
    e = event("apigw-post-request.json")
    e["routeKey"] = "GET /v1/catalog"
    e["rawPath"] = e["requestContext"]["http"]["path"] = "/v1/catalog"
    e["requestContext"]["http"]["method"] = "GET"
    e["requestContext"]["routeKey"] = "GET /v1/catalog"
    e.pop("body", None)
    return e


PEOPLE = ["alice", "bob", "carol", "grace"]
counter = {"n": 0}


def submit_event(_i):
    counter["n"] += 1
    e = event("apigw-post-request.json")
    who = PEOPLE[counter["n"] % len(PEOPLE)]
    e["requestContext"]["authorizer"]["jwt"]["claims"]["email"] = f"{who}@example.com"
    e["body"] = json.dumps({"bundle": "api-logs-read", "duration": "1h",
                            "reason": f"bench {counter['n']}"})
    return e


def decision_event(_i):
    return json.loads((ROOT / "events" / "apigw-get-decision.json").read_text().replace("{{TOKEN}}", "not-a-token"))


def pod_event(_i):
    e = event("cloudtrail-s3-access-denied.json")
    e["detail"]["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    e["detail"]["eventID"] = str(uuid.uuid4())
    return e


def answers(cmd, env, events, log):
    """Runs one process over `events`, one after another; the answers' bodies (to make the
    requests later cases act on)."""
    emu = Emulator()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{emu.port}")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=ROOT)
    try:
        out = []
        for e in events:
            _, body = emu.wait(emu.invoke(e))
            out.append(json.loads(body))
        return out
    finally:
        proc.kill()
        proc.wait()
        emu.close()


def ask_event(who, bundle, extra=None):
    e = event("apigw-post-request.json")
    e["requestContext"]["authorizer"]["jwt"]["claims"]["email"] = who
    e["body"] = json.dumps({"bundle": bundle, "duration": "1h", "reason": "bench", **(extra or {})})
    return e


def created_ids(bodies, status):
    ids = []
    for b in bodies:
        view = json.loads(b.get("body") or "{}")
        if view.get("status") != status:
            raise SystemExit(f"bench: a request to act on came back {b.get('statusCode')}: {b.get('body', '')[:300]}")
        ids.append(view["id"])
    return ids


def seed_people(boto, store, group, n):
    """n more people in `group` of the Identity Store, so each cold start acts on a request of
    its own (a person may keep only so many requests open)."""
    ids = boto3.client("identitystore", **boto)
    gid = ids.get_group_id(IdentityStoreId=store, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": group}})["GroupId"]
    people = []
    for i in range(n):
        email = f"bench{i}@example.com"
        uid = ids.create_user(IdentityStoreId=store, UserName=email, DisplayName=email,
                              Name={"GivenName": "Bench", "FamilyName": str(i)},
                              Emails=[{"Value": email, "Primary": True}])["UserId"]
        ids.create_group_membership(IdentityStoreId=store, GroupId=gid, MemberId={"UserId": uid})
        people.append(email)
    return people


def stream_event(dynamo, table, rid):
    """The stream record the grant function gets when request `rid` was approved."""
    item = dynamo.get_item(TableName=table, Key={"pk": {"S": f"REQ#{rid}"}, "sk": {"S": "META"}})["Item"]
    e = event("dynamodb-stream-approved.json")
    rec = e["Records"][0]
    rec["dynamodb"]["Keys"] = {"pk": item["pk"], "sk": item["sk"]}
    rec["dynamodb"]["NewImage"] = item
    rec["dynamodb"].pop("OldImage", None)
    rec["eventName"] = "INSERT"
    return e


def stats(xs, scale=1000.0):
    xs = sorted(x * scale for x in xs)
    return xs[0], statistics.median(xs), xs[-1]


def fmt(t):
    return f"{t[0]:7.1f} {t[1]:7.1f} {t[2]:7.1f}"


def status_of(first):
    try:
        return json.loads(first).get("statusCode", "-")
    except ValueError:
        return "-"


def run_case(name, cmd, env, ev, log):
    """RUNS cold starts of `cmd`, each followed by WARM warm calls; prints a line, returns the
    medians of init and cold total."""
    inits, colds, warms, rss, status = [], [], [], [], None
    for _ in range(RUNS):
        i, c, w, r, first = measure(cmd, env, ev, log)
        inits.append(i)
        colds.append(c)
        warms.extend(w)
        rss.append(r)
        status = status_of(first)
    print(f"{name:<36} {fmt(stats(inits)):>26} {fmt(stats(colds)):>24} {fmt(stats(warms)):>24} "
          f"{statistics.median(rss):6.1f} MB {status!s:>6}")
    sys.stdout.flush()
    return statistics.median(inits), statistics.median(colds)


def main():
    for b in ["intake", "approval", "revoke", "pod", "escalate", "grant", "jit-local", "jit"]:
        if not (RELEASE / b).is_file():
            raise SystemExit(f"bench: {RELEASE / b} is missing; scripts/bench.sh builds it")
    python = ROOT / ".venv" / "bin" / "python"
    work = pathlib.Path(tempfile.mkdtemp(prefix="jit-bench-"))
    log = open(work / "functions.log", "wb")
    moto, endpoint = start_moto(log)
    recorder = replay.Recorder(endpoint)
    aws = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "PATH": os.environ["PATH"]}
    try:
        # jit-local makes the table, the Identity Store and the schedule group, and records them.
        local = subprocess.Popen([str(RELEASE / "jit-local"), "--port", "0", "--aws-endpoint", endpoint,
                                  "--data-dir", str(work / "local"), "--catalog", "catalog/examples"],
                                 cwd=ROOT, env=aws, stdout=subprocess.PIPE, stderr=log, text=True)
        for line in local.stdout:
            if line.startswith("jit-local listening on "):
                break
        local.terminate()
        local.wait()
        made = json.loads((work / "local" / "aws-local.json").read_text())
        subprocess.run([str(RELEASE / "jit"), "catalog", "push", "catalog/examples", "--table", made["table"],
                        "--by", "bench@example.com"], cwd=ROOT, env=aws, check=True, stdout=log, stderr=log)
        boto = dict(endpoint_url=endpoint, region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing")
        boto3.client("sesv2", **boto).create_email_identity(EmailIdentity="jit@example.com")
        # The functions read the link-signing key from Secrets Manager, as deployed.
        boto3.client("secretsmanager", **boto).create_secret(
            Name="jit/bench-link-key", SecretString="bench-signing-key-of-at-least-32-bytes!!")
        instance = boto3.client("sso-admin", **boto).list_instances()["Instances"][0]["InstanceArn"]
        arn = "arn:aws:lambda:us-east-1:123456789012:function:jit-"
        env = dict(aws,
                   AWS_LAMBDA_FUNCTION_NAME="jit-bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
                   AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/jit-bench",
                   AWS_LAMBDA_LOG_STREAM_NAME="bench", TABLE_NAME=made["table"],
                   IDENTITY_STORE_ID=made["identity_store"], SSO_INSTANCE_ARN=instance,
                   SCHEDULE_GROUP=made["schedule_group"],
                   SCHEDULER_ROLE_ARN="arn:aws:iam::123456789012:role/jit-scheduler",
                   GRANT_FUNCTION_ARN=arn + "grant", REVOKE_FUNCTION_ARN=arn + "revoke",
                   ESCALATE_FUNCTION_ARN=arn + "escalate", SES_FROM="jit@example.com",
                   BASE_URL="https://jit.example.com", LINK_SIGNING_SECRET="jit/bench-link-key")
        # Requests for the escalate and grant functions to act on, one per call: pending ones
        # (a two-group bundle) to escalate, and approved ones for the grant function to apply.
        # Made (untimed) once the other cases ran: moto's queries slow down as its table fills.
        dynamo = boto3.client("dynamodb", **boto)
        prepared = {}

        def prepare():
            calls = RUNS * (1 + WARM) + 1  # and one first call, recorded for the replay
            people = seed_people(boto, made["identity_store"], "data", calls)
            intake = [str(RELEASE / "intake")]
            pending = created_ids(answers(intake, env, [
                ask_event(p, "rds-prod-pii", {"ticket": "INC-1"}) for p in people], log), "pending")
            approved = created_ids(answers(intake, env, [
                ask_event(p, "api-logs-read") for p in people], log), "approved")
            prepared["escalate"] = iter([{"action": "escalate", "request_id": i, "tier": 1} for i in pending])
            prepared["grant"] = iter([stream_event(dynamo, made["table"], i) for i in approved])

        cases = [
            ("intake, GET /v1/catalog", "intake", catalog_event),
            ("intake, GET /v1/approvals", "intake", lambda i: event("apigw-get-approvals.json")),
            ("intake, POST /v1/requests", "intake", submit_event),
            ("approval, a link page", "approval", decision_event),
            ("revoke, the sweep", "revoke", lambda i: event("eventbridge-sweeper.json")),
            ("pod, an access-denied event", "pod", pod_event),
            ("escalate, a request's tier 1", "escalate", lambda i: next(prepared["escalate"])),
            ("grant, an approved request", "grant", lambda i: next(prepared["grant"])),
        ]
        print(f"lambda: {RUNS} cold starts each, {WARM} warm calls after each; ms as min median max")
        print(f"{'function':<36} {'init (spawn to first poll)':>26} {'cold (spawn to answer)':>24} "
              f"{'warm':>24} {'peak RSS':>9} {'answer':>6}")
        ratios = []
        for name, binary, ev in cases:
            if binary in ("escalate", "grant") and not prepared:
                prepare()
            cmd = [str(RELEASE / binary)]
            # Beside each function, a Python boto3 handler: for the catalog, one written to do
            # its reads; for the others, one making the calls the function made on a first call
            # of its own, recorded (untimed) through a proxy.
            if binary == "intake" and "catalog" in name:
                py_cmd, py_env, made_calls = [str(python), "tests/bench/python_catalog.py"], env, None
            else:
                recorder.on = True
                answers(cmd, dict(env, AWS_ENDPOINT_URL=recorder.endpoint), [ev(0)], log)
                made_calls = replay.calls(recorder.take())
                calls_file = work / f"calls-{len(ratios)}.json"
                calls_file.write_text(json.dumps(made_calls))
                py_cmd = [str(python), "tests/bench/python_replay.py"]
                py_env = dict(env, JIT_REPLAY_FILE=str(calls_file))
            rust = run_case(name, cmd, env, ev, log)
            what = "the same reads" if made_calls is None else f"the same {len(made_calls)} calls"
            py = run_case(f"  Python + boto3, {what}", py_cmd, py_env, lambda i: {}, log)
            ratios.append((name, rust, py))
        print("lambda: Python's median over Rust's (how many times faster Rust is)")
        print(f"{'function':<36} {'init':>8} {'cold total':>11}")
        for name, rust, py in ratios:
            print(f"{name:<36} {py[0] / rust[0]:7.1f}x {py[1] / rust[1]:10.1f}x")
        # Applying and removing grants through the Identity Center adapter, on the same moto.
        sys.stdout.flush()
        subprocess.run([str(RELEASE / "examples" / "grant_wall")], env=aws, check=True, cwd=ROOT)
        # Issue #18's simulation: a fleet granting at once against a fake of Identity Center
        # that enforces its rate, one change per account and its quotas (the table on this moto),
        # first as before the shared budget at 500 grants, then as it is at each burst.
        print("identity center simulation: 1,000 people x 50 accounts, 10 grant processes, a burst in one minute")
        print("as before (each process alone at 10 calls a second):")
        sys.stdout.flush()
        subprocess.run([str(RELEASE / "examples" / "identity_center_simulation")],
                       env={**aws, "JIT_SIM_BEFORE": "1", "JIT_SIM_BURSTS": "500"}, check=True, cwd=ROOT)
        print("as it is (one budget of 15 calls a second for every process, one change per account at a time):")
        sys.stdout.flush()
        subprocess.run([str(RELEASE / "examples" / "identity_center_simulation")], env=aws, check=True, cwd=ROOT)
    except SystemExit:
        log.flush()
        tail = (work / "functions.log").read_text(errors="replace").splitlines()[-15:]
        print("bench: the last lines the processes wrote:\n  " + "\n  ".join(tail), file=sys.stderr)
        raise
    finally:
        recorder.close()
        stop_moto(moto, log, work)


if __name__ == "__main__":
    main()
