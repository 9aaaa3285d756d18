"""A small HTTP server on 127.0.0.1 that a fake provider API builds on.

Each fake runs a stdlib ``ThreadingHTTPServer`` in a background thread, records every
request, and answers through ``handle()``. By default it speaks HTTP/1.0 (one request per
connection); ``keep_alive=True`` speaks HTTP/1.1 with persistent connections, as the real
providers do (the SDKs pool them), for load tests. Either way ``stop()`` is honest: it closes
the connections still open, so clients get "connection refused", never a pooled socket that
still reaches the old server.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops bursts of concurrent connections (the
    # client then waits ~1 s to retry the SYN); load tests open many at once.
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """End every connection still open (a kept-alive one would outlive the server)."""
        with self._open_lock:
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RDWR)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received: headers lower-cased, body parsed where possible."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, list[str]] | None = None
    json: Any = None

    def field(self, name: str) -> str | None:
        """First value of form field ``name`` (None when absent)."""
        values = (self.form or {}).get(name)
        return values[0] if values else None


@dataclass
class Failure:
    """An error the fake will answer instead of handling the next request."""

    status: int
    code: int | str | None = None
    message: str = ""
    retry_after: int | None = None
    body: bytes | dict[str, Any] | None = None  # answer exactly this instead of the envelope


class FakeProviderServer:
    """Base of the fakes: lifecycle, recording, and queued failures."""

    api_prefix = ""  # path the backend's api_base_url must include (e.g. "/v2")

    def __init__(self, host: str = "127.0.0.1", port: int = 0, keep_alive: bool = False) -> None:
        self._address = (host, port)
        self.keep_alive = keep_alive
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: list[Failure] = []
        self.delay_seconds = 0.0  # answer slowly, to exercise client timeouts

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakeProviderServer:
        """Bind (a free port by default) and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = _Server(self._address, _handler_for(self))
        # Keep the port: base_url stays valid after stop(), and a restart reuses it.
        self._address = (self._address[0], int(self._server.server_address[1]))
        self._thread = threading.Thread(
            # A short poll interval makes stop() take milliseconds, not half a second.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket: new connections are refused until start()."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_open_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (known once started; kept after ``stop``)."""
        if not self._address[1]:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self._address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: scheme and host the fake answers on."""
        return f"http://{self._address[0]}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """What to pass as the backend's ``api_base_url``."""
        return self.base_url + self.api_prefix

    # ---------------------------------------------------------------- recording
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (AssertionError if none)."""
        recorded = self.requests
        assert recorded, f"{type(self).__name__} received no request"
        return recorded[-1]

    def reset(self) -> None:
        """Forget recorded requests and queued failures."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        code: int | str | None = None,
        message: str = "",
        retry_after: int | None = 1,
        body: bytes | dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``n`` requests with the provider's error envelope.

        ``code`` defaults to the provider's code for ``status``; 429 answers carry
        ``Retry-After: retry_after``. ``body`` (a dict sent as JSON, or raw bytes such as
        a proxy's HTML error page) replaces the envelope.
        """
        with self._lock:
            for _ in range(n):
                self._failures.append(Failure(status, code, message, retry_after, body))

    # ---------------------------------------------------------------- handling
    def _serve(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self._requests.append(request)
            failure = self._failures.pop(0) if self._failures else None
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if failure is not None:
            if isinstance(failure.body, bytes):
                status, headers, body = failure.status, {"Content-Type": "text/html"}, failure.body
            elif failure.body is not None:
                status, headers, body = json_answer(failure.status, failure.body)
            else:
                status, headers, body = self.failure_answer(failure)
            if failure.status == 429 and failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            return status, headers, body
        return self.handle(request)

    def handle(self, request: RecordedRequest) -> Answer:
        """Answer a request that is not a queued failure (implemented by each fake)."""
        raise NotImplementedError

    def failure_answer(self, failure: Failure) -> Answer:
        """The provider-shaped error answer for a queued failure."""
        raise NotImplementedError


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    """A JSON response triple."""
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return status, all_headers, json.dumps(payload).encode()


def _handler_for(fake: FakeProviderServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "CareRelayFake/1.0"
        protocol_version = "HTTP/1.1" if fake.keep_alive else "HTTP/1.0"
        # Headers and body go out as two writes: on a kept-alive connection Nagle's algorithm
        # would hold the second until the client's delayed ACK (~40 ms a request).
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            content_type = headers.get("content-type", "")
            form = json_body = None
            if content_type.startswith("application/x-www-form-urlencoded"):
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            elif content_type.startswith("application/json") and body:
                try:
                    json_body = json.loads(body)
                except ValueError:
                    json_body = None
            recorded = RecordedRequest(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query, keep_blank_values=True),
                headers=headers,
                body=body,
                form=form,
                json=json_body,
            )
            status, response_headers, payload = fake._serve(recorded)
            self.send_response(status)
            for name, value in response_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request logging (it would print recipients to stderr)."""

    return Handler
