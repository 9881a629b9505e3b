"""The web console's page and files as the app serves them (chalicelib/console): the
policy on every answer, the settings written into the page (escaped), the assets by name
only; where the page signs in (config); which routes the local stack serves without a
token (devstack/server.py). No AWS, no browser: tests/e2e/test_console.py drives it in one.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests
from chalice.app import Chalice, CognitoUserPoolAuthorizer
from chalice.config import Config

import app as app_module
from chalicelib.config import ConsoleSettings, load_console_settings
from chalicelib.console.site import ASSETS, asset, content_security_policy, page
from chalicelib.errors import NotFound
from devstack.auth import IdTokenVerifier, TokenRejected, get_a_token
from devstack.server import PublicRoutes, make_server

SETTINGS = ConsoleSettings("client-1", "eu-west-1", "https://cognito-idp.eu-west-1.amazonaws.com")


def test_the_policy_allows_only_this_origin_and_cognitos_and_nothing_inline() -> None:
    policy = content_security_policy(SETTINGS)

    assert policy == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


@pytest.mark.parametrize(
    ("cognito_url", "connect"),
    [
        ("http://127.0.0.1:18000", "'self' http://127.0.0.1:18000"),
        ("http://127.0.0.1:18000/some/path", "'self' http://127.0.0.1:18000"),
        ("", "'self'"),
        ("javascript:alert(1)", "'self'"),
        ("https://user@evil.example", "'self'"),
        ("https://a.example; script-src *", "'self'"),
        ("http://[::1", "'self'"),
    ],
)
def test_connect_src_names_cognitos_origin_or_nothing(cognito_url: str, connect: str) -> None:
    policy = content_security_policy(ConsoleSettings("c", "r", cognito_url))

    assert f"connect-src {connect};" in policy


def test_the_page_carries_the_settings_escaped_and_never_cached() -> None:
    hostile = ConsoleSettings('"><script>x</script>', "eu-west-1", "https://cognito-idp.x")

    served = page(hostile, "/api/console")

    assert served.content_type == "text/html; charset=utf-8"
    assert "<script>x</script>" not in served.body
    assert 'data-client-id="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in served.body
    assert served.headers["Cache-Control"] == "no-cache, no-store"
    assert served.headers["Content-Security-Policy"] == content_security_policy(hostile)
    assert served.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/console", "/console"),
        ("/console/", "/console"),
        ("/api/console", "/api/console"),  # a deployed stage's path starts with the stage
        ("/elsewhere", "/console"),
    ],
)
def test_the_page_addresses_its_files_from_where_it_was_asked_for(path: str, base: str) -> None:
    body = page(SETTINGS, path).body

    files = re.findall(r'(?:src|href)="([^"#]+)"', body)
    assert {f.split("?v=")[0] for f in files} == {f"{base}/{name}" for name in ASSETS}
    assert all(re.fullmatch(r"[^?]+\?v=[0-9a-f]{12}", f) for f in files)


def test_each_asset_is_served_with_its_type_and_cached_by_its_hash() -> None:
    for name, content_type in ASSETS.items():
        version = re.findall(rf"{re.escape(name)}\?v=([0-9a-f]+)", page(SETTINGS).body)[0]
        served = asset(name, SETTINGS, version)

        assert served.content_type == content_type
        assert served.body
        assert "immutable" in served.headers["Cache-Control"]
        assert served.headers["Content-Security-Policy"] == content_security_policy(SETTINGS)
        # Asked for by no version, or another: not kept (an old process, a new page's URL).
        for other in (None, "0" * 12):
            assert asset(name, SETTINGS, other).headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("name", ["index.html", "../site.py", "app.js.map", "", "APP.JS"])
def test_no_other_file_is_served(name: str) -> None:
    with pytest.raises(NotFound):
        asset(name, SETTINGS)


def test_the_script_never_parses_data_as_html() -> None:
    script = asset("app.js", SETTINGS).body

    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script)
    assert "setAttribute('style'" not in script


def test_the_local_sign_in_note_does_not_send_everyone_to_dot_local() -> None:
    """A stack started with `make run STATE=.local-2` keeps its users' passwords in
    .local-2/stack.json: a note naming only .local/stack.json sends its users to another
    stack's passwords, or to none."""
    script = asset("app.js", SETTINGS).body

    [note] = re.findall(r"'Local stack: [^']*'", script)
    assert "stack.json" in note
    assert "STATE=" in note


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"USER_POOL_CLIENT_ID": "abc", "AWS_REGION": "eu-west-1"},
            ConsoleSettings("abc", "eu-west-1", "https://cognito-idp.eu-west-1.amazonaws.com"),
        ),
        (
            {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:18000/"},
            ConsoleSettings("", "us-east-1", "http://127.0.0.1:18000"),
        ),
        (
            {
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": "http://127.0.0.1:18000",
                "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "http://127.0.0.1:9229",
            },
            ConsoleSettings("", "us-east-1", "http://127.0.0.1:9229"),
        ),
        ({}, ConsoleSettings("", "", "")),
    ],
)
def test_the_console_signs_in_where_boto3_would_call_cognito(
    env: dict[str, str], expected: ConsoleSettings
) -> None:
    assert load_console_settings(env) == expected


@pytest.mark.parametrize(
    ("method", "path", "admitted"),
    [
        ("GET", "/console", True),
        ("GET", "/console/", True),
        ("GET", "/console/app.js?v=0123456789ab", True),
        ("GET", "/console/anything", True),  # the app answers 404, no token needed for that
        ("POST", "/console", True),  # a 405 with Allow: GET, which no token would change
        ("DELETE", "/console/app.js", True),
        ("PUT", "/vpcs", False),  # a route with an authorizer: its 405 once signed in
        ("GET", "/console/a/b", False),
        ("GET", "/consoles", False),
        ("GET", "/vpcs", False),
        ("GET", "/vpcs?x=/console", False),
        ("DELETE", "/vpcs/6f0c2a8e-1b7d-4c55-9a43-2f1e0d9c8b7a", False),
        ("GET", "/nowhere", False),
    ],
)
def test_the_local_stack_lets_through_without_a_token_only_the_routes_without_authorizer(
    method: str, path: str, admitted: bool
) -> None:
    assert PublicRoutes(app_module.app).admits(method, path) is admitted


class _Refusing(IdTokenVerifier):
    """The token check: refuses every token, and counts the requests it was asked about."""

    def __init__(self) -> None:
        super().__init__("unused", "issuer", "client", jwks=object())
        self.asked = 0

    def verify(self, authorization: str | None) -> dict[str, Any]:
        self.asked += 1
        raise TokenRejected(f"No Authorization header. {get_a_token()}")


def test_a_method_a_tokenless_route_lacks_is_a_405_with_allow_before_any_token_check() -> None:
    """`POST /console` without a token: a 401 asking for one (`make token`) would send the
    caller after a token that changes nothing; a route with an authorizer still asks."""
    app = Chalice(app_name="tokenless")
    pool = CognitoUserPoolAuthorizer("pool", provider_arns=["arn:aws:cognito-idp:r:1:userpool/p"])
    app.route("/page", methods=["GET"])(lambda: {"page": True})
    app.route("/private", methods=["GET"], authorizer=pool)(lambda: {"private": True})
    checks = _Refusing()
    server = make_server(app, Config.create(chalice_stage="local"), "127.0.0.1", 0, checks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server.server_address[1]}"
    try:
        page = requests.get(f"{url}/page", timeout=10)
        wrong = requests.post(f"{url}/page", data=b"{}", timeout=10)
        private = requests.put(f"{url}/private", timeout=10)
    finally:
        server.shutdown()
        thread.join()
        server.server.server_close()

    assert page.status_code == 200
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET"
    assert wrong.json()["Code"] == "MethodNotAllowedError"
    assert private.status_code == 401
    assert checks.asked == 1  # the private route's request only
