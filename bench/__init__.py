"""Benchmarks (`make bench`): AWS calls per operation, the Lambda zip, the local stack."""

from __future__ import annotations

import os

from devstack.moto_process import without_amis


def against_moto(region: str) -> None:
    """The environment the in-process benchmarks run in: moto's fake credentials in
    `region`, and no AWS_ENDPOINT_URL (moto intercepts in-process; an endpoint set by
    `eval "$(make -s env)"` would send the calls to a local stack instead)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION=region
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    without_amis()
