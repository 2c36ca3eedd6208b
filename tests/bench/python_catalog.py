"""The Python side of the cold-start comparison: what a boto3 Lambda handler does for
GET /v1/catalog (the same reads as the intake function: the published catalog's item, its
TOML files parsed), served through the Lambda Runtime API like any custom runtime. Started by
tests/bench/lambda_bench.py; imports at the top and the client made at init, as Lambda
handlers are written."""

import json
import os
import tomllib

import boto3
from lambda_runtime import serve

TABLE = os.environ["TABLE_NAME"]
DYNAMO = boto3.client("dynamodb")


def toml10(text):
    """The catalog's files use TOML 1.1's inline tables over several lines; Python's tomllib
    reads TOML 1.0, so such a table is put on one line first (strings are left alone)."""
    out, depth, in_str, i = [], 0, False, 0
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                out.append(text[i:i + 2])
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "#" and depth:
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "\n" and depth:
            c = " "
        out.append(c)
        i += 1
    return "".join(out)


def handler(event):
    item = DYNAMO.get_item(
        TableName=TABLE,
        Key={"pk": {"S": "CATALOG"}, "sk": {"S": "CURRENT"}},
        ConsistentRead=True,
    )["Item"]
    published = json.loads(item["data"]["S"])
    bundles = []
    for _name, text in published["files"]:
        doc = tomllib.loads(toml10(text))
        for b in doc.get("bundle", []):
            bundles.append({"name": b["name"], "description": b.get("description", ""),
                            "risk": b.get("risk"), "owner_team": b.get("owner_team")})
    body = json.dumps({"version": published["version"], "bundles": bundles})
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}


if __name__ == "__main__":
    serve(handler)
