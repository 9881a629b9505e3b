"""vpc-provisioner: the API's table of contents, and the worker's entry point.

Routes parse, call one function of `chalicelib`, and shape the response. Every
route of the API sits behind the Cognito user-pool authorizer; the user pool's ARN
comes from the stage configuration (USER_POOL_ARN), never from code. The web
console's page and files (`/console`) need no token: what the page shows, it reads
through those routes with the signed-in person's ID token.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, CognitoUserPoolAuthorizer, Rate, Request, Response, SQSEvent

from chalicelib import logs, wiring
from chalicelib.config import load_console_settings
from chalicelib.errors import ApiError, InvalidJob
from chalicelib.invocations import observe

# What only some functions use is imported where it is used, on first use: the worker's
# and the schedules' cold starts load none of the API's input rules, the API's none of
# the worker's jobs (bench/lambda_package.py times `import app`, what they all pay).
if TYPE_CHECKING:
    from chalicelib.console import site
    from chalicelib.models import Caller

# Loaded by the Chalice CLI (on a person's machine, never in Lambda): it refuses `chalice
# local` (it would serve unverified tokens: docs/local-stack.md, `make run`), a stage `make
# backing` has not written yet, and a `chalice deploy` with the wrong runtime
# (infra/chalice_guard.py, which the zip does not hold).
if os.environ.get("AWS_CHALICE_CLI_MODE") == "true":
    from infra.chalice_guard import refuse_what_must_not_run

    refuse_what_must_not_run(sys.argv, os.environ)

# Chalice's own log handler stays off: every line goes through the root logger, which
# in Lambda writes one JSON object per line (chalicelib/logs.py).
app = Chalice(app_name="vpc-provisioner", configure_logs=False)
app.log.setLevel(logging.INFO)
logging.getLogger("chalicelib").setLevel(logging.INFO)
if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get("LOG_FORMAT") == "json":
    logs.configure()
# Every invocation (API, worker, schedules) logs one `invocation` line, and every line
# logged inside it carries the function, the Lambda request id and the request's id.
app.register_middleware(observe, "all")


def _explain_unsupported_media_type(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """A request whose Content-Type is not JSON is a 415 that says what to send instead
    (the type quoted, bounded: it is client input). Chalice answers 415 itself only for
    some: it reads the header as an Accept header (`*/*` anywhere in it, or a list
    holding `application/json`, passed as JSON)."""
    from chalicelib.api.json_body import declares_json

    route = app.routes.get(event.context.get("resourcePath", ""), {}).get(event.method)
    takes_json_only = route is not None and route.content_types == ["application/json"]
    if takes_json_only and not declares_json(event.headers.get("content-type")):
        response = Response(body="", status_code=415)
    else:
        response = get_response(event)
    if isinstance(response, Response) and response.status_code == 415:
        from chalicelib.api.echo import quote

        sent = quote(str(event.headers.get("content-type", "")), limit=60)
        advice = (
            "Send the body as JSON with 'Content-Type: application/json'"
            if event.method == "POST"
            else f"A {event.method} has no body: leave Content-Type out "
            "(or send 'application/json')"
        )
        response.body = {
            "Code": "UnsupportedMediaType",
            "Message": f"{advice} (this request said {sent}).",
        }
    return response


app.register_middleware(_explain_unsupported_media_type, "http")

authorizer = CognitoUserPoolAuthorizer(
    "CognitoUserPool",
    provider_arns=[os.environ.get("USER_POOL_ARN", "")],
)


def _api_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Answer every ApiError with its status, Chalice's error shape and its headers."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except ApiError as err:
            return Response(
                body={"Code": err.code, "Message": err.message},
                status_code=err.status_code,
                headers={**err.headers},
            )

    return wrapper


def _request() -> Request:
    request = app.current_request
    assert request is not None  # Chalice sets it before calling a view
    return request


def _caller() -> Caller:
    from chalicelib.api.auth import caller_from_context

    request = _request()
    return caller_from_context(request.context, request.headers.get("authorization"))


@app.route("/vpcs", methods=["POST"], authorizer=authorizer)
@_api_errors
def create_vpc_request() -> Response:
    caller = _caller()
    request = _request()
    submission = wiring.current().submissions.submit(
        caller, request.headers.get("idempotency-key"), request.raw_body
    )
    record = submission.record
    headers: dict[str, str | list[str]] = {"Location": f"/vpcs/{record.request_id}"}
    if submission.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        body={"request_id": record.request_id, "status": record.status.value, "cidr": record.cidr},
        status_code=202,
        headers=headers,
    )


@app.route("/pools", methods=["GET"], authorizer=authorizer)
@_api_errors
def list_address_pools() -> Response:
    _caller()
    return Response(body={"items": wiring.current().reads.pools()}, status_code=200)


@app.route("/vpcs", methods=["GET"], authorizer=authorizer)
@_api_errors
def list_vpc_requests() -> Response:
    from chalicelib.api.query import (
        LIST_PARAMETERS,
        parse_limit,
        parse_list_filter,
        query_parameters,
    )

    caller = _caller()
    query = _request().query_params
    params = query_parameters(
        {name: query.getlist(name) for name in query} if query else {}, LIST_PARAMETERS
    )
    which = parse_list_filter(params.get("status"), params.get("created_by"), params.get("drift"))
    page = wiring.current().reads.list(
        parse_limit(params.get("limit")), params.get("next_token"), which, caller
    )
    return Response(
        body={"items": [r.to_api() for r in page.records], "next_token": page.next_token}
    )


@app.route("/vpcs/{request_id}", methods=["GET"], authorizer=authorizer)
@_api_errors
def get_vpc_request(request_id: str) -> Response:
    _caller()
    return Response(body=wiring.current().reads.get(request_id).to_api())


@app.route("/vpcs/{request_id}", methods=["DELETE"], authorizer=authorizer)
@_api_errors
def delete_vpc_request(request_id: str) -> Response:
    # Idempotency-Key is neither needed nor read: a DELETE is idempotent by itself.
    deletion = wiring.current().deletes.delete(_caller(), request_id)
    return Response(
        body={"request_id": deletion.request_id, "status": deletion.status.value},
        status_code=202,
        headers={"Location": f"/vpcs/{deletion.request_id}"},
    )


# The web console: no authorizer (the page needs no token; everything on it comes through
# the routes above with the person's ID token), same origin as the API (no CORS).
# Imported on the console's first request: the API's other cold starts load none of it.
# Any Content-Type a browser or a script names is served (a GET has no body to refuse).
@app.route("/console", methods=["GET"], content_types=["*/*"])
def console_page() -> Response:
    from chalicelib.console import site

    path = str(_request().context.get("path") or "/console")
    return _served(site.page(load_console_settings(), path))


@app.route("/console/{asset}", methods=["GET"], content_types=["*/*"])
@_api_errors
def console_asset(asset: str) -> Response:
    from chalicelib.console import site

    query = _request().query_params
    version = query.get("v") if query else None
    return _served(site.asset(asset, load_console_settings(), version))


def _served(served: site.Served) -> Response:
    return Response(body=served.body, headers={**served.all_headers()})


@app.on_sqs_message(
    queue=os.environ.get("QUEUE_NAME", "vpc-provisioner-jobs"),
    # One message per invocation: Chalice cannot report partial batch
    # failures, so a failing job must not make SQS redeliver its neighbours.
    batch_size=1,
    # Bounds concurrent provisionings, and so concurrent EC2 calls (with
    # SUBNET_CONCURRENCY), below the account's EC2 API rate limits.
    maximum_concurrency=int(os.environ.get("WORKER_MAX_CONCURRENCY", "2")),
)
def worker(event: SQSEvent) -> None:
    # Here, not at the top: the API's cold start does not load the jobs' parsing.
    from chalicelib.aws.jobs import job_of

    for record in event:
        attributes = record.to_dict().get("attributes") or {}
        try:
            job = job_of(record.body, attributes, record.receipt_handle)
        except InvalidJob:
            # Not ours to fix: failing it leaves it in the DLQ for a person to read.
            app.log.exception("unreadable job message")
            raise
        wiring.current().provisioner.handle(job)


@app.schedule(Rate(5, unit=Rate.MINUTES))
def reaper(event: Any) -> bool:
    # Whether it acted: the invocation line of an idle run is at DEBUG (invocations.py).
    return wiring.current().reaper.run().acted


# Keeps the address pools true (foreign VPCs learned at most this rate late, blocks of
# ended requests freed, the backfill), first: it is quick, and a reconciler run that
# fails or reaches the function's timeout must not leave it undone. Then removes what no
# record references; its grace period (RECONCILE_GRACE_SECONDS) is longer than the
# worker's timeout. The reconciler runs even if the upkeep fails (its error is seen), and
# takes no more requests once half the time the function has left is gone.
@app.schedule(Rate(3, unit=Rate.MINUTES))
def reconciler(event: Any) -> bool:
    services = wiring.current()
    kept = False
    try:
        kept = services.pool_keeper.run().acted
    finally:
        context = event.context
        left = context.get_remaining_time_in_millis() / 1000 if context else None
        acted = services.reconciler.run(left).acted
    return kept or acted
