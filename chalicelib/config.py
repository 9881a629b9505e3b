"""Settings read from the environment, once, in one place.

Every knob of the service is an environment variable so that `.chalice/config.json`
(per stage), the generated infrastructure and the local stack configure the same
code the same way. Endpoints are never configured here: boto3 itself honours
`AWS_ENDPOINT_URL`, which is how the local stack and tests point it at moto.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.addresses import Pool, parse_pools

logger = logging.getLogger(__name__)

DEFAULT_PROJECT_TAG = "demo"
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed (a deployment mistake, not a client one)."""


@dataclass(frozen=True)
class Settings:
    """Everything the API, the worker and the reaper need to know about their deployment."""

    table_name: str
    queue_url: str
    region: str
    # The jobs queue's dead-letter queue, which the reaper keeps truthful.
    dlq_url: str = ""
    project_tag: str = DEFAULT_PROJECT_TAG
    idempotency_ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    # Must equal the queue's redrive maxReceiveCount: on that receive the worker
    # records RetriesExhausted before SQS moves the message to the DLQ.
    max_receive_count: int = 5
    # Claims of one request across all deliveries (reaper re-sends included)
    # before the worker gives up on it.
    max_attempts: int = 10
    # The worker's claim on a request; renewed every third of it while it works.
    lease_seconds: float = 60.0
    # Subnets created at once by one worker. With the worker's maximum
    # concurrency (2 by default) this bounds the account's concurrent EC2
    # mutating calls at 50, the size of EC2's mutating-action token bucket.
    subnet_concurrency: int = 25
    # In-place retries of one EC2 call (throttling, ambiguous 5xx) before the
    # message is handed back to SQS.
    ec2_max_attempts: int = 6
    ec2_backoff_base_seconds: float = 0.5
    ec2_backoff_cap_seconds: float = 10.0
    # After an ambiguous create, EC2's read-after-write consistency is eventual:
    # wait this long before looking the resource up by tag.
    ambiguous_lookup_delay_seconds: float = 2.0
    # Records QUEUED (or IN_PROGRESS / ROLLING_BACK with an expired lease) for
    # longer than this are sent to the worker again by the reaper.
    stale_after_seconds: int = 15 * 60
    # A job for a request not stored yet is delivered again (1, 4, 15, 15 s later) while
    # its message is younger than this: the POST that sent it beside its transaction
    # (API timeout 29 s) may still store it. Older, it is dropped.
    unstored_job_grace_seconds: int = 60
    # A job worth another try comes back after base * 2^(receive count - 1)
    # seconds, at most cap (ChangeMessageVisibility), not after the queue's
    # visibility timeout.
    retry_delay_base_seconds: int = 10
    retry_delay_cap_seconds: int = 900
    # Attempts of one DynamoDB write of the worker (checkpoint, transition)
    # before it gives up, each settled by a consistent read when its answer is lost.
    store_write_attempts: int = 3
    # The reconciler leaves alone resources younger than this: longer than the
    # worker's timeout, so that no worker can still be working on them.
    reconcile_grace_seconds: int = 15 * 60
    # Requests whose orphans one reconciler run removes (the next run starts after the
    # last one: every request is reached in turn).
    reconcile_batch_limit: int = 50
    # A reconciler run takes no more requests once it has run this long, and moves the
    # cursor to the last it took: well within the function's timeout (300 s), so a run
    # of slow teardowns ends with its cursor saved instead of being cut off (and the
    # next run starting over on the same requests).
    reconcile_run_seconds: int = 150
    # The drift check looks at a SUCCEEDED record only once its last write is this much
    # older than the run: EC2's reads have caught up with the worker's writes by then.
    drift_settle_seconds: int = 2 * 60
    # Reads by id one drift check makes at most (for what the listings did not show).
    drift_confirm_limit: int = 100
    # Live requests a user may have (admins exempt); 0: no limit. Deployed stages set
    # MAX_LIVE_REQUESTS_PER_USER (default DEPLOYED_LIVE_REQUEST_LIMIT), the local
    # stack 0 unless told.
    max_live_requests_per_user: int = 0
    # The address pools (ADDRESS_POOLS, chalicelib/addresses.py) and whether an explicit
    # VPC CIDR may overlap what is held (CIDR_OVERLAP: reject, the default, or allow).
    address_pools: tuple[Pool, ...] = field(default_factory=lambda: parse_pools(None))
    allow_overlap: bool = False
    # The HMAC key of listing tokens. Random per process unless configured:
    # every deployment sets its own random secret (never derived from config).
    page_token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # Or the SSM SecureString parameter that holds it (`make backing`, for `chalice
    # deploy`): read on the first listing; used only when the key itself is not set.
    page_token_secret_parameter: str = ""

    @property
    def deployment(self) -> str:
        """The name of this deployment (its table), tagged on every resource it creates."""
        return self.table_name

    @property
    def page_token_key(self) -> bytes:
        """The HMAC key for listing tokens."""
        return self.page_token_secret


# A deployed stage whose configuration says nothing: secure by default.
DEPLOYED_LIVE_REQUEST_LIMIT = 20


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from environment variables.

    Raises ConfigurationError naming the variable when one is missing or malformed.
    """
    env = os.environ if env is None else env
    table_name = env.get("TABLE_NAME", "").strip()
    if not table_name:
        raise ConfigurationError("TABLE_NAME is not set")
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise ConfigurationError("AWS_REGION (or AWS_DEFAULT_REGION) is not set")
    defaults = Settings(table_name="", queue_url="", region="")
    return Settings(
        table_name=table_name,
        queue_url=env.get("QUEUE_URL", "").strip(),
        dlq_url=env.get("DLQ_URL", "").strip(),
        region=region,
        project_tag=env.get("PROJECT_TAG", "").strip() or DEFAULT_PROJECT_TAG,
        idempotency_ttl_seconds=_int(
            env, "IDEMPOTENCY_TTL_SECONDS", DEFAULT_IDEMPOTENCY_TTL_SECONDS
        ),
        max_receive_count=_int(env, "MAX_RECEIVE_COUNT", defaults.max_receive_count),
        max_attempts=_int(env, "MAX_ATTEMPTS", defaults.max_attempts),
        lease_seconds=_float(env, "LEASE_SECONDS", defaults.lease_seconds),
        subnet_concurrency=_int(env, "SUBNET_CONCURRENCY", defaults.subnet_concurrency),
        ec2_max_attempts=_int(env, "EC2_MAX_ATTEMPTS", defaults.ec2_max_attempts),
        ec2_backoff_base_seconds=_float(
            env, "EC2_BACKOFF_BASE_SECONDS", defaults.ec2_backoff_base_seconds
        ),
        ec2_backoff_cap_seconds=_float(
            env, "EC2_BACKOFF_CAP_SECONDS", defaults.ec2_backoff_cap_seconds
        ),
        ambiguous_lookup_delay_seconds=_float(
            env, "AMBIGUOUS_LOOKUP_DELAY_SECONDS", defaults.ambiguous_lookup_delay_seconds
        ),
        stale_after_seconds=_int(env, "STALE_AFTER_SECONDS", defaults.stale_after_seconds),
        retry_delay_base_seconds=_int(
            env, "RETRY_DELAY_BASE_SECONDS", defaults.retry_delay_base_seconds, minimum=0
        ),
        retry_delay_cap_seconds=_int(
            env, "RETRY_DELAY_CAP_SECONDS", defaults.retry_delay_cap_seconds, minimum=0
        ),
        store_write_attempts=_int(env, "STORE_WRITE_ATTEMPTS", defaults.store_write_attempts),
        reconcile_grace_seconds=_int(
            env, "RECONCILE_GRACE_SECONDS", defaults.reconcile_grace_seconds
        ),
        reconcile_batch_limit=_int(env, "RECONCILE_BATCH_LIMIT", defaults.reconcile_batch_limit),
        reconcile_run_seconds=_int(env, "RECONCILE_RUN_SECONDS", defaults.reconcile_run_seconds),
        drift_settle_seconds=_int(env, "DRIFT_SETTLE_SECONDS", defaults.drift_settle_seconds),
        drift_confirm_limit=_int(env, "DRIFT_CONFIRM_LIMIT", defaults.drift_confirm_limit),
        max_live_requests_per_user=_int(
            env, "MAX_LIVE_REQUESTS_PER_USER", DEPLOYED_LIVE_REQUEST_LIMIT, minimum=0
        ),
        address_pools=_pools(env),
        allow_overlap=_overlap(env),
        page_token_secret=_page_token_secret(env),
        page_token_secret_parameter=(
            "" if env.get("PAGE_TOKEN_SECRET") else _secret_parameter(env)
        ),
    )


def _pools(env: Mapping[str, str]) -> tuple[Pool, ...]:
    try:
        return parse_pools(env.get("ADDRESS_POOLS", "").strip() or None)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _overlap(env: Mapping[str, str]) -> bool:
    raw = env.get("CIDR_OVERLAP", "").strip().lower() or "reject"
    if raw not in ("reject", "allow"):
        raise ConfigurationError(f"CIDR_OVERLAP must be reject or allow, got {raw!r}")
    return raw == "allow"


def _page_token_secret(env: Mapping[str, str]) -> bytes:
    configured = env.get("PAGE_TOKEN_SECRET", "").encode()
    if configured:
        return configured
    if _secret_parameter(env):
        return secrets.token_bytes(32)  # unused: the key is read from the parameter
    # Tokens then hold only within this process: a deployment always sets one.
    logger.warning("PAGE_TOKEN_SECRET is not set: listing tokens use a random per-process key")
    return secrets.token_bytes(32)


def _secret_parameter(env: Mapping[str, str]) -> str:
    return env.get("PAGE_TOKEN_SECRET_SSM_PARAMETER", "").strip()


@dataclass(frozen=True)
class ConsoleSettings:
    """What the web console's page needs to sign a person in: the user pool's app client,
    and where the browser reaches Cognito (which the page's Content-Security-Policy allows)."""

    user_pool_client_id: str
    region: str
    cognito_url: str


def load_console_settings(env: Mapping[str, str] | None = None) -> ConsoleSettings:
    """The console's settings: USER_POOL_CLIENT_ID (empty: the page says it is not set up),
    the region, and Cognito's endpoint as boto3 would pick it (AWS_ENDPOINT_URL_COGNITO_
    IDENTITY_PROVIDER, else AWS_ENDPOINT_URL, else the region's public endpoint).

    Never raises: a console that cannot sign anyone in still serves a page saying why.
    """
    env = os.environ if env is None else env
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    endpoint = (
        env.get("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "").strip()
        or env.get("AWS_ENDPOINT_URL", "").strip()
        or (f"https://cognito-idp.{region}.amazonaws.com" if region else "")
    )
    return ConsoleSettings(
        user_pool_client_id=env.get("USER_POOL_CLIENT_ID", "").strip(),
        region=region,
        cognito_url=endpoint.rstrip("/"),
    )
