"""Signing in with Cognito.

`vpcctl login` signs in with USER_PASSWORD_AUTH and keeps the ID token (what
the API checks) and the refresh token in the token cache (tokens.py). A command
uses the cached ID token while it is valid and refreshes it with
REFRESH_TOKEN_AUTH when it expires (or when the API answers 401). Tokens are
never printed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from .config import (
    AWS_ENDPOINT_ENVS,
    CLIENT_ID_ENV,
    REGION_ENV,
    Target,
    check_password_endpoint,
    profile_region,
)
from .errors import (
    CliError,
    auth_error,
    connection_refused,
    stack_not_running,
    unavailable,
    usage_error,
)
from .tokens import TokenCache, Tokens, token_expiry
from .urls import is_loopback, is_plain_http_to_loopback, quoted


class CognitoClient(Protocol):
    """The calls of boto3's cognito-idp client vpcctl uses."""

    def initiate_auth(self, **kwargs: Any) -> dict[str, Any]: ...

    def respond_to_auth_challenge(self, **kwargs: Any) -> dict[str, Any]: ...


CognitoFactory = Callable[[Target], CognitoClient]


def boto3_cognito(target: Target) -> CognitoClient:
    """boto3's cognito-idp client for the target, unsigned: InitiateAuth needs no AWS
    credentials, so none are looked for (or sent).

    The client sends the password (and the refresh token) to the endpoint botocore
    resolved, which it takes from more places than vpcctl names: AWS_ENDPOINT_URL(_...),
    and the AWS config file (a profile's `endpoint_url`, or its `services` section's). So
    that endpoint, whatever chose it, is held to the rule of any URL vpcctl sends to
    (`check_password_endpoint`) before the client is returned: a usage error (exit 2),
    saying where it came from, before any call."""
    # Imported here: only signing in needs boto3, a third of vpcctl's start-up time.
    import boto3  # noqa: PLC0415
    import botocore.session  # noqa: PLC0415
    from botocore import UNSIGNED  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import InvalidRegionError  # noqa: PLC0415

    core = botocore.session.get_session()
    session = boto3.session.Session(botocore_session=core, region_name=target.require_region())

    def client_of(proxies: dict[str, str | None] | None) -> Any:
        return session.client(
            "cognito-idp",
            endpoint_url=target.cognito_endpoint,
            config=Config(
                signature_version=UNSIGNED, retries={"mode": "standard"}, proxies=proxies
            ),
        )

    try:
        client = client_of(None)  # proxies as botocore finds them (the environment's)
    except InvalidRegionError as exc:
        # Raised making the client, nothing sent: the region named is none (a typo), which
        # no retry or running stack cures (not `unavailable`, exit 5).
        raise usage_error(
            f"{target.require_region()!r} is not an AWS region's name (such as us-east-1): "
            f"pass --region or set {REGION_ENV} (else the AWS profile's `region`)"
        ) from exc
    endpoint = str(client.meta.endpoint_url)
    check_password_endpoint(endpoint, *_endpoint_origin(target, core, endpoint))
    origin, remedy = _endpoint_origin(target, core, endpoint)
    if EVALUATED in os.environ and origin in AWS_ENDPOINT_ENVS and not is_loopback(target.api_url):
        # A shell that evaluated `make -s env` exports the local stack's moto: signing in to
        # a deployed API there would hand the password to that moto (which then says it
        # knows no such app client). (An endpoint on this machine from the AWS config file,
        # a tunnel say, is the user's own choice.)
        raise usage_error(
            f"refusing to send the password for {quoted(target.api_url)} to {quoted(endpoint)} "
            f'(from {origin}: the local stack\'s moto, since `eval "$(make -s env)"`): '
            f"{remedy}, or sign in from another shell"
        )
    if is_plain_http_to_loopback(endpoint):
        # botocore takes HTTP_PROXY (and the like) from the environment when its config
        # names no proxies: the password would go in clear text to the proxy host. Each
        # scheme named, with no proxy, so that no environment variable fills it in.
        client = client_of(NO_PROXIES)
    cognito: CognitoClient = client
    return cognito


# botocore's proxies setting for "none, whatever the environment says".
NO_PROXIES: dict[str, str | None] = {"http": None, "https": None}


# The services section's key for cognito-idp (botocore: the service id, snake_case).
_SERVICES_KEY = "cognito_identity_provider"


def _endpoint_origin(target: Target, core: Any, endpoint: str) -> tuple[str, str]:
    """Where botocore found `endpoint`, in its order, and how to be rid of it: for a
    refusal's message only (the check is of the endpoint itself, wherever it came from)."""
    if target.cognito_endpoint is not None:
        where = target.local.path if target.local is not None else "the local stack's stack.json"
        return f"the aws_endpoint_url of {where}", f"remove {where}"
    for name in AWS_ENDPOINT_ENVS:
        if os.environ.get(name) == endpoint:
            return name, f"unset {name}"
    config_file = os.path.expanduser(str(core.get_config_variable("config_file")))
    profile = core.profile or "default"
    scoped = core.get_scoped_config()
    section = scoped.get("services")
    services = core.full_config.get("services", {}).get(section, {}) if section else {}
    if services.get(_SERVICES_KEY, {}).get("endpoint_url") == endpoint:
        where = (
            f"the {_SERVICES_KEY} endpoint_url in services section {section!r}, named by "
            f"profile {profile!r}, of the AWS config file {config_file}"
        )
    elif scoped.get("endpoint_url") == endpoint:
        where = f"the endpoint_url of profile {profile!r} in the AWS config file {config_file}"
    else:
        where = f"botocore's settings (profile {profile!r}, AWS config file {config_file})"
    return where, f"remove it from {config_file}"


SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"
# What `eval "$(make -s env)"` sets (devstack/env.py): the shell's AWS_ENDPOINT_URL is the
# local stack's moto.
EVALUATED = "DEVSTACK_SAVED"


class Authenticator:
    """The caller's ID token for one API: signs in, caches, refreshes."""

    def __init__(
        self,
        target: Target,
        cache: TokenCache,
        cognito: CognitoFactory = boto3_cognito,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._target = target
        self._cache = cache
        self._cognito = cognito
        self._clock = clock

    def login(
        self, username: str, password: str, mfa_code: Callable[[], str] | None = None
    ) -> Tokens:
        """Sign in with USER_PASSWORD_AUTH and cache the tokens; a pool that requires MFA
        asks for a code of the user's authenticator app (`mfa_code`). Raises CliError
        (exit 3 if Cognito refuses, 5 if it cannot be reached)."""
        client_id = self._target.require_client_id()
        if not self._target.region:
            # The AWS profile's region, if it names one: the session keeps it (its refresh
            # goes there, whatever profile the shell has then), and the messages name it.
            region = profile_region()
            if region:
                self._target = dataclasses.replace(self._target, region=region)

        def answer(challenge: dict[str, Any]) -> dict[str, Any]:
            if mfa_code is None:
                raise auth_error(
                    "login refused: the user pool asks for a code from your authenticator "
                    "app: pass --mfa-code (or set VPCCTL_MFA_CODE)",
                    code="MfaCodeRequired",
                )
            return self._respond(client_id, username, challenge, mfa_code())

        result = self._initiate(
            client_id,
            "USER_PASSWORD_AUTH",
            {"USERNAME": username, "PASSWORD": password},
            refused="login refused",
            mfa=answer,
        )
        tokens = self._tokens(result, username, client_id, None, self._target.region)
        self._cache.store(self._target.api_url, tokens)
        return tokens

    def id_token(self) -> str:
        """A valid ID token: the cached one, refreshed first if it expires within a minute.
        Raises CliError (exit 3) when not logged in or the refresh is refused."""
        tokens = self._cached()
        if tokens.fresh(self._clock()):
            return tokens.id_token
        return self._refresh(tokens).id_token

    def refresh(self) -> str:
        """A new ID token from the refresh token, whatever the cached one's expiry (after the
        API refused it). Raises CliError (exit 3)."""
        return self._refresh(self._cached()).id_token

    def _cached(self) -> Tokens:
        api_url = self._target.api_url
        tokens = self._cache.load(api_url)
        if tokens is None:
            raise auth_error(f"not logged in to {api_url}: run `vpcctl login`", code="NotLoggedIn")
        if self._target.client_id is not None and tokens.client_id != self._target.client_id:
            if self._target.local is not None:
                # `make run` without PERSIST=1 makes a new user pool, and app client, each time.
                raise auth_error(
                    f"the local stack at {api_url} restarted since you logged in: its user "
                    "pool is new, and what the old one held (users, requests) is gone unless "
                    "it ran with PERSIST=1; run `vpcctl login` again",
                    code="StackRestarted",
                )
            raise auth_error(
                f"you logged in to {api_url} with another app client ({tokens.client_id}, "
                f"not {self._target.client_id}): run `vpcctl login` again",
                code="NotLoggedIn",
            )
        return tokens

    def _refresh(self, tokens: Tokens) -> Tokens:
        if not tokens.refresh_token:
            raise auth_error(
                f"the session with {self._target.api_url} expired: run `vpcctl login`",
                code="SessionExpired",
            )
        # The region the session signed in with, unless the command names one.
        target = self._target
        if not target.region and tokens.region:
            target = dataclasses.replace(target, region=tokens.region)
        result = self._initiate(
            tokens.client_id,
            "REFRESH_TOKEN_AUTH",
            {"REFRESH_TOKEN": tokens.refresh_token},
            refused="the session expired and could not be refreshed; run `vpcctl login`",
            target=target,
        )
        renewed = self._tokens(
            result, tokens.username, tokens.client_id, tokens.refresh_token, target.region
        )
        self._cache.store(self._target.api_url, renewed)
        return renewed

    def _respond(
        self, client_id: str, username: str, challenge: dict[str, Any], code: str
    ) -> dict[str, Any]:
        """Answer Cognito's SOFTWARE_TOKEN_MFA challenge with `code`."""
        try:
            answer = self._cognito(self._target).respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName=SOFTWARE_TOKEN_MFA,
                Session=challenge.get("Session", ""),
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code},
            )
        except CliError:
            raise
        except Exception as exc:
            raise _cognito_error(
                exc, "login refused: the MFA code", self._target, client_id
            ) from exc
        if "AuthenticationResult" not in answer:
            raise auth_error(
                "login refused: Cognito asked for more than the MFA code",
                code="ChallengeRequired",
            )
        return dict(answer)

    def _initiate(
        self,
        client_id: str,
        flow: str,
        parameters: dict[str, str],
        refused: str,
        mfa: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        target: Target | None = None,
    ) -> dict[str, Any]:
        try:
            answer = self._cognito(target or self._target).initiate_auth(
                ClientId=client_id, AuthFlow=flow, AuthParameters=parameters
            )
        except CliError:
            raise
        except Exception as exc:
            endpoint = self._target.cognito_endpoint
            if endpoint and is_loopback(endpoint) and connection_refused(exc):
                # The local stack's moto is gone with the stack: as api.py says for its API.
                raise stack_not_running(endpoint, self._target.start) from exc
            raise _cognito_error(exc, refused, self._target, client_id) from exc
        if mfa is not None and answer.get("ChallengeName") == SOFTWARE_TOKEN_MFA:
            answer = mfa(dict(answer))
        if answer.get("ChallengeName") == "MFA_SETUP":
            raise auth_error(
                f"{refused}: the user pool requires MFA and this user has no authenticator "
                "app yet: set one up first (aws cognito-idp associate-software-token, then "
                "verify-software-token), then log in again",
                code="MfaSetupRequired",
            )
        if "AuthenticationResult" not in answer:
            challenge = answer.get("ChallengeName", "a challenge")
            raise auth_error(
                f"{refused}: Cognito asks for {challenge}, which vpcctl does not answer "
                "(set a permanent password first, e.g. `aws cognito-idp "
                "admin-set-user-password --permanent`)",
                code="ChallengeRequired",
            )
        return dict(answer["AuthenticationResult"])

    def _tokens(
        self,
        result: dict[str, Any],
        username: str,
        client_id: str,
        refresh_token: str | None,
        region: str | None,
    ) -> Tokens:
        id_token = str(result["IdToken"])
        return Tokens(
            id_token=id_token,
            # Cognito sends a refresh token on sign-in; a refresh keeps the old one.
            refresh_token=result.get("RefreshToken") or refresh_token,
            expires_at=token_expiry(id_token, result.get("ExpiresIn"), self._clock()),
            username=username,
            client_id=client_id,
            region=region,
        )


_REFUSALS = {
    "NotAuthorizedException",
    "CodeMismatchException",
    "ExpiredCodeException",
    "UserNotFoundException",
    "UserNotConfirmedException",
    "PasswordResetRequiredException",
    "InvalidParameterException",
    "ResourceNotFoundException",
}


def _cognito_error(exc: Exception, refused: str, target: Target, client_id: str) -> CliError:
    """A failed InitiateAuth as a CliError: Cognito's refusals exit 3, the rest 5."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code") or type(exc).__name__)
    message = str(error.get("Message") or exc)
    if code == "ResourceNotFoundException":
        # InitiateAuth names no other resource than the app client. Cognito's message is
        # the id alone (moto) or a sentence naming no setting: name the ones that chose it
        # (a client of a user pool in another region is not found either).
        message = (
            f"Cognito in {target.region} has no app client {client_id!r} (--client-id / "
            f"{CLIENT_ID_ENV}; its user pool's region: --region / {REGION_ENV})"
        )
    # The code is not repeated in the message: the error's report names it.
    if code in _REFUSALS:
        return auth_error(f"{refused}: {message}", code=code)
    return unavailable(f"cannot sign in with Cognito: {message}", code=code)
