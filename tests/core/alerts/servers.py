"""Loopback HTTP servers for delivery tests: a webhook receiver and a Telegram Bot API stand-in.

Each server answers from a script of responses (status, JSON body, delay, headers), one per request,
the last repeated; it records every request body. `hold` blocks the next answers until released, so
a test can prove the pipeline did not wait, without measuring time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable; None -> {"ok": true}
    delay_s: float = 0.0  # sleep before answering (a timeout test)
    headers: dict[str, str] = field(default_factory=dict)


class Loopback:
    """A ThreadingHTTPServer on 127.0.0.1 with a scripted list of replies."""

    def __init__(self, replies: list[Reply] | None = None, token: str | None = None) -> None:
        self.replies = list(replies or [Reply()])
        self.token = token  # Telegram stand-in: only /bot<token>/sendMessage is known
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.hold = threading.Event()
        self.hold.set()  # set = answer at once
        self.arrived = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _next(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with outer._lock:
                    outer.paths.append(self.path)
                    outer.headers.append(dict(self.headers))
                    outer.requests.append(json.loads(raw) if raw else {})
                outer.arrived.release()
                outer.hold.wait(30)
                if outer.token is not None and self.path != f"/bot{outer.token}/sendMessage":
                    reply = Reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                else:
                    reply = outer._next()
                if reply.delay_s:
                    threading.Event().wait(reply.delay_s)
                body = json.dumps({"ok": True, "result": {}} if reply.body is None else reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

        return Handler

    def start(self) -> Loopback:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.hold.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def loopback(replies: list[Reply] | None = None, token: str | None = None) -> Iterator[Loopback]:
    server = Loopback(replies, token).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
