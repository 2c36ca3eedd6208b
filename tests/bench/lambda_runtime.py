"""The Lambda Runtime API loop the bench's Python handlers are served by, as any custom runtime
is: fetch the next event, answer it, forever."""

import json
import os
import urllib.request


def serve(handler):
    base = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(f"{base}/next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        out = json.dumps(handler(event)).encode()
        urllib.request.urlopen(urllib.request.Request(f"{base}/{request_id}/response", data=out, method="POST")).read()
