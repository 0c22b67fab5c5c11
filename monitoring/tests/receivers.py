"""A real webhook receiver for tests: http.server on 127.0.0.1 (port 0) in a thread.

It answers from a script: a status code per request in order (the last one
repeats), or HANG to read the request and never answer. Every request is kept
(headers and raw body) and its signature checked with the secret, as docs/alerts.md
tells receivers to.
"""
from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"
# The serving loop stops after this many requests, or when the receiver is closed.
MAX_REQUESTS = 20_000


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool  # X-Monitoring-Signature matches the body under the secret


class Receiver:
    def __init__(self, *, secret: str, answers: list = (200,), delay: float = 0.0) -> None:
        self.secret = secret.encode()
        self.answers = list(answers)
        self.delay = delay
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.timeout = 0.05
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._thread.join()
        self._server.server_close()

    def _serve(self) -> None:
        for _ in range(MAX_REQUESTS):
            if self._closed.is_set():
                return
            self._server.handle_request()

    def _answer(self, headers: dict[str, str], body: bytes):
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        with self._lock:
            self.requests.append(Received(headers, body, hmac.compare_digest(expected, headers.get("X-Monitoring-Signature", ""))))
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver._answer(dict(self.headers.items()), body)
                if answer == HANG:
                    receiver._closed.wait(30)
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                """Quiet: pytest shows failures, not every request."""

        return Handler
