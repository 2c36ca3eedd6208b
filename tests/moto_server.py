"""moto server with one request handled at a time, as the tests start it.

DynamoDB serializes conditional writes and transactions on an item: two TransactWriteItems that
both require version = 7 cannot both commit. moto's server does not. It serves each connection
on its own thread with no lock around a request, and its TransactWriteItems snapshots each table
(a deep copy) before it starts and puts the snapshot back when a condition fails. A transaction
that fails on one thread can therefore roll back one that another thread committed a moment
before, and a condition can pass on a copy that a sibling is rewriting. Tests of parallel
callers then fail for a reason no AWS account has (seen in CI: an extension answered 200 and its
audit record vanished).

This launcher serves the same moto application on the same threaded server, so connections
are still accepted and kept alive in parallel, but lets one request at a time into moto. That
restores the guarantee the code relies on in AWS and no more: every test of races still sends
real parallel calls, and the races are still decided by the conditional writes.

It also answers ListPermissionSetsProvisionedToAccount for the account asked about (moto lists
every provisioned set of the instance, whatever the account): a set counts as provisioned in an
account while it is assigned there, which is what the per-account quota counts.

It also names permission sets as AWS does (arn:aws:sso:::permissionSet/ssoins-.../ps-...);
moto names them under the instance's ARN, a form the catalog rightly refuses, so a test could not
name one of moto's permission sets in a bundle.

Usage: python tests/moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
import json

from moto.ssoadmin import models as ssoadmin_models
from moto.ssoadmin.responses import SSOAdminResponse
from werkzeug.serving import run_simple


class OneAtATime:
    """WSGI middleware: the wrapped application handles one request at a time, body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # Read the whole answer inside the lock: a streamed body is produced lazily.
            return list(self.app(environ, start_response))


def permission_set_arn(instance_arn):
    """A permission set ARN in AWS's form, under the instance it belongs to."""
    partition = instance_arn.split(":")[1]
    instance = instance_arn.rsplit("/", 1)[-1]
    return f"arn:{partition}:sso:::permissionSet/{instance}/ps-{os.urandom(8).hex()}"


def provisioned_to_account(self):
    """The permission sets assigned in AccountId, a page of MaxResults (100) at a time."""
    instance_arn = self._get_param("InstanceArn")
    account = self._get_param("AccountId")
    size = min(self._get_int_param("MaxResults") or 100, 100)
    start = int(self._get_param("NextToken") or 0)
    arns = sorted(
        {
            a.permission_set_arn
            for a in self.ssoadmin_backend.account_assignments
            if a.instance_arn == instance_arn and a.target_id == account
        }
    )
    page = {"PermissionSets": arns[start : start + size]}
    if start + size < len(arns):
        page["NextToken"] = str(start + size)
    return json.dumps(page)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    # moto builds some addresses (queue URLs, for one) from the port it is told it serves on.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ssoadmin_models.PermissionSet.generate_id = staticmethod(permission_set_arn)
    SSOAdminResponse.list_permission_sets_provisioned_to_account = provisioned_to_account
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        OneAtATime(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
