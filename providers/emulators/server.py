"""A small WSGI framework for provider emulators, and a loopback server for them."""

from __future__ import annotations

import json
import re
import socket
import socketserver
import ssl
import struct
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from providers.emulators.faults import DropConnection, Faults
from providers.emulators.realism import Realism
from providers.emulators.state import Store

Handler = Callable[..., "Response"]
KEEP_ALIVE_SECONDS = 30


@dataclass
class Request:
    """What an emulator handler sees of one HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The decoded JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body or b"{}")

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """A JSON answer (or raw bytes) with status and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class HTTPError(Exception):
    """Raised by handlers to answer with the provider's error shape."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class EmulatorApp:
    """Base WSGI app: routing, auth, fault switches and a control endpoint.

    Subclasses fill `routes`, implement `authenticate` and `error_body`, and keep their
    state in a `providers.emulators.state.Store`.
    """

    name = "emulator"
    store: Store | None = None

    def __init__(self) -> None:
        self.faults = Faults()
        self.realism = Realism()
        self.request_count = 0
        # The latest requests as "METHOD /path", for tests that prove a call was (not) made.
        self.request_log: deque[str] = deque(maxlen=1000)
        self._count_lock = threading.Lock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for method, pattern, handler in self.routes():
            self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """(method, path regex with named groups, handler) triples."""
        return ()

    def authenticate(self, request: Request) -> None:
        """Raise HTTPError when the request's credentials are wrong."""

    def error_body(self, request: Request, error: HTTPError, request_id: str) -> Any:
        """The provider's JSON error body for an HTTPError."""
        return {"code": error.code, "message": error.message}

    def reset(self) -> None:
        """Forget injected faults and logged requests (subclasses also reset their state)."""
        self.faults.reset()
        self.request_log.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = self._read(environ)
        response = self.dispatch(request)
        if response.raw is not None:
            payload = response.raw
        elif response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body).encode()
        headers = {"Content-Type": "application/json", **response.headers}
        headers["Content-Length"] = str(len(payload))
        reason = REASONS.get(response.status, "Unknown")
        start_response(f"{response.status} {reason}", list(headers.items()))
        return [payload]

    def dispatch(self, request: Request) -> Response:
        """Answer one request, applying faults first."""
        request_id = f"req-{uuid.uuid4().hex[:20]}"
        if request.path.startswith("/__emulator__/"):
            return self._control(request)
        with self._count_lock:
            self.request_count += 1
            self.request_log.append(f"{request.method} {request.path}")
        self.realism.entered()
        try:
            self.realism.wait()
            response = self._limited(request, request_id) or self._faulted(request, request_id)
            if response is None:
                self.authenticate(request)
                response = self._answer(request)
        except HTTPError as error:
            response = Response(error.status, self.error_body(request, error, request_id))
        finally:
            self.realism.left()
        response.headers.setdefault("X-Request-ID", request_id)
        return response

    def _limited(self, request: Request, request_id: str) -> Response | None:
        """The provider's 429 when this credential is over its published limit."""
        retry_after = self.realism.admit(request.headers.get("authorization", ""))
        if retry_after is None:
            return None
        return self._too_many(request, request_id, retry_after)

    def _too_many(self, request: Request, request_id: str, retry_after: str) -> Response:
        # The seconds also go in the body for providers that send them there (WorkOS).
        error = HTTPError(
            429, "rate_limit_exceeded", "Too many requests.", retry_after=_seconds(retry_after)
        )
        return Response(
            429, self.error_body(request, error, request_id), {"Retry-After": retry_after}
        )

    def _faulted(self, request: Request, request_id: str) -> Response | None:
        fault = self.faults.next_fault()
        if fault is None:
            return None
        kind, value = fault
        if kind == "drop":
            raise DropConnection
        if kind == "status":
            raise HTTPError(value, "server_error", "Injected failure.")
        if kind == "rate":
            return self._too_many(request, request_id, value)
        if kind == "not_object":
            self.authenticate(request)
            self._answer(request)  # done as asked; only the answer is of another shape
            return Response(200, raw=b"[]")
        return Response(200, raw=b'{"data": [')

    def _answer(self, request: Request) -> Response:
        """Route the request; under `ignore_writes`, a write answers as usual and is undone."""
        if self.store is None or self.faults.ignore_writes <= 0:
            return self._route(request)
        response, wrote = self.store.discarding(lambda: self._route(request))
        if wrote:
            self.faults.take_ignored_write()
        return response

    def _route(self, request: Request) -> Response:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            return handler(request, **match.groupdict())
        if allowed:
            raise HTTPError(405, "method_not_allowed", "Method not allowed.")
        raise HTTPError(404, "not_found", "Not found.")

    def _control(self, request: Request) -> Response:
        if request.path == "/__emulator__/stats":
            if request.method == "DELETE":
                self.realism.reset_stats()
            return Response(200, {"requests": self.request_count, **self.realism.stats()})
        if request.path == "/__emulator__/webhooks" and hasattr(self, "webhooks"):
            if request.method == "POST":
                spec = request.json()
                url, secret = str(spec.get("url", "")), str(spec.get("secret", ""))
                self.webhooks.configure(url, secret, float(spec.get("delay") or 0))
            return Response(200, {"url": self.webhooks.url, "answers": self.webhooks.answers})
        if request.path == "/__emulator__/realism":
            if request.method == "POST":
                self.realism.configure(request.json())
            return Response(200, self.realism.stats())
        if request.path != "/__emulator__/faults":
            return Response(404, {"message": "unknown emulator control"})
        if request.method == "DELETE":
            self.reset()
        elif request.method == "POST":
            self.faults.configure(request.json())
        return Response(200, {"requests": self.request_count})

    @staticmethod
    def _read(environ: dict[str, Any]) -> Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        return Request(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO", "/"),
            query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            headers=headers,
            body=body,
        )


def _seconds(retry_after: str) -> float | None:
    try:
        return float(retry_after)
    except ValueError:
        return None


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with persistent connections, as the providers' own servers keep them open."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body waited for the
    # client's delayed ACK of the headers, adding 40 ms to every answer on a kept-alive
    # connection. Real providers' servers answer without that stall.
    disable_nagle_algorithm = True
    # An idle kept-alive connection is closed after this many seconds.
    timeout = KEEP_ALIVE_SECONDS

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self.close_connection = True
            return
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # Bodies are read by Content-Length only; a chunked one cannot share the connection.
            self.close_connection = True
        handler = _DroppingServerHandler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.http_version = "1.1"
        handler.request_handler = self
        try:
            handler.run(self.server.get_app())
        except DropConnection:
            self._reset_connection()
        except (ConnectionError, ssl.SSLError):
            self.close_connection = True

    def _reset_connection(self) -> None:
        # SO_LINGER 0 turns close() into a TCP reset: the client sees a dropped connection.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class _DroppingServerHandler(ServerHandler):
    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        # Tell the client when this answer ends the connection (it asked, or HTTP/1.0).
        if self.request_handler.close_connection:
            self.headers["Connection"] = "close"

    def close(self) -> None:
        # A dropped request never started a response: there is nothing to log or reset.
        if self.status is None and isinstance(self._current_exc(), DropConnection):
            return
        super().close()

    def handle_error(self) -> None:
        if isinstance(self._current_exc(), DropConnection):
            raise DropConnection
        super().handle_error()

    @staticmethod
    def _current_exc() -> BaseException | None:
        import sys

        return sys.exc_info()[1]


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls is None:
            return connection, address
        # The handshake runs on the first read, in the request's thread, not in accept().
        return self.tls.wrap_socket(
            connection, server_side=True, do_handshake_on_connect=False
        ), address


@dataclass
class RunningEmulator:
    """An emulator served on loopback in a background thread."""

    app: EmulatorApp
    url: str
    _server: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_in_thread(
    app: EmulatorApp, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
) -> RunningEmulator:
    """Serve `app` on host:port (0 picks a free port) and return once it accepts connections.

    With `tls` (a server-side context holding a certificate) it speaks HTTPS, for clients
    such as Stytch's SDK that refuse a plain-HTTP base URL.
    """
    server = _ThreadingWSGIServer((host, port), _QuietHandler)
    server.tls = tls
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, name=f"{app.name}-emulator", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    url = f"{'https' if tls else 'http'}://{bound_host}:{bound_port}"
    with socket.create_connection((bound_host, bound_port), timeout=5):
        pass
    return RunningEmulator(app=app, url=url, _server=server, _thread=thread)
