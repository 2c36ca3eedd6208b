"""The Python side of the cold-start comparison for every function but the catalog's (which
has a handler of its own, tests/bench/python_catalog.py): a boto3 Lambda handler that makes
the AWS calls the Rust function made on its first call, recorded by tests/bench/replay.py and
given in the file JIT_REPLAY_FILE, served through the Lambda Runtime API like any custom
runtime. Imports at the top and the clients made at init, as Lambda handlers are written.

It makes the same calls and nothing else: none of the function's own work (the policy, the
rendering) and none of its waits, so the Python figure is a floor. A call AWS refuses (a
conditional write made a second time) still costs its round trip and is counted as made."""

import json
import os

import boto3
import botocore.exceptions
from lambda_runtime import serve

with open(os.environ["JIT_REPLAY_FILE"]) as f:
    CALLS = json.load(f)
CLIENTS = {name: boto3.client(name) for name in sorted({c[0] for c in CALLS})}


def handler(_event):
    refused = 0
    for service, operation, params in CALLS:
        try:
            getattr(CLIENTS[service], operation)(**params)
        except botocore.exceptions.ClientError:
            refused += 1
    body = json.dumps({"calls": len(CALLS), "refused": refused})
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}


if __name__ == "__main__":
    serve(handler)
