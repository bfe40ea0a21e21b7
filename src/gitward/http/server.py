"""Run the HTTP app beside the SSH server: uvicorn in a thread of the serving process.

    http = HttpServer(ctx, ctx.settings.http_host, ctx.settings.http_port)
    http.start()        # returns once listening; ConfigurationError if the port is taken
    ...                 # (without a CA secret it runs with issuing disabled: issuing_disabled)
    http.stop()         # graceful: finishes requests in flight, then joins the thread

Port 0 picks a free port (see ``port``), which is what tests use.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    httptools_available = True
except ImportError:  # pragma: no cover - httptools is a dependency where it builds
    HttpToolsProtocol = H11Protocol  # type: ignore[misc,assignment]
    httptools_available = False

from gitward.errors import ConfigurationError
from gitward.http.app import create_app
from gitward.services.context import Context


def _headers_too_large(limit: int) -> bytes:
    """A whole 431 response with the API's JSON error shape, closing the connection."""
    message = f"the request line and headers must be at most {limit} bytes"
    body = json.dumps({"error": {"code": "headers_too_large", "message": message}}).encode()
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol (when httptools is not installed), answering headers past
    ``http_max_header_bytes`` with 431 and the JSON error shape (uvicorn says 400
    "Invalid HTTP request received.")."""

    def send_400_response(self, msg: str) -> None:
        limit = self.config.h11_max_incomplete_event_size
        pending, _ = self.conn.trailing_data
        if limit is None or len(pending) <= limit:
            super().send_400_response(msg)
            return
        self.transport.write(_headers_too_large(limit))
        self.transport.close()


class _GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser: about a fifth less CPU per issuing
    request than h11, bench/RESULTS.md) with the cap h11 has and llhttp lacks: uvicorn
    would gather a head of any size. Counted per read while a head is incomplete, so a
    head is refused within one read (at most 64 KiB) of the cap; the middleware refuses
    complete heads past the cap exactly (guard.py)."""

    _in_head = True
    _head_bytes = 0

    def on_message_begin(self) -> None:
        self._in_head, self._head_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        limit = self.config.h11_max_incomplete_event_size
        over = self._in_head and limit is not None and self._head_bytes > limit
        if over and limit is not None and not self.transport.is_closing():
            self.transport.write(_headers_too_large(limit))
            self.transport.close()


# h11 stays the fallback: httptools is a C extension that may not build everywhere.
_PROTOCOL: type[asyncio.Protocol] = _GuardedHttpTools if httptools_available else _GuardedH11


class HttpServer:
    def __init__(
        self,
        ctx: Context,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssh_listening: Callable[[], bool] | None = None,
        reuse_port: bool = False,
        grace: float | None = None,
    ) -> None:
        self._app = create_app(ctx, ssh_listening=ssh_listening)
        self._ctx = ctx
        self._max_header_bytes = ctx.settings.http_max_header_bytes
        self._host = host
        self._port = port
        # reuse_port: several `serve` workers share the port (SO_REUSEPORT); grace: how
        # long stop() lets requests in flight finish (None: as long as they take).
        self._reuse_port = reuse_port
        self._grace = grace
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuing_disabled(self) -> str | None:
        """Why issuing is off (no CA secret), or None."""
        reason: str | None = self._app.state.issuing_disabled
        return reason

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the HTTP server is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # proto must be IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections
        # only then, and without it Nagle + delayed ACKs add 40 ms to every response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise ConfigurationError(
                f"cannot listen for HTTP on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from exc
        self._socket = sock
        # X-Forwarded-For/-Proto only from http_trusted_proxies (by default nobody): uvicorn
        # would otherwise believe them from 127.0.0.1, letting a local client choose the
        # address recorded (and bound) for its request.
        trusted = [
            part.strip() for part in self._ctx.settings.http_trusted_proxies.split(",")
            if part.strip()
        ]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            log_config=None,  # its records go to the root logger (gitward/logging.py)
            lifespan="off",
            access_log=False,
            server_header=False,
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or None,
            timeout_graceful_shutdown=None if self._grace is None else int(self._grace),
            http=_PROTOCOL,
            h11_max_incomplete_event_size=self._max_header_bytes,
        )
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="gitward-http", daemon=True
        )
        self._thread.start()
        while not self._server.started:  # uvicorn sets the flag once it accepts
            if not self._thread.is_alive():
                self.stop()
                raise ConfigurationError("the HTTP server did not start (see the log)")
            ready.wait(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None
