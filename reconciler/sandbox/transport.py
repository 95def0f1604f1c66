"""Serve an emulator's request handler in-process (an httpx transport) or over real HTTP.
Imports httpx and the standard library only; the emulators themselves know nothing of sockets.

An emulator is a callable ``handler(request: httpx.Request) -> httpx.Response``. To simulate
network faults it raises ``SimulatedReset`` (the connection drops, possibly *after* the work was
done) or ``SimulatedTimeout``; each adapter turns those into what a real client would see.
"""

from __future__ import annotations

import http.server
import socket
import sys
import threading
from collections.abc import Callable
from types import TracebackType

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


class SimulatedReset(Exception):
    """Raised by an emulator: drop the connection without an answer."""


class SimulatedTimeout(Exception):
    """Raised by an emulator: never answer (in-process: the client sees a read timeout)."""


def in_process_transport(handler: Handler) -> httpx.MockTransport:
    """An httpx transport that calls ``handler`` directly: no socket, same wire format."""

    def handle(request: httpx.Request) -> httpx.Response:
        request.read()
        try:
            return handler(request)
        except SimulatedReset as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
        except SimulatedTimeout as exc:
            raise httpx.ReadTimeout("timed out", request=request) from exc

    return httpx.MockTransport(handle)


class _QuietServer(http.server.ThreadingHTTPServer):
    """A server that says nothing when a client hangs up before its answer is written (a
    client that timed out or stopped): that is the client's business, not an error here,
    and printing it would land in the output of whoever shares this process."""

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class EmulatorServer:
    """``handler`` served over real HTTP on 127.0.0.1 (a free port unless one is given).

    Use as a context manager, or call ``start()``/``stop()``. ``url`` is the base address.
    """

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        server_handler = _make_request_handler(handler)
        self._server = _QuietServer((host, port), server_handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _make_request_handler(handler: Handler) -> type[http.server.BaseHTTPRequestHandler]:
    class RequestHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate small writes; without TCP_NODELAY, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            """Silent: request lines could carry filter values (emails)."""

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host", "localhost")
            request = httpx.Request(
                self.command,
                f"http://{host}{self.path}",
                headers=list(self.headers.items()),
                content=body,
            )
            try:
                response = handler(request)
            except (SimulatedReset, SimulatedTimeout):
                # Drop the connection abruptly: RST instead of an orderly close.
                self.close_connection = True
                try:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.connection.close()
                except OSError:
                    pass
                return
            content = response.read()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = _dispatch
        do_POST = _dispatch
        do_PATCH = _dispatch
        do_PUT = _dispatch
        do_DELETE = _dispatch

    return RequestHandler
