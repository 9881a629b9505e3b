"""`chalice`, with the functions' runtime pinned to LAMBDA_RUNTIME.

    .venv/bin/python -m infra.chalice_cli deploy --stage dev   # make chalice-deploy STAGE=dev
    .venv/bin/python -m infra.chalice_cli delete --stage dev   # make chalice-delete STAGE=dev

Chalice takes a function's runtime from the Python that runs it (python3.11 from a
3.11 virtualenv) and has no setting to choose another: every function it deploys,
every template it packages and every dependency it builds for the zip (wheels for
that Python's ABI) would follow the machine's Python. Run through here, Chalice
deploys, packages and builds for LAMBDA_RUNTIME (python3.12), the runtime of every
deployment (the CloudFormation and Terraform packages set it too, and `make
package` runs Chalice through here), whatever Python runs it (3.11 or later).

The app refuses a plain `chalice deploy` (app.py): it would deploy the local
Python's runtime. PINNED_VARIABLE tells it that the runtime is pinned here.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from chalice.cli import main as chalice_main
from chalice.config import Config

from .stage import LAMBDA_RUNTIME

# Set for the Chalice commands run here (never passed to a function: Chalice gives
# functions only the stage's environment_variables).
PINNED_VARIABLE = "VPC_PROVISIONER_LAMBDA_RUNTIME"


@contextlib.contextmanager
def pinned_runtime(runtime: str = LAMBDA_RUNTIME) -> Iterator[None]:
    """Within the block, Chalice (in this process) deploys, packages and builds the
    zip's dependencies for `runtime`; afterwards, for the running Python again."""
    derived = Config.__dict__["lambda_python_version"]
    previous = os.environ.get(PINNED_VARIABLE)
    Config.lambda_python_version = property(lambda _config: runtime)  # type: ignore[assignment,method-assign]
    os.environ[PINNED_VARIABLE] = runtime
    try:
        yield
    finally:
        Config.lambda_python_version = derived  # type: ignore[method-assign]
        if previous is None:
            os.environ.pop(PINNED_VARIABLE, None)
        else:
            os.environ[PINNED_VARIABLE] = previous


def main(argv: list[str] | None = None) -> int:
    """Run the Chalice command line (`argv`: its arguments, e.g. deploy --stage dev) with
    the runtime pinned. Returns (or, as click does, raises SystemExit with) its exit code."""
    sys.argv = ["chalice", *(sys.argv[1:] if argv is None else argv)]
    with pinned_runtime():
        return int(chalice_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
