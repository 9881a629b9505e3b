"""API Gateway's own errors (a refused token, an unknown route, throttling, a body too
large) answered in the app's error shape, `{"Code", "Message"}`: the gateway responses
both deployments configure (`cloudformation.py`, `terraform_backing.py`), and the messages the
local stack's server answers with where API Gateway would (devstack/server.py).
"""

from __future__ import annotations

import json

UNKNOWN_ROUTE_MESSAGE = "No route matches this method and path: openapi.yaml lists the routes."

# API Gateway's own errors (a refused token, an unknown route, throttling) in
# the app's error shape, so that clients parse one shape whatever answered.
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": ("401", "UnauthorizedError"),
    "ACCESS_DENIED": ("403", "ForbiddenError"),
    "MISSING_AUTHENTICATION_TOKEN": ("403", "ForbiddenError"),
    "THROTTLED": ("429", "TooManyRequestsError"),
    # A body over 10 MB: the code the local stack answers it with too (openapi.yaml).
    "REQUEST_TOO_LARGE": ("413", "RequestEntityTooLarge"),
    "DEFAULT_4XX": (None, "BadRequestError"),
    "DEFAULT_5XX": (None, "ServiceUnavailable"),
}


# The authorizer's refusal: API Gateway's own message is one word ("Unauthorized").
UNAUTHORIZED_MESSAGE = (
    "The ID token is missing, expired or not from this user pool: "
    "send 'Authorization: Bearer <Cognito ID token>'."
)

# Answers whose message API Gateway would otherwise fill with the request's own text (for
# a path no route has, its message quotes the caller's whole Authorization header), or
# with a word that does not say what to do.
FIXED_MESSAGES = {
    "MISSING_AUTHENTICATION_TOKEN": UNKNOWN_ROUTE_MESSAGE,
    "UNAUTHORIZED": UNAUTHORIZED_MESSAGE,
}


def gateway_response_template(code: str, message: str | None = None) -> str:
    """The body API Gateway sends for its own errors: `{"Code", "Message"}` (its own
    message, or `message`)."""
    text = json.dumps(message) if message else "$context.error.messageString"
    return '{"Code": "' + code + '", "Message": ' + text + "}"
