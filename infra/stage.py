"""What a deployment stage is made of, read from .chalice/config.json.

Both infrastructure outputs (CloudFormation and Terraform) and `make deploy`
take every name and number from here, so they cannot disagree with each
other or with the app's own configuration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIG_PATH = PROJECT_DIR / ".chalice" / "config.json"

# Every function's runtime, whichever way it is deployed. Chalice would take the version
# of the Python that runs it (python3.11 from a 3.11 virtualenv): `make package` and
# `make chalice-deploy` run Chalice with this one pinned (infra/chalice_cli.py), for the
# templates and the zip's dependencies alike. A runtime AWS supports until 2028-10-31.
LAMBDA_RUNTIME = "python3.12"
# The SQS visibility timeout is this many times the worker's Lambda timeout,
# as AWS recommends, so that a message is never redelivered while a worker
# may still be running it.
VISIBILITY_TIMEOUT_FACTOR = 6
DLQ_RETENTION_SECONDS = 14 * 24 * 60 * 60
LOG_RETENTION_DAYS = 30
# The API's stage throttle: bounds what one client can make the account spend.
API_RATE_LIMIT = 20
API_BURST_LIMIT = 40
# API Gateway's access log, one JSON object a request: who (the token's `sub`; "-"
# when the authorizer refused it) called what, and how it ended. Every value is
# quoted: API Gateway writes "-" for a missing one, which would break a bare number.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "sub": "$context.authorizer.claims.sub",
    "sourceIp": "$context.identity.sourceIp",
    "httpMethod": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "errorType": "$context.error.responseType",
}
ACCESS_LOG_FORMAT = json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))
# The user pool's options a stage may set (its `environment_variables` in
# .chalice/config.json; never passed on to a function): MFA with an authenticator app
# (OFF by default; ON, "required", can only be chosen when the pool is created: Cognito
# refuses to turn it on later), and Cognito's threat protection (OFF by default: it
# needs the pool's Plus feature plan, billed per monthly active user).
MFA_VARIABLE = "USER_POOL_MFA"
MFA_CHOICES = ("OFF", "OPTIONAL", "ON")
THREAT_PROTECTION_VARIABLE = "USER_POOL_THREAT_PROTECTION"
THREAT_PROTECTION_CHOICES = ("OFF", "AUDIT", "ENFORCED")
# Both, as the packages (infra/package.py) and `make chalice-deploy` (infra/chalice_cli.py)
# leave them out of every function's environment.
USER_POOL_VARIABLES = (MFA_VARIABLE, THREAT_PROTECTION_VARIABLE)
# The user pool: strong passwords, no self sign-up, short-lived tokens.
PASSWORD_MIN_LENGTH = 12
TEMPORARY_PASSWORD_DAYS = 3
AUTH_FLOWS = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")
ID_TOKEN_MINUTES = ACCESS_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 30
# The `admins` group's description (chalicelib/api/auth.py: ADMIN_GROUP), in both outputs.
ADMIN_GROUP_DESCRIPTION = (
    "Administrators: delete or cancel any user's requests, with no per-user limit "
    "(aws cognito-idp admin-add-user-to-group)"
)
# The worker's SQS event source's maximum concurrency (WORKER_MAX_CONCURRENCY): what
# Lambda accepts (ScalingConfig.MaximumConcurrency, "Minimum value of 2. Maximum value of
# 1000"); app.py reads the variable, "2" when unset.
WORKER_CONCURRENCY_RANGE = range(2, 1001)
# Stages whose data (table, user pool) survives `make destroy`.
RETAINED_STAGES = frozenset({"prod"})

FUNCTIONS = ("api_handler", "worker", "reaper", "reconciler")
LOGICAL_IDS = {
    "api_handler": "APIHandler",
    "worker": "Worker",
    "reaper": "Reaper",
    "reconciler": "Reconciler",
}
ROLE_IDS = {
    "api_handler": "ApiHandlerRole",
    "worker": "WorkerRole",
    "reaper": "ReaperRole",
    "reconciler": "ReconcilerRole",
}
# Each function's IAM policy template (`{{placeholders}}`), which every output renders.
# A stage's `iam_policy_file` names what `chalice` itself reads: for `chalice deploy`,
# the rendered copy `make backing` writes (infra/backing_config.py).
POLICY_TEMPLATES = {
    "api_handler": "policy-api.json",
    "worker": "policy-worker.json",
    "reaper": "policy-reaper.json",
    "reconciler": "policy-reconciler.json",
}


@dataclass(frozen=True)
class Stage:
    """One deployment stage: its names, settings and per-function configuration."""

    name: str
    app_name: str
    env: dict[str, str]
    functions: dict[str, dict[str, Any]]
    config_dir: Path = CONFIG_PATH.parent

    @property
    def stack_name(self) -> str:
        return f"{self.app_name}-{self.name}"

    @property
    def table_name(self) -> str:
        return self.env["TABLE_NAME"]

    @property
    def queue_name(self) -> str:
        return self.env["QUEUE_NAME"]

    @property
    def dlq_name(self) -> str:
        return f"{self.queue_name}-dlq"

    @property
    def user_pool_name(self) -> str:
        return f"{self.app_name}-{self.name}"

    @property
    def project_tag(self) -> str:
        return self.env.get("PROJECT_TAG", "demo")

    @property
    def mfa(self) -> str:
        """The user pool's MFA: OFF, OPTIONAL (each user may add an authenticator app) or ON."""
        return self._choice(MFA_VARIABLE, MFA_CHOICES)

    @property
    def threat_protection(self) -> str:
        """Cognito's threat protection for the pool: OFF, AUDIT (logs risks) or ENFORCED."""
        return self._choice(THREAT_PROTECTION_VARIABLE, THREAT_PROTECTION_CHOICES)

    def _choice(self, variable: str, choices: tuple[str, ...]) -> str:
        value = self.env.get(variable, choices[0]).strip().upper() or choices[0]
        if value not in choices:
            raise ValueError(
                f"stage {self.name}: {variable} is {value[:40]!r}; use one of {', '.join(choices)}"
            )
        return value

    @property
    def deployment(self) -> str:
        """The deployment tag's value on every resource the stage creates (its table's name)."""
        return self.table_name

    @property
    def reconcile_grace_seconds(self) -> int:
        return int(self.env["RECONCILE_GRACE_SECONDS"])

    @property
    def worker_max_concurrency(self) -> int:
        """The worker event source's maximum concurrency. Raises ValueError outside what
        Lambda accepts, which AWS would refuse only half-way through a deployment."""
        value = self.env.get("WORKER_MAX_CONCURRENCY", "2")
        low, high = WORKER_CONCURRENCY_RANGE[0], WORKER_CONCURRENCY_RANGE[-1]
        try:
            number = int(value)
        except ValueError:
            number = None
        if number not in WORKER_CONCURRENCY_RANGE:
            raise ValueError(
                f"stage {self.name}: WORKER_MAX_CONCURRENCY is {value[:40]!r}; it must be a "
                f"whole number from {low} to {high} (the range Lambda accepts for an SQS "
                "event source's maximum concurrency)"
            )
        return int(value)

    @property
    def max_receive_count(self) -> int:
        return int(self.env["MAX_RECEIVE_COUNT"])

    @property
    def worker_timeout(self) -> int:
        return int(self.functions["worker"]["lambda_timeout"])

    @property
    def visibility_timeout(self) -> int:
        return VISIBILITY_TIMEOUT_FACTOR * self.worker_timeout

    @property
    def retain_data(self) -> bool:
        return self.name in RETAINED_STAGES

    def function_name(self, function: str) -> str:
        """Chalice's naming: `<app>-<stage>` for the API handler, `<app>-<stage>-<fn>` else."""
        base = f"{self.app_name}-{self.name}"
        return base if function == "api_handler" else f"{base}-{function}"

    def log_group(self, function: str) -> str:
        return f"/aws/lambda/{self.function_name(function)}"

    @property
    def page_token_secret_parameter(self) -> str:
        """The SSM SecureString parameter holding the listing tokens' HMAC key: every way
        to deploy reads the key from it at first use, never from the environment."""
        return f"/{self.app_name}/{self.name}/page-token-secret"

    @property
    def access_log_group(self) -> str:
        """The REST API's access log (written by API Gateway, not by a function)."""
        return f"/aws/apigateway/{self.app_name}-{self.name}/access"

    def policy_file(self, function: str) -> Path:
        """The function's policy template."""
        return self.config_dir / POLICY_TEMPLATES[function]

    def chalice_policy_file(self, function: str) -> Path:
        """The policy file the stage's Chalice config names (`iam_policy_file`)."""
        return self.config_dir / str(self.functions[function]["iam_policy_file"])


def load_stage(name: str, config_path: Path = CONFIG_PATH) -> Stage:
    """The stage `name` of the Chalice config. Raises ValueError for an unknown or bad stage."""
    config = json.loads(config_path.read_text())
    stages = config.get("stages", {})
    if name not in stages or name == "local":
        deployable = ", ".join(sorted(s for s in stages if s != "local"))
        raise ValueError(f"unknown stage {name!r}; deployable stages: {deployable}")
    env = dict(config.get("environment_variables", {}))
    env.update(stages[name].get("environment_variables", {}))
    functions = {fn: dict(stages[name]["lambda_functions"][fn]) for fn in FUNCTIONS}
    stage = Stage(
        name=name,
        app_name=config["app_name"],
        env=env,
        functions=functions,
        config_dir=config_path.parent,
    )
    if not re.fullmatch(r"[A-Za-z0-9_.:/=+\-@ ]{1,128}", stage.project_tag):
        raise ValueError(f"PROJECT_TAG {stage.project_tag!r} is not a valid tag value")
    if stage.reconcile_grace_seconds <= stage.worker_timeout:
        # Else the reconciler could delete what a live worker is still making.
        raise ValueError(
            f"RECONCILE_GRACE_SECONDS ({stage.reconcile_grace_seconds}) must exceed the "
            f"worker's lambda_timeout ({stage.worker_timeout})"
        )
    stage.worker_max_concurrency  # noqa: B018 (checked now, not half-way through a deploy)
    _check_names(stage)
    return stage


# The longest name AWS takes for a Lambda function, an IAM role and an EventBridge rule.
_MOST_NAME_CHARACTERS = 64
# The functions on a schedule: each has a rule named `<function's name>-event`.
_SCHEDULED = ("reaper", "reconciler")
# SQS's longest queue name.
_MOST_QUEUE_CHARACTERS = 80


def _check_names(stage: Stage) -> None:
    """Refuse, before anything is drawn, packaged or deployed, a stage whose names AWS would
    refuse half-way through a deploy: the stage's own (it names CloudFormation stacks:
    letters, digits and '-', a letter first), one that makes a function's, role's or
    schedule rule's name longer than 64 characters, a table or queue name DynamoDB or SQS
    refuses, or a queue whose dead-letter queue's name would be."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", stage.name):
        raise ValueError(
            f"stage name {stage.name[:64]!r}: use letters, digits and '-', a letter first "
            "(it names the CloudFormation stacks, which take nothing else)"
        )
    base = f"{stage.app_name}-{stage.name}"
    names = [
        *(stage.function_name(function) for function in FUNCTIONS),
        *(f"{base}-{function}" for function in FUNCTIONS),  # the functions' IAM roles
        *(f"{stage.function_name(function)}-event" for function in _SCHEDULED),
    ]
    longest = max(names, key=len)
    if len(longest) > _MOST_NAME_CHARACTERS:
        most = len(stage.name) - (len(longest) - _MOST_NAME_CHARACTERS)
        raise ValueError(
            f"stage name {stage.name!r} is too long: it makes {longest!r}, "
            f"{len(longest)} characters where AWS takes {_MOST_NAME_CHARACTERS}: "
            f"use a stage name of at most {most} characters"
        )
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{3,255}", stage.table_name):
        raise ValueError(
            f"TABLE_NAME {stage.table_name[:64]!r} is not a DynamoDB table's name "
            "(3 to 255 letters, digits, '_', '-' or '.')"
        )
    most_queue = _MOST_QUEUE_CHARACTERS - len(stage.dlq_name) + len(stage.queue_name)
    if not re.fullmatch(rf"[A-Za-z0-9_\-]{{1,{most_queue}}}", stage.queue_name):
        raise ValueError(
            f"QUEUE_NAME {stage.queue_name[:64]!r} is not an SQS queue's name that leaves "
            f"room for its dead-letter queue's ({stage.dlq_name[:16]}...): 1 to {most_queue} "
            "letters, digits, '_' or '-'"
        )
