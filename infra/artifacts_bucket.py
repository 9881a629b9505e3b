"""The account's artifacts bucket, where `make deploy` (`deploy.py`) uploads a stage's
Lambda zip and template for CloudFormation to read: private, encrypted, made once per
account and region; each file under a content-addressed key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .aws import DeployError, error_code
from .stage import Stage


def ensure_artifacts_bucket(s3: Any, account: str, region: str, log: Callable[[str], None]) -> str:
    """The account's private, encrypted bucket for deployment artifacts (made once)."""
    bucket = f"vpc-provisioner-artifacts-{account}-{region}"
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return bucket
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket"):
            raise DeployError(f"artifacts bucket {bucket} is not usable: {exc}") from exc
    log(f"Creating artifacts bucket {bucket}")
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return bucket


def upload(s3: Any, bucket: str, stage: Stage, path: Path, suffix: str) -> str:
    """Upload under a content-addressed key, so an unchanged file means an unchanged stack."""
    data = path.read_bytes()
    key = f"{stage.name}/{hashlib.sha256(data).hexdigest()[:32]}.{suffix}"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key
