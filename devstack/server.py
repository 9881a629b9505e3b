"""The local API: Chalice's local gateway behind real ID-token verification."""

from __future__ import annotations

import functools
import json
import logging
from http.server import HTTPServer
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer

from .auth import IdTokenVerifier, TokenRejected

logger = logging.getLogger("devstack.api")


class VerifyingRequestHandler(ChaliceRequestHandler):
    """Answers 401 unless the request carries exactly one valid ID token, then hands the
    request to Chalice's local gateway (which reads the now verified claims)."""

    def __init__(
        self,
        request: bytes,
        client_address: tuple[str, int],
        server: HTTPServer,
        app_object: Chalice,
        config: Config,
        verifier: IdTokenVerifier,
    ) -> None:
        self._verifier = verifier
        super().__init__(request, client_address, server, app_object, config)

    def _generic_handle(self) -> None:
        # Exactly one Authorization header: with two, the one verified here and
        # the one Chalice decodes could differ.
        values = self.headers.get_all("Authorization") or []
        try:
            if len(values) > 1:
                raise TokenRejected("Send one Authorization header.")
            self._verifier.verify(values[0] if values else None)
        except TokenRejected as rejected:
            self._reply(401, "UnauthorizedError", str(rejected))
            return
        try:
            int(self.headers.get("content-length", "0"))
        except ValueError:
            self._reply(400, "BadRequestError", "Content-Length is not a number.")
            return
        super()._generic_handle()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _reply(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"Code": code, "Message": message}).encode()
        # Drain the body so the connection stays usable for the client.
        length = self.headers.get("content-length", "0")
        if length.isdigit() and int(length) <= 10 * 1024 * 1024:
            self.rfile.read(int(length))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def make_server(
    app: Chalice, config: Config, host: str, port: int, verifier: IdTokenVerifier
) -> LocalDevServer:
    """A threaded HTTP server for `app` on host:port that verifies every request's token."""
    handler = functools.partial(VerifyingRequestHandler, verifier=verifier)
    return LocalDevServer(
        app, config, host, port, handler_cls=handler, server_cls=ThreadedHTTPServer
    )
