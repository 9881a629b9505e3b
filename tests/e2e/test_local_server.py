"""End to end: the local API server's limits and messages, and `chalice local`'s refusal.

Load figures (latency, throughput, memory) are `make bench`'s; these tests check
behaviour only: what a client is answered, and that nothing is refused.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from e2e.conftest import PROJECT_DIR, RunningStack, free_port
from infra.gateway_responses import UNKNOWN_ROUTE_MESSAGE

pytestmark = pytest.mark.e2e

TEN_MB = 10 * 1024 * 1024


def _post(stack: RunningStack, token: str, data: bytes) -> requests.Response:
    return requests.post(
        f"{stack.url}/vpcs",
        data=data,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": "e2e-body-limit",
        },
        timeout=30,
    )


def test_a_body_over_10_mb_is_refused_with_413(local_stack: RunningStack, token: str) -> None:
    response = _post(local_stack, token, b" " * (TEN_MB + 1))

    assert response.status_code == 413, response.text
    assert response.json()["Code"] == "RequestEntityTooLarge"
    assert "10 MB" in response.json()["Message"]


def test_a_body_of_10_mb_is_read_and_judged_by_the_app(
    local_stack: RunningStack, token: str
) -> None:
    response = _post(local_stack, token, b"{" + b" " * (TEN_MB - 1))

    assert response.status_code == 400, response.text


def test_a_content_length_of_digit_like_characters_is_a_400(
    local_stack: RunningStack, token: str
) -> None:
    """'²' passes str.isdigit() but is no number: a 400, not a dropped connection."""
    host, port = local_stack.url.removeprefix("http://").split(":")
    request = (
        f"POST /vpcs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Length: \u00b2\r\n\r\n"
    ).encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 400"), answer[:200]
    assert "Content-Length is not a number" in answer


def test_a_path_no_route_has_gets_a_fixed_403_that_never_quotes_the_token(
    local_stack: RunningStack, token: str
) -> None:
    response = requests.get(
        f"{local_stack.url}/no-such-route", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 403
    assert response.json() == {"Code": "ForbiddenError", "Message": UNKNOWN_ROUTE_MESSAGE}
    assert token.split(".")[1] not in response.text


def _raw(stack: RunningStack, request: bytes) -> bytes:
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("get /vpcs HTTP/1.1", 403),  # a method no route has: as a path no route has
        ("PROPFIND /vpcs HTTP/1.1", 403),
        ("GET /vpcs HTTP/2.0", 400),  # http.server: a 505 without even a status line
        ("GET /vpcs HTTP/x", 400),
        ("GET /" + "a" * 70_000 + " HTTP/1.1", 414),
    ],
)
def test_what_http_server_cannot_read_is_a_json_4xx_not_its_html_page(
    local_stack: RunningStack, token: str, line: str, status: int
) -> None:
    headers = f"Host: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    answer = _raw(local_stack, f"{line}\r\n{headers}".encode())

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert b"Content-Type: application/json" in head
    said = json.loads(body)
    assert set(said) == {"Code", "Message"}
    assert len(said["Message"]) < 200  # never the request line


def test_an_access_token_is_told_to_send_the_id_token(local_stack: RunningStack) -> None:
    access = local_stack.client("cognito-idp").initiate_auth(
        ClientId=local_stack.info["user_pool_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={
            "USERNAME": local_stack.info["username"],
            "PASSWORD": local_stack.info["password"],
        },
    )["AuthenticationResult"]["AccessToken"]

    response = requests.get(
        f"{local_stack.url}/vpcs", headers={"Authorization": f"Bearer {access}"}, timeout=10
    )

    assert response.status_code == 401
    assert "send the ID token, not the access token" in response.json()["Message"]


def test_64_clients_connecting_at_the_same_moment_are_all_answered(
    local_stack: RunningStack, token: str
) -> None:
    """With Python's default listen backlog (5), connections beyond it waited for TCP to
    resend their SYN (1, 3, 7, 15 s...) or were reset."""
    clients = 64
    start = threading.Barrier(clients)
    host, port = local_stack.url.removeprefix("http://").split(":")

    def one(_: int) -> int | str:
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        start.wait()
        try:
            connection.request("GET", "/vpcs?limit=1", headers={"Authorization": token})
            return connection.getresponse().status
        except OSError as exc:
            return type(exc).__name__
        finally:
            connection.close()

    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(one, range(clients)))

    assert answers == [200] * clients


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_the_api_listens_with_a_backlog_of_at_least_128(local_stack: RunningStack) -> None:
    port = local_stack.url.rsplit(":", 1)[1]
    listening = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()

    # State, Recv-Q, Send-Q (for a listening socket: its backlog), local, peer.
    assert int(listening[2]) >= 128, listening


def test_the_log_carries_no_warning_that_requests_go_unauthorized(
    local_stack: RunningStack, token: str
) -> None:
    """Chalice's local gateway warns 'CognitoUserPoolAuthorizer is not supported in local
    mode. All requests ... will be authorized': not true of the local stack, which
    verifies every token before the gateway sees it (and says so)."""
    assert requests.get(f"{local_stack.url}/vpcs", headers={"Authorization": token}).ok
    deadline = time.monotonic() + 10
    while "GET /vpcs" not in (log := local_stack.log()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the request's own line is written: all before it is too
    assert "GET /vpcs" in log

    assert "will be authorized" not in log
    assert "ID tokens are verified" in log


def _chalice() -> str:
    return str(Path(sys.executable).with_name("chalice"))


@pytest.mark.parametrize("autoreload", [False, True], ids=["no-autoreload", "autoreload"])
def test_chalice_local_refuses_to_start_and_points_at_make_run(autoreload: bool) -> None:
    """`chalice local` decodes tokens without verifying them (an unsigned one passes):
    the app must never be served by it."""
    port = free_port()
    command = [_chalice(), "local", "--stage", "local", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    result = subprocess.run(
        [*command, *([] if autoreload else ["--no-autoreload"])],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert "make run" in result.stderr, result.stderr + result.stdout
    # Chalice's reloader exits 0 whatever its server process said.
    assert result.returncode == (0 if autoreload else 2)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
