"""`vpcctl`: the command group, its help and its entry point (docs/local-stack.md: "The same
with vpcctl"); `completion`, which prints the whole group's script, is here too.

The other commands live in the modules named for them: login.py (login, logout),
create.py, one_request.py (get, wait, delete) and listing.py (list, pools).
"""

from __future__ import annotations

import io
import sys
from typing import Any

import click
from click.shell_completion import get_completion_class

from .api import DEFAULT_MAX_ATTEMPTS
from .config import API_URL_ENV, AWS_REGION_ENVS, CLIENT_ID_ENV, REGION_ENV
from .create import create
from .errors import EXIT_CODES_HELP, CliError, ExitCode
from .invocation import error_prefix, output_failed, pipe_closed, report
from .listing import list_requests, pools
from .login import login, logout
from .one_request import delete, get, wait_for
from .options import MAX_ATTEMPTS_ENV, global_options, wants_machine_output
from .runtime import Runtime, colour_on

HELP = f"""Create, inspect, list and delete VPC requests of the vpc-provisioner API.

\b
Settings, each from its flag, else its environment variable, else the local
stack's .local/stack.json (found in this directory or a parent, or under
$DEVSTACK_STATE_DIR; used only when the API is the local stack's own):
  --api-url       {API_URL_ENV}
  --client-id     {CLIENT_ID_ENV}
  --region        {REGION_ENV} (after stack.json: {AWS_REGION_ENVS[0]},
                  then {AWS_REGION_ENVS[1]}, then the AWS profile's region)
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


class VpcctlUsageError(click.UsageError):
    """A usage error of click's (a bad flag, a missing argument, an invalid value) shown as
    vpcctl shows its own: one line, `vpcctl: error: MESSAGE (UsageError; see `vpcctl
    COMMAND --help`)`, its prefix red as `report`'s; under -o json|yaml the one JSON error
    on stderr that -o json promises. Not click's usage text, which is `--help`'s. Exit 2,
    as any usage error."""

    def __init__(
        self, error: click.UsageError, as_json: bool, ctx: click.Context | None = None
    ) -> None:
        super().__init__(error.format_message(), ctx or error.ctx)
        self.as_json = as_json

    def show(self, file: Any = None) -> None:
        where = self.ctx.command_path if self.ctx else "vpcctl"
        see = f"`{where} --help`"
        if self.as_json:
            error = CliError(
                self.format_message(), code="UsageError", exit_code=ExitCode.USAGE, hint=see
            )
            report(error, as_json=True)
            return
        runtime = (self.ctx.find_object(Runtime) if self.ctx else None) or Runtime()
        colour = colour_on(runtime.env, runtime.stderr_is_tty)
        click.echo(
            f"{error_prefix(colour)} {self.format_message()} (UsageError; see {see})",
            err=True,
            color=True if colour else None,
        )


class VpcctlGroup(click.Group):
    """vpcctl's group: click's usage errors are vpcctl's errors (`VpcctlUsageError`), bare
    `vpcctl` prints the help (stdout, exit 0, as gh and kubectl; click's is stderr, exit 2),
    output into a closed pipe ends vpcctl quietly (`pipe_closed`), whatever was printing
    it, and output that cannot be written (a full disk) exits 74 saying so
    (`output_failed`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        return super().parse_args(ctx, args)

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
            raise VpcctlUsageError(err, wants_json) from None
        except BrokenPipeError:  # --help or --version, into a closed pipe
            raise click.exceptions.Exit(pipe_closed()) from None
        except OSError as err:  # --help or --version, which is all that writes here
            raise click.exceptions.Exit(output_failed(err, wants_json)) from None
        ctx.meta[_WANTS_JSON] = wants_json
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        # A subcommand's flags are parsed here.
        try:
            return super().invoke(ctx)
        except VpcctlUsageError:
            raise
        except click.UsageError as err:
            where = err.ctx or self._subcommand_context(ctx)
            raise VpcctlUsageError(err, bool(ctx.meta.get(_WANTS_JSON)), where) from err
        except BrokenPipeError:
            # Whatever a command was printing when its reader went away: click alone would
            # exit 1, vpcctl's "the request failed".
            raise click.exceptions.Exit(pipe_closed()) from None
        except OSError as err:
            # A command's own errors are exit codes by now (`command`): this is click
            # writing a command's --help, or `completion` its script.
            raise click.exceptions.Exit(
                output_failed(err, bool(ctx.meta.get(_WANTS_JSON)))
            ) from None

    def _subcommand_context(self, ctx: click.Context) -> click.Context | None:
        """The context of the subcommand being run, for a usage error raised without one.

        click's parser raises an option given without its value (`vpcctl list --status`)
        with no context; here, past the group's own flags, it can only be the
        subcommand's, whose --help lists that option (the group's does not)."""
        name = ctx.invoked_subcommand
        command = self.get_command(ctx, name) if name else None
        if command is None:
            return None
        return click.Context(command, info_name=name, parent=ctx)


@click.group(
    "vpcctl",  # (what tests' CliRunner calls it too: `vpcctl list --help`, not `cli list`)
    cls=VpcctlGroup,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="vpcctl")
@global_options
@click.pass_context
def cli(ctx: click.Context, /, **global_flags: Any) -> None:
    # The global flags stay in ctx.params, for each command (`setting`, `command`).
    if ctx.obj is None:
        ctx.obj = Runtime()


for subcommand in (login, logout, create, get, wait_for, list_requests, delete, pools):
    cli.add_command(subcommand)  # (`vpcctl --help` lists them by name, whatever the order)


COMPLETION_SHELLS = ("bash", "zsh", "fish")


@cli.command(name="completion")
@click.argument("shell", type=click.Choice(COMPLETION_SHELLS), metavar="SHELL")
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(vpcctl completion bash)".

    It completes commands, flags, --status values and, when you are logged in, the ids
    of your newest requests (what `_VPCCTL_COMPLETE=bash_source vpcctl` prints too)."""
    complete = get_completion_class(shell)
    assert complete is not None  # click knows each of COMPLETION_SHELLS
    # As click prints it for _VPCCTL_COMPLETE=bash_source: the same bytes, no newline added.
    click.echo(complete(cli, {}, "vpcctl", "_VPCCTL_COMPLETE").source(), nl=False)


def _write_what_stdout_can() -> None:
    """A stdout that is not UTF-8 (PYTHONIOENCODING=latin-1, a cp1252 console) writes what
    it cannot encode of the table or a --query's text as \\u escapes, as Python's stderr
    does, and not UnicodeEncodeError (exit 70); -o json and yaml escape it themselves."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def main() -> None:
    """The console script."""
    _write_what_stdout_can()
    try:
        cli.main(prog_name="vpcctl")
    except BrokenPipeError:  # a usage error, which click shows last, into a closed pipe
        sys.exit(pipe_closed())
    except OSError as err:  # what click wrote itself (a usage error, a completion)
        sys.exit(output_failed(err, as_json=False))
