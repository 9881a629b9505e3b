"""`terraform` against a moto server, in a working copy of `dist/terraform`.

The copy is the package as shipped plus one override file that only points the
AWS provider at moto (fake keys, no metadata or credential probes); the
endpoint itself comes from `AWS_ENDPOINT_URL`, as it would for an operator.
Providers come from the local mirror (`terraform init -plugin-dir`), and
`CHECKPOINT_DISABLE` keeps Terraform from calling home: nothing here needs the
network.

Most of an apply is the AWS provider waiting, not working: it polls each new
SQS queue until six reads in a row agree (about 25 s, and the jobs queue waits
for its dead-letter queue), and creates functions one at a time (about 5 s
each). `Background` lets those waits overlap other tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Generic, TypeVar

from support.moto_server import MotoServer

TIMEOUT_SECONDS = 300
OVERRIDE_FILE = "moto_override.tf.json"
_T = TypeVar("_T")


class TerraformFailed(RuntimeError):
    """A terraform command exited non-zero; the message holds its output."""


class Terraform:
    """One working copy of a Terraform configuration, run against one moto server."""

    def __init__(
        self, executable: str, mirror: Path, source: Path, workdir: Path, server: MotoServer
    ) -> None:
        shutil.copytree(source, workdir)
        (workdir / OVERRIDE_FILE).write_text(json.dumps(_moto_provider(server), indent=2))
        self.workdir = workdir
        self.server = server
        self._executable = executable
        self._mirror = mirror
        self._lock = threading.Lock()
        self._running: subprocess.Popen[str] | None = None
        self._stopped = False
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "TF_")) and key != "CHECKPOINT_DISABLE"
        }
        self.env.update(
            {
                "AWS_ENDPOINT_URL": server.endpoint_url,
                # What the README says to export: the provider reads it as well.
                "AWS_DEFAULT_REGION": server.region,
                "TF_IN_AUTOMATION": "1",
                "CHECKPOINT_DISABLE": "1",
            }
        )

    def run(self, *args: str, timeout: float = TIMEOUT_SECONDS) -> str:
        """Run `terraform <args>` in the copy; its stdout. Raises TerraformFailed."""
        with self._lock:
            if self._stopped:
                raise TerraformFailed("stopped")
            process = subprocess.Popen(
                [self._executable, *args],
                cwd=self.workdir,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._running = process
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise TerraformFailed(
                f"terraform {' '.join(args)}: no end after {timeout} s\n{stdout[-3000:]}"
            ) from None
        finally:
            with self._lock:
                self._running = None
        if process.returncode != 0:
            raise TerraformFailed(
                f"terraform {' '.join(args)} exited {process.returncode}:\n"
                f"{stdout[-3000:]}\n{stderr[-3000:]}"
            )
        return stdout

    def init(self) -> None:
        self.run("init", "-backend=false", f"-plugin-dir={self._mirror}", "-input=false")

    def plan(self, out: str, *args: str) -> dict[str, Any]:
        """`terraform plan -out=<out>`, as `terraform show -json` renders it."""
        self.run("plan", f"-out={out}", "-input=false", "-no-color", *args)
        return self.show(out)

    def show(self, *args: str) -> dict[str, Any]:
        """`terraform show -json [plan]`: the plan, or the state when no plan is named."""
        document: dict[str, Any] = json.loads(self.run("show", "-json", *args))
        return document

    def apply(self, plan: str) -> None:
        self.run("apply", "-input=false", "-no-color", plan)

    def destroy(self) -> None:
        self.run("destroy", "-auto-approve", "-input=false", "-no-color")

    def outputs(self) -> dict[str, Any]:
        """`terraform output -json`: {name: value}."""
        return {name: o["value"] for name, o in json.loads(self.run("output", "-json")).items()}

    def stop(self) -> None:
        """Kill whatever terraform command runs now, and refuse new ones."""
        with self._lock:
            self._stopped = True
            if self._running is not None and self._running.poll() is None:
                self._running.kill()


class Background(Generic[_T]):
    """`work()` on a thread of its own; `result()` waits for it and re-raises its error."""

    def __init__(self, name: str, work: Callable[[], _T]) -> None:
        self._future: Future[_T] = Future()
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], _T]) -> None:
        try:
            self._future.set_result(work())
        except BaseException as error:  # handed to whoever waits for it
            self._future.set_exception(error)

    def result(self, timeout: float = TIMEOUT_SECONDS) -> _T:
        return self._future.result(timeout)


def _moto_provider(server: MotoServer) -> dict[str, Any]:
    # Merged into the package's own `provider "aws"` block (Terraform override file).
    return {
        "provider": {
            "aws": {
                "region": server.region,
                "access_key": "testing",
                "secret_key": "testing",
                "skip_credentials_validation": True,
                "skip_metadata_api_check": True,
                "skip_region_validation": True,
            }
        }
    }
