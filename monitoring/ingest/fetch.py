"""Downloading a source URL (SPEC 10): a conditional GET streamed to a temporary file.

httpx does the HTTP (redirects, timeouts, a body cut short); this module adds what a
source needs on top: the validators of the last load (If-None-Match,
If-Modified-Since), so an unchanged file costs one request and no body, and a cap
on the bytes received (settings.SOURCE_MAX_BYTES) so a huge or endless answer stops.
Every failure is one FetchError whose message says what happened, in words.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings

MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 20

# (what is moving, bytes so far, bytes expected or None): drives a progress bar.
Transfer = Callable[[str, int, int | None], None]


class FetchError(Exception):
    """The URL gave no usable file this time (DNS, refused, timeout, 4xx, 5xx, cut short, too big)."""


@dataclass(frozen=True)
class Validators:
    """What the server said identifies this version of the file."""

    etag: str = ""
    last_modified: str = ""

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class Fetched:
    modified: bool  # False: 304 Not Modified, nothing was read
    validators: Validators
    size: int = 0


def fetch_url(*, url: str, dest: Path, known: Validators | None, transfer: Transfer | None = None) -> Fetched:
    """GET `url` into `dest`, conditionally on `known`; raises FetchError."""
    cap = settings.SOURCE_MAX_BYTES
    try:
        with (
            httpx.Client(timeout=settings.SOURCE_TIMEOUT_SECONDS, follow_redirects=True, max_redirects=MAX_REDIRECTS) as client,
            client.stream("GET", url, headers=known.headers() if known else {}) as response,
        ):
            if response.status_code == httpx.codes.NOT_MODIFIED:
                return Fetched(modified=False, validators=known or Validators())
            if response.status_code != httpx.codes.OK:
                raise FetchError(f"{url}: the server answered {response.status_code} {response.reason_phrase}")
            expected = _content_length(response)
            if expected is not None and expected > cap:
                raise FetchError(f"{url}: {expected:,} bytes is more than SOURCE_MAX_BYTES ({cap:,}): not downloaded")
            size = _save_body(response, dest=dest, url=url, cap=cap, expected=expected, transfer=transfer)
            validators = Validators(etag=response.headers.get("ETag", ""), last_modified=response.headers.get("Last-Modified", ""))
    except httpx.TooManyRedirects:
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FetchError(f"{url}: no answer within {settings.SOURCE_TIMEOUT_SECONDS} s (timeout)") from None
    except httpx.HTTPError as error:  # DNS, refused, a body cut short (httpx checks Content-Length), a bad URL
        raise FetchError(f"{url}: {type(error).__name__}: {error}") from None
    except httpx.InvalidURL as error:  # not an HTTPError subclass
        raise FetchError(f"{url}: not a URL httpx can fetch ({error})") from None
    return Fetched(modified=True, validators=validators, size=size)


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("Content-Length", "")
    return int(raw) if raw.isdigit() and "Content-Encoding" not in response.headers else None


def _save_body(response: httpx.Response, *, dest: Path, url: str, cap: int, expected: int | None, transfer: Transfer | None) -> int:
    size = 0
    with open(dest, "wb") as out:
        for chunk in response.iter_bytes(CHUNK_BYTES):
            size += len(chunk)
            if size > cap:  # no Content-Length, or a compressed answer: the cap still holds
                raise FetchError(f"{url}: more than SOURCE_MAX_BYTES ({cap:,}) bytes: download stopped")
            out.write(chunk)
            if transfer is not None:
                transfer(f"downloading {url}", size, expected)
    return size
