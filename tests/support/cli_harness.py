"""vpcctl in-process against the fakes of support.fake_api: a hermetic environment (no
VPCCTL_* variable of the developer's), a local stack.json pointing at the fake API, a
token cache in a temporary folder, and time that passes only when vpcctl sleeps."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

import vpcctl
from support.fake_api import FakeApi, FakeCognito, FakeTime, fake_jwt
from vpcctl.commands import cli
from vpcctl.runtime import Runtime
from vpcctl.tokens import TokenCache, Tokens

CLIENT_ID = "local-client-1"
REGION = "us-east-1"
COGNITO_ENDPOINT = "http://127.0.0.1:5999"
DEMO_PASSWORD = "Demo-Password-1a"
ADMIN_PASSWORD = "Admin-Password-2b"
# The folder holding the vpcctl package these tests imported: a vpcctl process run with it
# first on PYTHONPATH is the code under test (a worktree's), not whichever is installed.
VPCCTL_SOURCE = str(Path(vpcctl.__file__).resolve().parents[1])


class Cli:
    """Runs vpcctl commands as a user in `work/` would, next to a local stack's stack.json."""

    def __init__(self, tmp_path: Path, api: FakeApi, *, stack: bool = True) -> None:
        self.api = api
        self.time = FakeTime()
        self.cognito = FakeCognito(self.time.clock, password=DEMO_PASSWORD)
        self.config_dir = tmp_path / "config" / "vpcctl"
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        self.env: dict[str, str] = {}
        self.stderr_tty = False
        self.stdin_tty = False
        # stdout a terminal this many columns wide (colour, a list fitted to it)
        self.stdout_tty = False
        self.width = 80
        # Whether what reads stdout has gone (`vpcctl list --watch | head -1`, after head)
        self.stdout_reader_gone = False
        self.keys: list[str] = []
        if stack:
            self.write_stack(api.url)

    def write_stack(self, api_url: str, client_id: str = CLIENT_ID) -> Path:
        """The stack.json `make run` writes; another client_id: a stack restarted without
        PERSIST=1 (a new user pool, and app client)."""
        path = self.cwd / ".local" / "stack.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "api_url": api_url,
                    "aws_endpoint_url": COGNITO_ENDPOINT,
                    "region": REGION,
                    "user_pool_client_id": client_id,
                    "username": "demo",
                    "password": DEMO_PASSWORD,
                    "admin_username": "admin",
                    "admin_password": ADMIN_PASSWORD,
                }
            )
        )
        # As `make run` writes it: vpcctl trusts no stack.json others may read.
        path.chmod(0o600)
        return path

    def runtime(self) -> Runtime:
        def new_key() -> str:
            key = f"key-{len(self.keys) + 1}"
            self.keys.append(key)
            return key

        return Runtime(
            env=dict(self.env),
            cwd=self.cwd,
            config_dir=self.config_dir,
            cognito=self.cognito.factory,
            sleep=self.time.sleep,
            clock=self.time.clock,
            monotonic=self.time.clock,
            stdin_is_tty=lambda: self.stdin_tty,
            stderr_is_tty=lambda: self.stderr_tty,
            stdout_is_tty=lambda: self.stdout_tty,
            terminal_width=lambda: self.width,
            stdout_gone=lambda: self.stdout_reader_gone,
            new_key=new_key,
        )

    def run(self, *args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=self.runtime(), input=input)

    def login(self) -> None:
        result = self.run("login")
        assert result.exit_code == 0, result.stderr

    def remember_login(self, api_url: str) -> None:
        """The tokens `vpcctl login` to `api_url` cached while its stack was up: signed in
        with the fake Cognito, as the stack's demo user. For a stack that has gone since,
        which `vpcctl login` itself would now say is not running."""
        result = self.cognito.initiate_auth(
            ClientId=CLIENT_ID,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": self.cognito.username, "PASSWORD": DEMO_PASSWORD},
        )["AuthenticationResult"]
        expires = self.time.clock() + result["ExpiresIn"]
        tokens = Tokens(result["IdToken"], result["RefreshToken"], expires, "demo", CLIENT_ID)
        self.cache().store(api_url, tokens)

    def cache(self) -> TokenCache:
        return TokenCache(self.config_dir)

    def tokens_file(self) -> Path:
        return self.cache().path


def json_out(result: Result) -> Any:
    """The one JSON document a --json command printed on stdout."""
    return json.loads(result.stdout)


def json_err(result: Result) -> Any:
    """The one JSON error a --json command printed on stderr."""
    return json.loads(result.stderr)


def logged_in(tmp_path: Path, api: FakeApi, spec: dict[str, Any]) -> Cli:
    """A Cli logged in to `api`, with `spec` in its spec.json: the vpcctl tests' usual start."""
    cli = Cli(tmp_path, api)
    cli.login()
    (cli.cwd / "spec.json").write_text(json.dumps(spec))
    return cli


def process_command(*args: str) -> list[str]:
    """A real vpcctl process's command line: the code under test (see `process_env`)."""
    return [sys.executable, "-m", "vpcctl", *args]


def process_env(tmp_path: Path, api_url: str) -> dict[str, str]:
    """The environment of a real vpcctl process (`process_command`) talking to `api_url`,
    logged in: its token cache, under XDG_CONFIG_HOME, holds an ID token valid for an hour
    (the process's clock is the real one; it never signs in)."""
    config = tmp_path / "process-config"
    expires = time.time() + 3600
    TokenCache(config / "vpcctl").store(
        api_url, Tokens(fake_jwt({"exp": expires}), "refresh-1", expires, "demo", CLIENT_ID)
    )
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(config),
        "PYTHONPATH": VPCCTL_SOURCE,
        "VPCCTL_API_URL": api_url,
        "VPCCTL_CLIENT_ID": CLIENT_ID,
        "VPCCTL_REGION": REGION,
    }
