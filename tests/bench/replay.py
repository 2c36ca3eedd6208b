"""The AWS calls a function makes, recorded and made again from Python.

`Recorder` is a proxy in front of moto server that keeps, while it is on, every request that
passes through it. `calls` turns those requests into boto3 operations (service, operation,
parameters) by reading botocore's own service models: by X-Amz-Target for JSON services
(DynamoDB, IAM Identity Center, the Identity Store, Secrets Manager), and by method and path for
REST ones (SES v2, EventBridge Scheduler). tests/bench/python_replay.py then makes those calls
from a boto3 Lambda handler, so that each Rust function is timed beside a Python handler doing
the same AWS work."""

import base64
import http.client
import http.server
import json
import re
import threading
import urllib.parse

import botocore.session
from botocore import xform_name

# Services the functions call; each model is read once.
SERVICES = ["dynamodb", "sso-admin", "identitystore", "secretsmanager", "sesv2", "scheduler",
            "lambda", "sts"]
SKIP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}


class Recorder:
    """A proxy to `endpoint` on a free port of 127.0.0.1; `on` keeps requests in `seen`."""

    def __init__(self, endpoint):
        target = urllib.parse.urlsplit(endpoint)
        self.seen = []
        self.on = False
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in SKIP_HEADERS}
                with rec.lock:
                    if rec.on:
                        rec.seen.append((self.command, self.path, dict(self.headers.items()), body))
                up = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    up.request(self.command, self.path, body=body, headers=headers)
                    answer = up.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for k, v in answer.getheaders():
                        if k.lower() not in SKIP_HEADERS:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    up.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self):
        """What was recorded since the last take, and recording stopped."""
        with self.lock:
            seen, self.seen, self.on = self.seen, [], False
        return seen

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _models():
    session = botocore.session.get_session()
    targets, rest = {}, []
    for name in SERVICES:
        model = session.get_service_model(name)
        prefix = model.metadata.get("targetPrefix")
        if prefix:
            targets[prefix] = (name, model)
            continue
        for op in model.operation_names:
            shape = model.operation_model(op)
            uri = shape.http["requestUri"]
            path = uri.split("?")[0]
            # {Name} is one segment of the path, {Name+} one or more.
            pattern = re.sub(r"\\{([A-Za-z0-9_]+)\\}", r"(?P<\1>[^/?]+)", re.escape(path))
            pattern = re.sub(r"\\{([A-Za-z0-9_]+)\\\+\\}", r"(?P<\1>[^?]+)", pattern)
            rest.append((name, op, shape.http["method"], re.compile("^" + pattern + "/?$"), shape))
    # A path without parameters first: /v2/email/outbound-emails before /v2/email/{X}.
    rest.sort(key=lambda r: r[3].pattern.count("(?P<"))
    return session, targets, rest


def _unbinary(value):
    """DynamoDB's JSON carries binary values base64-encoded; boto3 takes bytes."""
    if isinstance(value, dict):
        if set(value) == {"B"} and isinstance(value["B"], str):
            return {"B": base64.b64decode(value["B"])}
        return {k: _unbinary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unbinary(v) for v in value]
    return value


def calls(seen):
    """The recorded requests as [service, operation (snake case), parameters]; a request no
    model names is an error (the replay would leave work out)."""
    session, targets, rest = _models()
    out = []
    for method, path, headers, body in seen:
        lower = {k.lower(): v for k, v in headers.items()}
        target = lower.get("x-amz-target")
        if target:
            prefix, op = target.rsplit(".", 1)
            if prefix not in targets:
                raise SystemExit(f"bench: no model for the call {target}")
            name, model = targets[prefix]
            params = _unbinary(json.loads(body or b"{}"))
            out.append([name, xform_name(op), params])
            continue
        split = urllib.parse.urlsplit(path)
        for name, op, verb, pattern, shape in rest:
            m = pattern.match(urllib.parse.unquote(split.path))
            if verb != method or not m:
                continue
            payload = shape.input_shape.serialization.get("payload") if shape.input_shape else None
            if payload:
                params = {payload: body}
            else:
                params = json.loads(body) if body else {}
            members = shape.input_shape.members if shape.input_shape else {}
            query = urllib.parse.parse_qs(split.query)
            for member, s in members.items():
                where, wire = s.serialization.get("location"), s.serialization.get("name", member)
                if where == "uri" and wire in m.groupdict():
                    params[member] = m.group(wire)
                elif where == "querystring" and wire in query:
                    params[member] = query[wire][0]
            out.append([name, xform_name(op), params])
            break
        else:
            raise SystemExit(f"bench: no model for the call {method} {path}")
    return out
