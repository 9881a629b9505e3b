"""`vpcctl create`: a POST /vpcs from a file, or a body built from flags, sent with an
Idempotency-Key that makes re-running it safe."""

from __future__ import annotations

import functools
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from .api import DeadlinePassed
from .errors import CliError, ExitCode, in_vpcctl_terms, usage_error
from .invocation import Invocation, command
from .options import QUIET_OPTION
from .waiting import CREATE_FINAL, CREATE_OK, deadline_of, finish, timeout_option, wait_until

# An Idempotency-Key an HTTP header carries as it is: printable ASCII, neither starting nor
# ending with a space (a receiver strips those, RFC 9110 5.5). requests refuses a leading
# space or tab and a line break before sending (InvalidHeader), and http.client cannot
# encode what is beyond Latin-1. Empty is sent, for the API to refuse in its own words.
_SENDABLE_KEY = re.compile(r"([!-~]([ -~]*[!-~])?)?")


@click.command()
@click.option(
    "-f",
    "--file",
    "spec_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="The request body (docs/api.md, POST /vpcs), sent as it is; - for stdin. "
    "Or build it with the flags below.",
)
@click.option("--cidr", metavar="CIDR", help="The VPC's block, e.g. 10.30.0.0/16 (or --size).")
@click.option(
    "--size",
    type=click.IntRange(16, 28),
    metavar="N",
    help="The VPC's netmask length (16-28): the service picks a free block of a pool.",
)
@click.option("--pool", metavar="NAME", help="The pool --size allocates from (`vpcctl pools`).")
@click.option("--name", metavar="NAME", help="The VPC's Name tag.")
@click.option(
    "--subnet",
    "subnets",
    multiple=True,
    metavar="SUBNET",
    help="A subnet (repeat for more): a size /24 or a block 10.30.1.0/24, then optionally "
    "@ZONE and ,public; e.g. --subnet /24 --subnet /24,public --subnet 10.30.9.0/24@us-east-1b.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until it ends (SUCCEEDED, FAILED or CANCELLED), showing progress.",
)
@timeout_option("--wait")
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Send this Idempotency-Key (printable ASCII; default: a new one): re-running a "
    "create with the key "
    "it printed finishes that request, never makes a second VPC.",
)
@QUIET_OPTION
@command
def create(
    inv: Invocation,
    spec_file: str | None,
    cidr: str | None,
    size: int | None,
    pool: str | None,
    name: str | None,
    subnets: tuple[str, ...],
    wait: bool,
    timeout: float,
    idempotency_key: str | None,
) -> int:
    """Ask for a VPC and its subnets (POST /vpcs): from a file (-f), or by flags, e.g.
    `vpcctl create --size 20 --subnet /24 --subnet /24,public`."""
    flags = cidr or size or pool or name or subnets
    try:
        if spec_file is not None and flags:
            raise usage_error("give either -f FILE or the flags --cidr/--size/--subnet, not both")
        if spec_file is not None:
            body = _read_spec(spec_file, inv.runtime.cwd)
        elif not flags:
            raise usage_error(
                "give -f FILE (the request body), or build it with --cidr or --size and --subnet"
            )
        else:
            body = json.dumps(_body_of(cidr, size, pool, name, subnets)).encode()
        if idempotency_key is not None:
            _check_key(idempotency_key)
    except CliError as err:
        err.hint = err.hint or "`vpcctl create --help`"
        raise
    key = inv.runtime.new_key() if idempotency_key is None else idempotency_key
    api = inv.api()
    unsure = (
        f"the request may have been accepted: run the same command with "
        f"--idempotency-key {shlex.quote(key)} to finish it without a second VPC"
    )
    # With --wait, --timeout bounds the whole command: the POST's retries are in it.
    deadline = deadline_of(inv, timeout)
    try:
        answer = api.create(body, key, deadline if wait else None)
    except DeadlinePassed as passed:
        raise CliError(
            f"gave up after {timeout:g}s: the POST was not accepted ({passed.last})",
            code="WaitTimedOut",
            exit_code=ExitCode.TIMEOUT,
            hint=unsure,
        ) from passed
    except CliError as err:
        # The API speaks of the header; the user set it with --idempotency-key.
        err.message = in_vpcctl_terms(err.message)
        if flags:
            err.message = in_flag_terms(err.message)
        if err.exit_code is ExitCode.UNAVAILABLE and not err.sent_nothing:
            # Unless nothing was ever sent (the stack was down from the first attempt):
            # a stack that stopped after a POST reached it may have stored the request.
            err.hint = unsure
        raise
    except KeyboardInterrupt as interrupted:
        raise CliError(
            "interrupted", code="Interrupted", exit_code=ExitCode.INTERRUPTED, hint=unsure
        ) from interrupted
    accepted = answer.body
    request_id = str(accepted["request_id"])
    replayed = answer.headers.get("Idempotent-Replayed") == "true"
    if not wait:
        inv.emit(
            {
                **accepted,
                "location": answer.headers.get("Location"),
                "replayed": replayed,
                "idempotency_key": key,
            },
            f"{request_id}  {accepted.get('status')}"
            + ("  (replayed: the request this key made before)" if replayed else ""),
            ids=[request_id],
        )
        if not inv.quiet and accepted.get("status") in CREATE_FINAL:  # a replay, settled
            inv.note(f"next: `vpcctl get {request_id}`")
        elif not inv.quiet:
            inv.note(
                f"next: `vpcctl wait {request_id}` (until it settles), or `vpcctl get {request_id}`"
            )
        return 0
    if replayed:
        inv.note(f"{request_id}: the request --idempotency-key {shlex.quote(key)} made before")
    record = wait_until(inv, api, request_id, CREATE_FINAL, deadline)
    return finish(inv, record, CREATE_OK)


def _check_key(key: str) -> None:
    """A usage error, before anything is sent, for an --idempotency-key that no HTTP header
    carries as it is (`_SENDABLE_KEY`)."""
    if not _SENDABLE_KEY.fullmatch(key):
        raise usage_error(
            f"--idempotency-key {_shown(key)} cannot be sent as an HTTP header: use printable "
            "ASCII characters (no tab, line break or other control character), not starting "
            "or ending with a space"
        )


def _body_of(
    cidr: str | None, size: int | None, pool: str | None, name: str | None, subnets: tuple[str, ...]
) -> dict[str, Any]:
    """A POST /vpcs body from create's flags (the API judges the values)."""
    if (cidr is None) == (size is None):
        raise usage_error("give the VPC's --cidr, or a --size for the service to choose one")
    if pool is not None and size is None:
        raise usage_error("--pool goes with --size")
    if not subnets:
        raise usage_error("give at least one --subnet, e.g. --subnet /24")
    vpc: dict[str, Any] = {"cidr": cidr} if cidr is not None else {"netmask_length": size}
    if pool is not None:
        vpc["pool"] = pool
    if name is not None:
        vpc["name"] = name
    return {"vpc": vpc, "subnets": [_subnet_of(spec) for spec in subnets]}


# The body's fields as the flags that set them, for a body built from flags.
_VPC_FIELDS_AS_FLAGS = {
    "vpc.cidr": "--cidr",
    "vpc.netmask_length": "--size",
    "vpc.pool": "--pool",
    "vpc.name": "--name",
}
# Phrases of the API's messages that name fields in a way the field alone would not read
# right in flags' terms; replaced before the fields (chalicelib's validation,
# address_planner, block_conflicts: a test sends their messages through).
_PHRASES_AS_FLAGS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "with vpc.netmask_length, give subnets[0].netmask_length instead"
    (
        re.compile(r"give subnets\[(\d+)\]\.netmask_length instead"),
        "give --subnet #{n} a size such as /24 instead",
    ),
    # "subnets do not fit ...: ask for smaller subnets (subnets[].netmask_length)"
    (re.compile(r"subnets\[\]\.netmask_length"), "--subnet /N with a larger N"),
    # CidrConflict: 'Ask for a size instead ("vpc": {"netmask_length": 16})'
    (re.compile(r'\("vpc": \{"netmask_length": (\d+)\}\)'), "(--size {0})"),
    # "subnets must hold 1 to 50 subnets, got 51."
    (
        re.compile(r"subnets must hold 1 to (\d+) subnets, got (\d+)\."),
        "give 1 to {0} --subnet, not {1}.",
    ),
)
_SUBNET_FIELD = re.compile(r"subnets\[(\d+)\](?:\.(cidr|netmask_length|az|public|name)\b)?")
# A --subnet value as an error repeats it: a line's worth at most.
_SHOWN_CHARS = 40


def in_flag_terms(message: str) -> str:
    """An API message about a body built from flags, in the flags' terms: "subnets[1].cidr
    ... vpc.cidr ..." becomes "--subnet #2 ... --cidr ..." (the second --subnet given); a
    subnet's netmask_length is "the size of --subnet #2", its az "the @ZONE of --subnet #2"."""
    for phrase, flags in _PHRASES_AS_FLAGS:
        message = phrase.sub(functools.partial(_filled, flags), message)
    for field, flag in _VPC_FIELDS_AS_FLAGS.items():
        message = message.replace(field, flag)
    return _SUBNET_FIELD.sub(_subnet_in_flag_terms, message)


def _filled(template: str, match: re.Match[str]) -> str:
    """`template` with the match's groups ({0}, {1}...) and, as {n}, the first one as a
    --subnet's number (index 0 is #1)."""
    groups = match.groups()
    return template.format(*groups, n=int(groups[0]) + 1 if groups else "")


def _subnet_in_flag_terms(match: re.Match[str]) -> str:
    flag = f"--subnet #{int(match.group(1)) + 1}"
    field = match.group(2)
    if field == "netmask_length":
        return f"the size of {flag}"
    if field == "az":
        return f"the @ZONE of {flag}"
    return flag


def _shown(spec: str) -> str:
    return repr(spec if len(spec) <= _SHOWN_CHARS else spec[:_SHOWN_CHARS] + "...")


def _subnet_of(spec: str) -> dict[str, Any]:
    """`/24`, `10.0.1.0/24`, each optionally followed by `@ZONE` and `,public`."""
    text, _, flag = spec.partition(",")
    if flag not in ("", "public"):
        raise usage_error(f"--subnet {_shown(spec)}: after the comma only 'public' may follow")
    block, _, zone = text.partition("@")
    subnet: dict[str, Any] = {}
    # A size: one to three ASCII digits (what int() reads; the API judges the length).
    if re.fullmatch(r"/[0-9]{1,3}", block):
        subnet["netmask_length"] = int(block[1:])
    elif "/" in block[1:]:
        subnet["cidr"] = block
    else:
        raise usage_error(
            f"--subnet {_shown(spec)}: give a size such as /24 or a block such as 10.0.1.0/24"
        )
    if zone:
        subnet["az"] = zone
    if flag:
        subnet["public"] = True
    return subnet


def _read_spec(spec_file: str, cwd: Path) -> bytes:
    if spec_file == "-" and sys.stdin is None:  # `0<&-`: Python has no stdin to read
        raise usage_error("cannot read -: stdin is closed; give the spec file's path")
    try:
        body = sys.stdin.buffer.read() if spec_file == "-" else (cwd / spec_file).read_bytes()
    except OSError as exc:
        raise usage_error(f"cannot read {spec_file}: {exc.strerror or exc}") from exc
    try:
        json.loads(body)
    except ValueError as exc:
        raise usage_error(f"{spec_file} is not JSON: {exc}") from exc
    except RecursionError as exc:  # not a ValueError: json's parser recurses per level
        raise usage_error(f"{spec_file} is nested too deeply to be a request") from exc
    return body
