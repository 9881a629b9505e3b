"""What both deployers (`make deploy`, `make backing`) need of the account: who and where."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

# boto3, Chalice and the AWS CLI v1 read the region from AWS_DEFAULT_REGION only;
# AWS_REGION is what Terraform, the AWS CLI v2 and most SDKs read. Both are accepted.
REGION_VARIABLES = ("AWS_DEFAULT_REGION", "AWS_REGION")
NO_REGION = (
    "no AWS region: export AWS_DEFAULT_REGION=<region> (e.g. eu-west-1; AWS_REGION is "
    "accepted too), or set `region` in your AWS profile"
)
# What AWS answers when it does not accept the credentials themselves.
_REFUSED_CREDENTIALS = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "AuthFailure",
        "InvalidAccessKeyId",
        "AccessDenied",
    }
)
_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    TokenRetrievalError,
    SSOError,
    ProfileNotFound,
)
# Set in a shell where `eval "$(make -s env)"` ran, until `eval "$(make -s unenv)"`
# (devstack/env.py: SAVED); and the dummy access key those exports give moto.
LOCAL_STACK_MARKER = "DEVSTACK_SAVED"
LOCAL_STACK_ACCESS_KEY = "local"
# How much of an unreadable answer is quoted: enough to recognise it, one line.
_QUOTED_ANSWER_CHARACTERS = 200


class DeployError(RuntimeError):
    """Something the person deploying must fix; the message says what."""


def region_from_environment(environ: Mapping[str, str] = os.environ) -> str | None:
    """The region the environment names: AWS_DEFAULT_REGION, else AWS_REGION, else None
    (then botocore's own chain, the profile's `region`, decides)."""
    for name in REGION_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def local_stack_refusal(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why a deploy must not run in `environ`, or None: it is a shell where
    `eval "$(make -s env)"` ran (its marker, LOCAL_STACK_MARKER, is set), whose
    AWS_ENDPOINT_URL and dummy credentials are the local stack's moto's; or one whose
    AWS_ENDPOINT_URL is on this machine with the local stack's dummy key (its exports,
    copied by hand). A deploy there reached the local moto and failed in moto's words (no
    API Gateway logging role, an unreadable answer), never saying to undo the eval. A moto
    server of one's own on this machine, with other credentials (how the tests deploy),
    is not refused."""
    endpoint = environ.get("AWS_ENDPOINT_URL", "").strip()
    evaled = LOCAL_STACK_MARKER in environ
    local = _on_loopback(endpoint) and environ.get("AWS_ACCESS_KEY_ID") == LOCAL_STACK_ACCESS_KEY
    if not evaled and not local:
        return None
    pointing = f" (AWS_ENDPOINT_URL={endpoint})" if endpoint else ""
    return (
        f'this shell is set up for the local stack{pointing}, by `eval "$(make -s env)"`: '
        'run `eval "$(make -s unenv)"` first (it puts back your own AWS settings), then '
        "deploy again"
    )


def _on_loopback(url: str) -> bool:
    """Whether `url` names this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def session_from_environment(environ: Mapping[str, str] = os.environ) -> Any:
    """The boto3 session the deployers use: botocore's usual chain, with AWS_REGION
    honoured as well as AWS_DEFAULT_REGION (botocore alone ignores it). Raises
    DeployError, before any session or client is made, in the local stack's environment
    (`local_stack_refusal`)."""
    refusal = local_stack_refusal(environ)
    if refusal:
        raise DeployError(refusal)
    return boto3.session.Session(region_name=region_from_environment(environ))


def require_region(session: Any) -> str:
    """The session's region. Raises DeployError (saying how to set one) when there is
    none: checked before any client is made, since botocore's own error does not say how."""
    region = session.region_name
    if not region:
        raise DeployError(NO_REGION)
    return str(region)


def caller_identity(session: Any) -> tuple[str, str]:
    """The account and region `session` deploys to. Raises DeployError saying what is
    missing or failed: no region, no usable credentials, or AWS out of reach."""
    region = require_region(session)
    sts = session.client("sts")
    try:
        account = sts.get_caller_identity()["Account"]
    except _CREDENTIAL_ERRORS as exc:
        raise DeployError(
            f"no usable AWS credentials: {exc} (`aws sts get-caller-identity` must work)"
        ) from exc
    except OUT_OF_REACH as exc:
        raise DeployError(out_of_reach(f"AWS STS at {sts.meta.endpoint_url}", exc)) from exc
    except ClientError as exc:
        if error_code(exc) in _REFUSED_CREDENTIALS:
            raise DeployError(f"AWS refused the credentials: {exc}") from exc
        raise DeployError(f"asking AWS STS who you are failed: {exc}") from exc
    except ResponseParserError as exc:
        raise DeployError(f"AWS STS {unreadable_answer(exc)}") from exc
    return str(account), region


# What botocore raises when AWS could not be reached at all (no connection, a timeout, a
# proxy or TLS failure).
OUT_OF_REACH = (HTTPClientError, BotoConnectionError)


def out_of_reach(what: str, exc: Exception) -> str:
    """One line for `what` (AWS, a service at its endpoint) out of reach: what failed and
    what to check."""
    return (
        f"could not reach {what}: {exc}. Check the network, a proxy (HTTPS_PROXY), the region "
        "and AWS_ENDPOINT_URL, then try again"
    )


def unreadable_answer(exc: ResponseParserError) -> str:
    """One line for an answer botocore could not parse (a 5xx page from AWS or a proxy)."""
    return (
        "answered with something that is not an AWS response; try again later. "
        f"It said: {_quoted(str(exc))}"
    )


def _squashed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _quoted(text: str) -> str:
    """What an answer that is not AWS's said, on one line and cut to its first characters."""
    text = _squashed(text)
    if len(text) > _QUOTED_ANSWER_CHARACTERS:
        text = text[:_QUOTED_ANSWER_CHARACTERS] + f"... ({len(text)} characters)"
    return text


def _page_of(exc: BaseException) -> ClientError | None:
    """The ClientError in `exc`'s chain that holds a page, not an AWS error: a 5xx a proxy
    or AWS's front end answered a JSON service with (Envoy's "upstream connect error", an
    HTML page), whose whole body botocore makes the message, and whose code is the status."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError) and error_code(seen).isdigit():
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def reason_of(exc: BaseException) -> str:
    """`exc` said in one line: a page in its chain (`_page_of`) as `unreadable_answer`
    says an unparseable one, the rest with its whitespace squashed (a message of AWS's
    may hold new lines)."""
    text = str(exc)
    page = _page_of(exc)
    if page is not None:
        said = _quoted(str(page.response.get("Error", {}).get("Message", "")))
        text = text.replace(
            str(page),
            f"{page.operation_name} was answered {error_code(page)} with something that is "
            f"not an AWS response; try again later. It said: {said}",
        )
    return _squashed(text)


def exit_code_of(action: Callable[[], object]) -> int:
    """Run a deployer's command line: 0 when `action` returns, else 1 with the reason on
    stderr, in the deployer's words or AWS's own (no region, no credentials, a refused
    call, an unreadable answer), one line and never a traceback."""
    try:
        action()
    except (DeployError, ValueError, BotoCoreError, ClientError) as exc:
        print(f"error: {reason_of(exc)}", file=sys.stderr)
        return 1
    except ResponseParserError as exc:
        print(f"error: AWS {unreadable_answer(exc)}", file=sys.stderr)
        return 1
    return 0


def ensure_page_token_secret(ssm: Any, name: str, description: str, log: Any) -> bool:
    """The listing tokens' HMAC key in the SecureString parameter `name`: 32 random bytes
    (hex) drawn the first time, kept on every later run and never printed. Returns
    whether it was drawn now. Raises DeployError when SSM refuses."""
    try:
        ssm.get_parameter(Name=name)
        return False
    except ClientError as exc:
        if error_code(exc) != "ParameterNotFound":
            raise DeployError(f"reading {name} failed: {exc}") from exc
    log(f"Drawing the listing tokens' key into {name} (SecureString)")
    try:
        ssm.put_parameter(
            Name=name,
            Value=secrets.token_hex(32),
            Type="SecureString",
            Overwrite=False,
            Description=description,
        )
    except ClientError as exc:
        if error_code(exc) != "ParameterAlreadyExists":
            raise DeployError(f"creating {name} failed: {exc}") from exc
        return False
    return True


def delete_page_token_secret(ssm: Any, name: str) -> bool:
    """Delete the key's parameter; already gone is fine. Returns whether there was one to
    delete. Raises DeployError when SSM refuses."""
    try:
        ssm.delete_parameter(Name=name)
    except ClientError as exc:
        if error_code(exc) != "ParameterNotFound":
            raise DeployError(f"deleting {name} failed: {exc}") from exc
        return False
    return True


def table_exists(dynamodb: Any, stage_name: str, table_name: str) -> bool:
    """Whether the stage's table exists. Every way to deploy names it alike, so a table no
    stack of the asking tool holds is another deployment's (Terraform's, or what a
    destroy of `prod` kept). Raises DeployError when DynamoDB will not say."""
    try:
        dynamodb.describe_table(TableName=table_name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise DeployError(
            f"cannot tell whether another deployment holds stage {stage_name} (its "
            f"table {table_name}): {exc}"
        ) from exc
    return True


def table_held_elsewhere(stage_name: str, table_name: str, stack: str) -> str:
    """Why `make deploy` / `make backing` refuse a stage whose table exists while their
    stack, `stack`, does not hold it, and what to do."""
    return (
        f"stage {stage_name}'s table {table_name} exists, but no stack {stack} holds it: another "
        "deployment holds the stage (Terraform's, or what a `make destroy` of `prod` kept: "
        "the table, the user pool and the dead-letter queue), and a stack would fail on "
        "those names. One way per stage: remove that deployment first (`terraform destroy` "
        "in its dist/terraform/; `prod`'s kept resources once their data is saved), or "
        "deploy another stage"
    )


def error_code(exc: ClientError) -> str:
    """The AWS error code of a refused call (empty when it has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
