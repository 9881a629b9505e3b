"""vpcctl in-process against the fakes of support.fake_api: a hermetic environment (no
VPCCTL_* variable of the developer's), a local stack.json pointing at the fake API, a
token cache in a temporary folder, and time that passes only when vpcctl sleeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from support.fake_api import FakeApi, FakeCognito, FakeTime
from vpcctl.commands import cli
from vpcctl.runtime import Runtime
from vpcctl.tokens import TokenCache

CLIENT_ID = "local-client-1"
REGION = "us-east-1"
COGNITO_ENDPOINT = "http://127.0.0.1:5999"
DEMO_PASSWORD = "Demo-Password-1a"
ADMIN_PASSWORD = "Admin-Password-2b"


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
            new_key=new_key,
        )

    def run(self, *args: str, input: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), obj=self.runtime(), input=input)

    def login(self) -> None:
        result = self.run("login")
        assert result.exit_code == 0, result.stderr

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
