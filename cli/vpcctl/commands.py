"""`vpcctl`: the commands (docs/local-stack.md: "The same with vpcctl")."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from .api import DEFAULT_MAX_ATTEMPTS, MAX_PAGE_SIZE
from .config import (
    API_URL_ENV,
    CLIENT_ID_ENV,
    REGION_ENV,
    resolve,
)
from .errors import (
    EXIT_CODES_HELP,
    STACK_NOT_RUNNING,
    CliError,
    ExitCode,
    in_vpcctl_terms,
    usage_error,
)
from .invocation import (
    MAX_ATTEMPTS_ENV,
    QUIET_OPTION,
    Invocation,
    Runtime,
    colour_on,
    command,
    global_options,
    quiet_option,
    report,
    setting,
    wants_machine_output,
)
from .output import (
    LIST_HEADERS,
    POOL_HEADERS,
    describe,
    fit,
    list_rows,
    pool_rows,
    table,
    to_yaml,
)

STATUSES = (
    "QUEUED",
    "IN_PROGRESS",
    "ROLLING_BACK",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "DELETING",
    "DELETED",
    "DELETE_FAILED",
)
# Where --wait stops after a create (only SUCCEEDED is a success), and after a delete.
CREATE_FINAL = frozenset(STATUSES) - {"QUEUED", "IN_PROGRESS", "ROLLING_BACK"}
CREATE_OK = frozenset({"SUCCEEDED"})
DELETE_FINAL = frozenset({"DELETED", "CANCELLED", "DELETE_FAILED"})
DELETE_OK = frozenset({"DELETED", "CANCELLED"})
# Where `vpcctl wait` and `get --wait` stop: no worker is on the request any more; only
# SUCCEEDED and DELETED are a success (CANCELLED is one only for `delete --wait`).
SETTLED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "DELETED", "DELETE_FAILED"})
SETTLED_OK = frozenset({"SUCCEEDED", "DELETED"})
DEFAULT_WAIT_TIMEOUT_SECONDS = 600.0
USERNAME_ENV = "VPCCTL_USERNAME"
PASSWORD_ENV = "VPCCTL_PASSWORD"


HELP = f"""Create, inspect, list and delete VPC requests of the vpc-provisioner API.

\b
Settings, each from its flag, else its environment variable, else the local
stack's .local/stack.json (found in this directory or a parent, or under
$DEVSTACK_STATE_DIR; used only when the API is the local stack's own):
  --api-url       {API_URL_ENV}
  --client-id     {CLIENT_ID_ENV}
  --region        {REGION_ENV} (else AWS_REGION)
  --max-attempts  {MAX_ATTEMPTS_ENV} (else {DEFAULT_MAX_ATTEMPTS}; no stack.json)

The options below are global: give them before the command (vpcctl --api-url URL
list). After it they are taken too, and win over the same flag before it.

`vpcctl login` signs in with Cognito (USER_PASSWORD_AUTH) and keeps the tokens,
per API URL, in $XDG_CONFIG_HOME/vpcctl/tokens.json (~/.config/vpcctl/), a file
only you can read; the ID token is refreshed when it expires.

A REQUEST_ID may be the start of one: the one of your requests whose id starts so.

{EXIT_CODES_HELP}
"""


_WANTS_JSON = "vpcctl.wants_json"


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for --json, or -o json or yaml (before any `--`)."""
    return wants_machine_output(args)


class JsonUsageError(click.UsageError):
    """A usage error (bad flag, missing argument, invalid value) of a `--json` command:
    shown as the one JSON error on stderr that --json promises, exit 2 as any other."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file: Any = None) -> None:
        where = self.ctx.command_path if self.ctx else "vpcctl"
        report(
            CliError(
                self.format_message(),
                code="UsageError",
                exit_code=ExitCode.USAGE,
                hint=f"`{where} --help`",
            ),
            as_json=True,
        )


class VpcctlGroup(click.Group):
    """vpcctl's group: click's usage errors too are JSON under --json."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        wants_json = _wants_json(list(args))
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:
            raise (JsonUsageError(err) if wants_json else err) from None
        ctx.meta[_WANTS_JSON] = wants_json
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        # A subcommand's flags are parsed here.
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            if ctx.meta.get(_WANTS_JSON) and not isinstance(err, JsonUsageError):
                raise JsonUsageError(err) from err
            raise


@click.group(cls=VpcctlGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vpcctl")
@global_options
@click.pass_context
def cli(ctx: click.Context, /, **global_flags: Any) -> None:
    # The global flags stay in ctx.params, for each command (`setting`, `command`).
    if ctx.obj is None:
        ctx.obj = Runtime()


@cli.command()
@click.option(
    "--username",
    metavar="NAME",
    help=f"The Cognito user (env {USERNAME_ENV}; default: the local stack's demo user).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help=f"Read the password from stdin (else env {PASSWORD_ENV}, the local stack's "
    "stack.json for its users, or a prompt).",
)
@click.option(
    "--mfa-code",
    metavar="CODE",
    help="A code of your authenticator app, for a user pool that requires MFA (env "
    "VPCCTL_MFA_CODE; else asked for on a terminal).",
)
@command
def login(
    inv: Invocation, username: str | None, password_stdin: bool, mfa_code: str | None
) -> None:
    """Sign in and cache the tokens (0600) for this API."""
    local = inv.target.local
    env = inv.runtime.env
    username = username or env.get(USERNAME_ENV) or (local.username if local else None)
    if not username:
        raise usage_error(f"who? pass --username or set {USERNAME_ENV}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif env.get(PASSWORD_ENV):
        password = env[PASSWORD_ENV]
    elif local and username in local.passwords:
        password = local.passwords[username]
    elif inv.runtime.stdin_is_tty():
        password = click.prompt(f"Password for {username}", hide_input=True, err=True)
    else:
        raise usage_error(f"no password: pass --password-stdin or set {PASSWORD_ENV}")
    if not password:
        raise usage_error("the password is empty")
    code = mfa_code or env.get("VPCCTL_MFA_CODE")

    def ask_code() -> str:
        if code:
            return code
        return str(click.prompt("Code from your authenticator app", err=True)).strip()

    asks = code is not None or inv.runtime.stdin_is_tty()
    tokens = inv.authenticator().login(username, password, ask_code if asks else None)
    expires = _iso(tokens.expires_at)
    inv.emit(
        {"api_url": inv.target.api_url, "username": username, "expires_at": expires},
        f"Logged in to {inv.target.api_url} as {username} (ID token valid until {expires}, "
        "then refreshed).",
    )


@cli.command()
@command
def logout(inv: Invocation) -> None:
    """Forget the cached tokens of this API."""
    forgotten = inv.runtime.token_cache().forget(inv.target.api_url)
    inv.emit(
        {"api_url": inv.target.api_url, "logged_out": forgotten},
        f"Logged out of {inv.target.api_url}."
        if forgotten
        else f"Not logged in to {inv.target.api_url}.",
    )


@cli.command()
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
@click.option("--wait", is_flag=True, help="Wait until it SUCCEEDED or FAILED, showing progress.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds --wait waits.",
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Send this Idempotency-Key (default: a new one): re-running a create with the key "
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
    except CliError as err:
        err.hint = err.hint or "`vpcctl create --help`"
        raise
    key = inv.runtime.new_key() if idempotency_key is None else idempotency_key
    api = inv.api()
    unsure = (
        f"the request may have been accepted: run the same command with "
        f"--idempotency-key {key} to finish it without a second VPC"
    )
    try:
        answer = api.create(body, key)
    except CliError as err:
        # The API speaks of the header; the user set it with --idempotency-key.
        err.message = in_vpcctl_terms(err.message)
        if err.exit_code is ExitCode.UNAVAILABLE and err.code != STACK_NOT_RUNNING:
            err.hint = unsure  # (a stack that is not running received nothing)
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
        if not inv.quiet:
            inv.note(
                f"next: `vpcctl wait {request_id}` (until it settles), or `vpcctl get {request_id}`"
            )
        return 0
    if replayed:
        inv.note(f"{request_id}: the request --idempotency-key {key} made before")
    record = inv.wait(api, request_id, CREATE_FINAL, timeout)
    return _finish(inv, record, CREATE_OK)


def _complete_status(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(s) for s in STATUSES if s.startswith(incomplete.upper())]


def _complete_request_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The ids of the caller's newest requests (one page), when logged in to the API the
    command line names; nothing otherwise, and never an error (completion is silent)."""
    try:
        runtime = ctx.find_object(Runtime) or Runtime()
        target = resolve(
            runtime.env,
            runtime.cwd,
            api_url=setting(ctx, "api_url"),
            client_id=setting(ctx, "client_id"),
            region=setting(ctx, "region"),
        )
        if runtime.token_cache().load(target.api_url) is None:
            return []
        page = (
            Invocation(runtime, target, max_attempts=1)
            .api()
            .page({"created_by": "me", "limit": str(MAX_PAGE_SIZE)})
        )
    except Exception:  # a completion that fails offers nothing
        return []
    items = []
    for record in page.items:
        request_id = str(record.get("request_id") or "")
        if request_id.startswith(incomplete.lower()):
            name = ((record.get("request") or {}).get("vpc") or {}).get("name")
            items.append(
                CompletionItem(
                    request_id,
                    help=" ".join(str(part) for part in (record.get("status"), name) if part),
                )
            )
    return items


REQUEST_ID_ARGUMENT = click.argument("request_id", shell_complete=_complete_request_id)


def _timeout_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=DEFAULT_WAIT_TIMEOUT_SECONDS,
        show_default=True,
        help=f"Seconds {what} waits.",
    )


@cli.command()
@REQUEST_ID_ARGUMENT
@click.option(
    "--wait",
    is_flag=True,
    help="First wait until it settles, as `vpcctl wait` (and exit as it does).",
)
@_timeout_option("--wait")
@QUIET_OPTION
@command
def get(inv: Invocation, request_id: str, wait: bool, timeout: float) -> int:
    """Show a request (GET /vpcs/ID)."""
    api = inv.api()
    request_id = inv.request_id(api, request_id)
    if wait:
        return _finish(inv, inv.wait(api, request_id, SETTLED, timeout), SETTLED_OK)
    record = api.get(request_id)
    inv.emit(record, describe(record, inv.colour), ids=_ids([record]))
    return 0


@cli.command(
    name="wait", short_help="Wait until a request settles; exit 0 if it SUCCEEDED or was DELETED."
)
@REQUEST_ID_ARGUMENT
@_timeout_option("it")
@QUIET_OPTION
@command
def wait_for(inv: Invocation, request_id: str, timeout: float) -> int:
    """Wait until a request settles, showing its progress; then show it as `get` does.

    It settles when it is SUCCEEDED, FAILED, CANCELLED, DELETED or DELETE_FAILED (a
    DELETING request is waited for until it is DELETED). Exit 0 when it SUCCEEDED or was
    DELETED, 1 otherwise, 6 after --timeout."""
    api = inv.api()
    request_id = inv.request_id(api, request_id)
    return _finish(inv, inv.wait(api, request_id, SETTLED, timeout), SETTLED_OK)


def _status(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--status, in any case, as the API spells it."""
    if value is None or value.upper() in STATUSES:
        return value.upper() if value else value
    raise click.BadParameter(f"{value!r} is none of {', '.join(STATUSES)}")


@cli.command(name="list")
@click.option(
    "--status",
    metavar="STATUS",
    callback=_status,
    shell_complete=_complete_status,
    help=f"Only the requests in this status: {', '.join(STATUSES)}.",
)
@click.option("--mine", is_flag=True, help="Only my requests.")
@click.option(
    "--drift",
    is_flag=True,
    help="Only the requests whose record shows drift (EC2 changed behind their back).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="At most this many requests (default: all; pages are followed for you).",
)
@click.option("--next-token", metavar="TOKEN", help="Go on from where a --limit stopped.")
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="List again every --interval seconds until Ctrl-C (then exit 0): on a terminal "
    "the table redrawn in place, else printed again when it changed; with -o json|yaml "
    "each request that is new or changed, one document (JSON: one line) each.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5),
    default=2.0,
    show_default=True,
    help="Seconds between two listings of --watch.",
)
@QUIET_OPTION
@command
def list_requests(
    inv: Invocation,
    status: str | None,
    mine: bool,
    drift: bool,
    limit: int | None,
    next_token: str | None,
    watch: bool,
    interval: float,
) -> int:
    """List requests, newest first (GET /vpcs, every page)."""
    given = [
        flag for flag, on in (("--status", status), ("--mine", mine), ("--drift", drift)) if on
    ]
    if len(given) > 1:
        # The API filters a listing by one of them (its index), and would say so in the
        # names of its parameters.
        raise usage_error(
            f"give one of {', '.join(given)}, not {'both' if len(given) == 2 else 'all'}: "
            "a listing has one filter (`vpcctl list --mine` shows each request's status)"
        )
    filters: dict[str, str] = {}
    if status:
        filters["status"] = status
    if mine:
        filters["created_by"] = "me"
    if drift:
        filters["drift"] = "true"
    if watch and (inv.quiet or inv.query is not None):
        raise usage_error("--watch shows the table, or the requests that changed: not -q, --query")
    if watch:
        return _watch(inv, filters, limit, next_token, interval)
    items, resume = _listing(inv, filters, limit, next_token)
    inv.emit({"items": items, "next_token": resume}, _list_table(inv, items), ids=_ids(items))
    if resume:
        inv.note(f"more: add --next-token {resume}")
    return 0


def _list_table(inv: Invocation, items: list[dict[str, Any]]) -> str:
    if not items:
        return "No requests."
    headers, rows = fit(LIST_HEADERS, list_rows(items), inv.width())
    return table(headers, rows, colour=inv.colour, status_column="STATUS")


def _watch(
    inv: Invocation,
    filters: dict[str, str],
    limit: int | None,
    next_token: str | None,
    interval: float,
) -> int:
    """list --watch: until Ctrl-C, which ends it as it should end (exit 0)."""
    live = inv.runtime.stdout_is_tty() and not inv.as_json
    shown: dict[str, str] = {}
    last: str | None = None
    try:
        while True:
            items, _ = _listing(inv, filters, limit, next_token)
            if inv.as_json:
                for item in items:
                    text = json.dumps(item) if inv.output == "json" else "---\n" + to_yaml(item)
                    if shown.get(str(item.get("request_id"))) != text:
                        shown[str(item.get("request_id"))] = text
                        click.echo(text, nl=inv.output == "json")
            else:
                human = _list_table(inv, items)
                if live:
                    when = datetime.fromtimestamp(inv.runtime.clock(), UTC).strftime("%H:%M:%SZ")
                    heading = f"Every {interval:g}s: vpcctl list  ({when}; Ctrl-C ends)"
                    click.echo(f"\x1b[H\x1b[2J{heading}\n\n{human}", color=True)
                elif human != last:
                    click.echo(human if last is None else f"\n{human}")
                last = human
            inv.runtime.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _listing(
    inv: Invocation, filters: dict[str, str], limit: int | None, next_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The requests, every page up to `limit`, and the token that goes on after them."""
    items: list[dict[str, Any]] = []
    resume: str | None = None
    try:
        for page in inv.api().pages(filters, limit, next_token):
            items.extend(page.items)
            resume = page.next_token
    except CliError as err:
        if next_token and err.http_status == 400 and err.message.startswith("next_token "):
            # The API's words are its parameter's; here the token came from --next-token.
            err.message = (
                "--next-token is not valid: pass the token a `vpcctl list --limit` printed, "
                "unchanged and with the same --status, --mine or --drift, or leave it out to "
                "start from the newest request"
            )
        raise
    return items, resume


@cli.command()
@REQUEST_ID_ARGUMENT
@click.option("--wait", is_flag=True, help="Wait until it is DELETED (or DELETE_FAILED).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds --wait waits.",
)
@command
def delete(inv: Invocation, request_id: str, wait: bool, timeout: float) -> int:
    """Delete a request's VPC, or cancel a QUEUED request (DELETE /vpcs/ID)."""
    api = inv.api()
    request_id = inv.request_id(api, request_id)
    answer = api.delete(request_id)
    if not wait:
        inv.emit(answer, f"{answer.get('request_id')}  {answer.get('status')}")
        return 0
    record = inv.wait(api, request_id, DELETE_FINAL, timeout)
    return _finish(inv, record, DELETE_OK)


COMPLETION_SHELLS = ("bash", "zsh", "fish")


@cli.command()
@quiet_option("the pool names")
@command
def pools(inv: Invocation) -> int:
    """Show how full each address pool is (GET /pools)."""
    items = inv.api().pools()
    inv.emit(
        {"items": items},
        table(POOL_HEADERS, pool_rows(items), colour=inv.colour),
        ids=[str(p.get("name")) for p in items],
    )
    return 0


@cli.command(name="completion")
@click.argument("shell", type=click.Choice(COMPLETION_SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(vpcctl completion bash)".

    It completes commands, flags, --status values and, when you are logged in, the ids
    of your newest requests (what `_VPCCTL_COMPLETE=bash_source vpcctl` prints too)."""
    complete = get_completion_class(shell)
    assert complete is not None  # click knows each of COMPLETION_SHELLS
    click.echo(complete(cli, {}, "vpcctl", "_VPCCTL_COMPLETE").source())


def _finish(inv: Invocation, record: dict[str, Any], ok: frozenset[str]) -> int:
    """Print the final record; exit 1 unless its status is in `ok`."""
    inv.emit(record, describe(record, inv.colour), ids=_ids([record]))
    status = record.get("status")
    if status in ok:
        return 0
    error = record.get("error") or {}
    why = f": {error.get('code')}: {error.get('message')}" if error else ""
    report(
        CliError(
            f"request {record.get('request_id')} ended {status}{why}",
            code=str(status),
            exit_code=ExitCode.REQUEST_FAILED,
        ),
        inv.as_json,
        colour_on(inv.runtime.env, inv.runtime.stderr_is_tty, inv.as_json),
    )
    return ExitCode.REQUEST_FAILED


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [str(r.get("request_id")) for r in records]


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


def _subnet_of(spec: str) -> dict[str, Any]:
    """`/24`, `10.0.1.0/24`, each optionally followed by `@ZONE` and `,public`."""
    text, _, flag = spec.partition(",")
    if flag not in ("", "public"):
        raise usage_error(f"--subnet {spec!r}: after the comma only 'public' may follow")
    block, _, zone = text.partition("@")
    subnet: dict[str, Any] = {}
    if block.startswith("/") and block[1:].isdigit():
        subnet["netmask_length"] = int(block[1:])
    elif "/" in block:
        subnet["cidr"] = block
    else:
        raise usage_error(
            f"--subnet {spec!r}: give a size such as /24 or a block such as 10.0.1.0/24"
        )
    if zone:
        subnet["az"] = zone
    if flag:
        subnet["public"] = True
    return subnet


def _read_spec(spec_file: str, cwd: Path) -> bytes:
    try:
        body = sys.stdin.buffer.read() if spec_file == "-" else (cwd / spec_file).read_bytes()
    except OSError as exc:
        raise usage_error(f"cannot read {spec_file}: {exc.strerror or exc}") from exc
    try:
        json.loads(body)
    except ValueError as exc:
        raise usage_error(f"{spec_file} is not JSON: {exc}") from exc
    return body


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    """The console script."""
    cli.main(prog_name="vpcctl")
