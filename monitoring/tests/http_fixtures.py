"""A real HTTP server on 127.0.0.1 for the source tests: files with ETag and Last-Modified,
redirect chains, errors, a stall and a connection cut halfway through a body."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_LIMIT_SECONDS = 5.0  # a stalled answer is given up by the server at the latest after this


@dataclass
class SourceServer:
    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, If-None-Match sent)
    release: threading.Event = field(default_factory=threading.Event)

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"


def _handler(server: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: pytest shows failures, not access logs
            pass

        def do_GET(self) -> None:
            server.requests.append((self.path, self.headers.get("If-None-Match", "")))
            parts = self.path.strip("/").split("/")
            if parts[0] == "files":
                self._file("/".join(parts[1:]))
            elif parts[0] == "redirect":
                hops = int(parts[1])
                target = f"/redirect/{hops - 1}/{'/'.join(parts[2:])}" if hops > 1 else f"/files/{'/'.join(parts[2:])}"
                self._answer(302, b"", {"Location": target})
            elif parts[0] == "status":
                self._answer(int(parts[1]), b"no luck")
            elif parts[0] == "stall":
                server.release.wait(STALL_LIMIT_SECONDS)
                self._answer(200, b"store_id,status,timestamp_utc\n")
            elif parts[0] == "cut":
                body = server.files["/".join(parts[1:])]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
            else:
                self._answer(404, b"not here")

        def _file(self, name: str) -> None:
            body = server.files.get(name)
            if body is None:
                self._answer(404, b"not here")
                return
            etag = f'"{hashlib.md5(body).hexdigest()}"'
            validators = {"ETag": etag, "Last-Modified": formatdate(1_700_000_000 + len(body), usegmt=True)}
            if self.headers.get("If-None-Match") == etag:
                self._answer(304, b"", validators)
            else:
                self._answer(200, body, validators)

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def source_server() -> Iterator[SourceServer]:
    state = SourceServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=STALL_LIMIT_SECONDS)
