"""Which API vpcctl talks to, and which Cognito app client signs its users in.

Each setting is taken from the first of: its flag, its environment variable,
the local stack's `.local/stack.json` (what `make run` writes). The stack file
is used only for its own API: given another `--api-url`, its client id, region
and moto endpoint would be the wrong ones, so they are not borrowed.

What receives the ID token (the API) and the password (the Cognito endpoint)
is decided here, so both are checked here, before any connection: a URL is
judged with the parser that sends it (urllib3's, under requests and botocore),
and one it might read differently from how it looks is refused; a stack file
is trusted only if it is the user's own and nobody else's to read or change.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .errors import STACK_NOT_RUNNING, CliError, unavailable, usage_error

API_URL_ENV = "VPCCTL_API_URL"
CLIENT_ID_ENV = "VPCCTL_CLIENT_ID"
REGION_ENV = "VPCCTL_REGION"
# The local stack's own variable (devstack.stack.state_dir): where it writes stack.json.
STATE_DIR_ENV = "DEVSTACK_STATE_DIR"
STACK_FILE = Path(".local") / "stack.json"
# Where botocore finds a Cognito endpoint when vpcctl names none (a deployed API): the
# service's own variable first, then the global one, unless told to ignore both.
AWS_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "AWS_ENDPOINT_URL")
AWS_IGNORE_ENDPOINTS_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
# A URL quoted in a message is cut to this many characters: it may come from anywhere.
QUOTED_URL_CHARS = 100


@dataclass(frozen=True)
class LocalStack:
    """What vpcctl uses of the local stack's stack.json."""

    path: Path
    api_url: str
    user_pool_client_id: str
    region: str
    aws_endpoint_url: str
    # The demo user `vpcctl login` signs in by default.
    username: str
    # username -> password of the stack's demo users
    passwords: Mapping[str, str]

    @classmethod
    def read(cls, path: Path) -> LocalStack:
        """The stack file at `path`. Raises a usage error (exit 2) when it cannot be read, or
        cannot be trusted (`distrust`)."""
        try:
            # Judged and read through one descriptor: the file judged is the file read.
            with path.open() as file:
                refusal = distrust(path, os.fstat(file.fileno()))
                if refusal:
                    raise usage_error(f"not using {path}: {refusal}")
                info: dict[str, Any] = json.loads(file.read())
            passwords = {info["username"]: info["password"]}
            if info.get("admin_username"):
                passwords[info["admin_username"]] = info["admin_password"]
            return cls(
                path=path,
                api_url=normalize_url(info["api_url"]),
                user_pool_client_id=info["user_pool_client_id"],
                region=info["region"],
                aws_endpoint_url=info["aws_endpoint_url"],
                username=info["username"],
                passwords=passwords,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise usage_error(f"cannot read the local stack's {path}: {exc}") from exc


@dataclass(frozen=True)
class Target:
    """The API and the sign-in settings a command uses."""

    api_url: str
    client_id: str | None
    region: str | None
    # The Cognito endpoint: the local stack's moto; None for AWS itself.
    cognito_endpoint: str | None
    # The local stack, when the API is its API.
    local: LocalStack | None

    def require_client_id(self) -> str:
        if not self.client_id:
            raise usage_error(
                f"no Cognito app client id for {self.api_url}: pass --client-id "
                f"or set {CLIENT_ID_ENV}"
            )
        return self.client_id

    def require_region(self) -> str:
        if not self.region:
            raise usage_error(
                f"no AWS region for the Cognito user pool of {self.api_url}: pass --region "
                f"or set {REGION_ENV}"
            )
        return self.region


def normalize_url(url: str) -> str:
    """The API URL as vpcctl keys it: no trailing slash."""
    return url.strip().rstrip("/")


def quoted(text: str) -> str:
    """`text` quoted for a one-line message (escapes shown, not obeyed), cut to
    QUOTED_URL_CHARS characters: a URL from the environment or a file can be anything."""
    if len(text) > QUOTED_URL_CHARS:
        return f"{text[:QUOTED_URL_CHARS]!r}..."
    return repr(text)


def checked_url(url: str, what: str) -> str:
    """`url` as vpcctl sends to it (no trailing slash, urllib3's spelling), if the HTTP
    layer will connect to the host the URL shows; else a usage error naming `what`.

    requests and botocore send with urllib3, which does not read every URL as
    urllib.parse (or a person) does: to urlsplit, `http://evil.example\\@127.0.0.1:8000`
    is 127.0.0.1, to urllib3 it is evil.example, which would receive the ID token or the
    password. So a URL is refused when it has a backslash anywhere, user info (an `@` in
    its authority: vpcctl sends credentials in headers and bodies, never in URLs), a query
    or a fragment (it is a base the API's paths are appended to), characters other than
    ASCII (which urllib3 rewrites), or when urllib3's reading of it, written back, is not
    the URL itself, but for the case of the scheme, the host and percent-escapes (RFC 3986,
    6.2.2.1: the same URL). What passes reads the same to every parser, and what vpcctl
    then uses is urllib3's own spelling of it.
    """
    url = normalize_url(url)
    shown = quoted(url)
    if not url.startswith(("http://", "https://")):
        raise usage_error(f"{what} must start with http:// or https://, not {shown}")
    if "\\" in url:
        raise usage_error(
            f"refusing {what} {shown}: it has a backslash, which URL parsers read differently"
        )
    if not url.isascii():
        raise usage_error(
            f"refusing {what} {shown}: it has characters other than ASCII, which the HTTP "
            "layer rewrites; write the host in punycode and percent-escape the path"
        )
    try:
        parsed = parse_url(url)
        authority = urlsplit(url).netloc
    except (LocationParseError, ValueError) as exc:
        raise usage_error(
            f"refusing {what} {shown}: it is not a URL the HTTP layer can read"
        ) from exc
    if parsed.auth is not None or "@" in authority:
        raise usage_error(
            f"refusing {what} {shown}: it has user info (an @ before the host), which vpcctl "
            "never sends"
        )
    if not parsed.host:
        raise usage_error(f"refusing {what} {shown}: it names no host")
    if parsed.query is not None or parsed.fragment is not None:
        raise usage_error(
            f"refusing {what} {shown}: it has a query or a fragment (? or #), which would "
            "swallow the paths vpcctl appends"
        )
    spelled = parsed.url
    if spelled.lower() != url.lower():
        raise usage_error(
            f"refusing {what} {shown}: the HTTP layer reads it as {quoted(spelled)}, not as written"
        )
    return spelled


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (127.0.0.0/8, ::1 or localhost), read as urllib3,
    which connects, reads it."""
    try:
        host = (parse_url(url).host or "").lower()
    except LocationParseError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def distrust(path: Path, status: os.stat_result) -> str | None:
    """Why the stack file `path` (as `status` describes it) is not to be trusted, or None.

    A stack.json holds the demo users' passwords and names where `vpcctl login` sends
    them: only a file of the user's own (written by them, or by `make run` as them), that
    nobody else may read or change, is the local stack's."""
    uid = os.getuid()
    if status.st_uid != uid:
        return (
            f"it belongs to uid {status.st_uid}, not to you (uid {uid}), and would get the "
            "password `vpcctl login` sends; remove it if you did not put it there"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        return (
            f"its mode {mode:04o} lets other users read or change it, and it holds passwords; "
            f"if it is yours, `chmod 600 {path}` (as `make run` writes it)"
        )
    return None


def find_stack_file(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The local stack's stack.json: under DEVSTACK_STATE_DIR, else `.local/stack.json` in
    the working directory or the nearest parent that has one, up to the repository's root
    (the nearest folder with a `.git`, itself included); outside a repository, in the
    working directory only. A folder above the project (a shared /tmp, a home others may
    write in) is not the project's: a stack.json planted there would get the password
    `vpcctl login` sends. What is found must still pass `distrust` (`LocalStack.read`)."""
    state_dir = env.get(STATE_DIR_ENV)
    if state_dir:
        path = Path(state_dir) / "stack.json"
        return path if path.is_file() else None
    for directory in _project_folders(cwd):
        path = directory / STACK_FILE
        if path.is_file():
            return path
    return None


def _project_folders(cwd: Path) -> tuple[Path, ...]:
    """`cwd` and its parents up to the nearest with a `.git` (a folder, or the file of a
    worktree or submodule); `cwd` alone when none has one."""
    folders = (cwd, *cwd.parents)
    for depth, folder in enumerate(folders):
        if (folder / ".git").exists():
            return folders[: depth + 1]
    return folders[:1]


def resolve(
    env: Mapping[str, str],
    cwd: Path,
    *,
    api_url: str | None = None,
    client_id: str | None = None,
    region: str | None = None,
) -> Target:
    """The target of a command: flags (the arguments), then environment variables, then
    the local stack's stack.json. Raises CliError: exit 5 when there is no API (no stack
    running), a usage error (exit 2) when a URL or the stack file cannot be trusted with
    the token or the password."""
    stack_path = find_stack_file(env, cwd)
    stack = LocalStack.read(stack_path) if stack_path else None
    if api_url:
        chosen_url = checked_url(api_url, "the API URL from --api-url")
    elif env.get(API_URL_ENV):
        chosen_url = checked_url(env[API_URL_ENV], f"the API URL from {API_URL_ENV}")
    elif stack is not None:
        chosen_url = checked_url(stack.api_url, f"the api_url of {stack.path}")
    else:
        # The local stack removes its stack.json when it stops: this is "the stack is down",
        # the same exit code as a stack.json whose port nobody listens on (api.py).
        raise unavailable(
            "no API to talk to: the local stack is not running (no .local/stack.json here "
            "or above, up to the repository's root); start it with `make run`, or pass "
            f"--api-url / set {API_URL_ENV}",
            code=STACK_NOT_RUNNING,
        )
    if chosen_url.startswith("http://") and not is_loopback(chosen_url):
        # The ID token would cross the network in clear text.
        raise usage_error(
            f"refusing to send a token over plain HTTP to {quoted(chosen_url)}: use https:// "
            "(http:// is only for a stack on this machine)"
        )
    local = stack if stack is not None and _same_api(stack, chosen_url) else None
    cognito_endpoint = None
    if local is None:
        _check_aws_endpoint_env(env)
    else:
        cognito_endpoint = checked_url(
            local.aws_endpoint_url, f"the aws_endpoint_url of {local.path}"
        )
        if not all(is_loopback(url) for url in (chosen_url, cognito_endpoint)):
            # A stack.json is the local stack's: one naming another machine was not written
            # by `make run`, and would receive the password `vpcctl login` sends.
            raise usage_error(
                f"{stack_path} names an API or endpoint that is not on this machine; "
                "remove it or pass --api-url / --client-id"
            )
    return Target(
        api_url=chosen_url,
        client_id=client_id
        or env.get(CLIENT_ID_ENV)
        or (local.user_pool_client_id if local else None),
        region=region
        or env.get(REGION_ENV)
        or (local.region if local else None)
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or None,
        cognito_endpoint=cognito_endpoint,
        local=local,
    )


def _same_api(stack: LocalStack, url: str) -> bool:
    """Whether the checked API URL `url` is the stack's own (compared as spelled by
    `checked_url`; a stack URL it refuses is no one's)."""
    try:
        return checked_url(stack.api_url, "") == url
    except CliError:
        return False


def _check_aws_endpoint_env(env: Mapping[str, str]) -> None:
    """The Cognito endpoint botocore takes from the environment when vpcctl names none (a
    deployed API), checked as `checked_url` checks any: `vpcctl login` sends it the
    password. The same variable botocore would use, in its order; none if told to ignore
    them."""
    if env.get(AWS_IGNORE_ENDPOINTS_ENV, "").lower() == "true":
        return
    for name in AWS_ENDPOINT_ENVS:
        if env.get(name):
            checked_url(env[name], f"the AWS endpoint URL from {name}")
            return


def default_config_dir(env: Mapping[str, str] | None = None) -> Path:
    """vpcctl's folder under the user's config dir: $XDG_CONFIG_HOME/vpcctl or ~/.config/vpcctl."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vpcctl"
