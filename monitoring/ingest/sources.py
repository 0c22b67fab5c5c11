"""Sources beyond a local folder (SPEC 10): zip archives, URLs and uploads, as local CSV files.

A source is a CSV file, a .csv.gz, a folder of them, a .zip of CSV files or an
http(s) URL of any of these files. Folders and plain files go to the loader as
they are. A URL is downloaded (monitoring/ingest/fetch.py, conditionally on the
validators kept in RemoteSource) and a zip's CSV members are streamed out, both
into one temporary folder outside the project that is deleted after the load.
Each such file keeps the name of where it came from ("data.zip:store status.csv",
"https://…/data.zip:store status.csv"): rejected rows and the load history use it,
so an unchanged member is recognised next time although its temporary path differs.

A URL's validators are saved only when all its files loaded, so a failed round is
fetched again next round; a failed fetch changes nothing in the data.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from django.conf import settings
from django.utils import timezone

from monitoring.alerts.events import RoundAlerts, alerts_decide
from monitoring.ingest.digests import DigestOutcome, digests_refresh
from monitoring.ingest.fetch import FetchError, Transfer, Validators, fetch_url
from monitoring.ingest.load import FileResult, Progress, ingest_paths, stored_new_polls
from monitoring.ingest.parse import SourceError
from monitoring.models import RemoteSource

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
CSV_SUFFIXES = (".csv", ".csv.gz")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or the end record of an empty zip
GZIP_MAGIC = b"\x1f\x8b"


def split_sources(value: str | Path | Sequence[str | Path]) -> list[str]:
    """settings.MONITORING_DATA_DIR (a path, a URL, or several separated by commas) as a list."""
    if isinstance(value, Path):
        return [str(value)]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]


def is_url(source: str) -> bool:
    return urlparse(source).scheme.lower() in ("http", "https")


@dataclass
class _Unpacked:
    """The local files to load, what each is called, and the sources that gave none."""

    work: Path
    files: list[Path] = field(default_factory=list)
    names: dict[Path, str] = field(default_factory=dict)
    results: list[FileResult] = field(default_factory=list)  # failed, unchanged or ignored sources
    fetched: dict[str, Validators] = field(default_factory=dict)  # URL -> validators to keep once loaded
    placed: int = 0

    def add(self, path: Path, *, name: str = "") -> None:
        self.files.append(path)
        if name:
            self.names[path.resolve()] = name

    def place(self, *, name: str) -> Path:
        """A new spot in the temporary folder for a file called `name` (a folder each: names may repeat)."""
        self.placed += 1
        folder = self.work / str(self.placed)
        folder.mkdir()
        return folder / (PurePosixPath(name).name or "source")


@dataclass
class IngestRound:
    results: list[FileResult]
    alerts: RoundAlerts | None  # None: no new poll was stored, so nothing to decide
    digests: DigestOutcome = field(default_factory=DigestOutcome)

    @classmethod
    def after(cls, results: list[FileResult]) -> IngestRound:
        """The files' results, then the closed days digested (any round: after an upgrade the
        first one digests the history kept, and one with nothing to do costs three small
        queries), then, if the files stored polls, the alert events decided (which read the digests)."""
        digested = digests_refresh()
        return cls(results=results, alerts=alerts_decide() if stored_new_polls(results) else None, digests=digested)


def ingest_round(
    *, sources: Sequence[str | Path], strict: bool = False, full: bool = False,
    progress: Progress | None = None, transfer: Transfer | None = None,
) -> IngestRound:
    """Load the sources, digest the closed days, then decide the alert events if new polls were stored (SPEC 9).

    Every way data comes in goes through here or upload_round (`runscript load`, the
    refresher, an upload), so no round that stored polls is left without its events.
    """
    return IngestRound.after(ingest_sources(sources=sources, strict=strict, full=full, progress=progress, transfer=transfer))


def upload_round(*, path: Path, filename: str, progress: Progress | None = None) -> IngestRound:
    """An uploaded source loaded as any round is: then the digests and its alert events."""
    return IngestRound.after(ingest_upload(path=path, filename=filename, progress=progress))


def ingest_sources(
    *,
    sources: Sequence[str | Path],
    strict: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    transfer: Transfer | None = None,
) -> list[FileResult]:
    """Load every source named; `full` also ignores a URL's validators (downloads it whatever they say)."""
    with tempfile.TemporaryDirectory(prefix="monitoring-sources-") as work:
        unpacked = _Unpacked(work=Path(work))
        for source in sources:
            _resolve(str(source), unpacked=unpacked, full=full, transfer=transfer)
        results = ingest_paths(paths=unpacked.files, strict=strict, full=full, progress=progress, sources=unpacked.names)
    _remember_validators(unpacked.fetched, results=results)
    return unpacked.results + results


def ingest_upload(*, path: Path, filename: str, progress: Progress | None = None) -> list[FileResult]:
    """Load an uploaded file (a CSV, CSV.gz or zip, told apart by its bytes) under the name "upload:<filename>"."""
    name = f"upload:{PurePosixPath(filename.replace(chr(92), '/')).name or 'file'}"
    with tempfile.TemporaryDirectory(prefix="monitoring-upload-") as work:
        unpacked = _Unpacked(work=Path(work))
        try:
            _local_file(path, name=name, unpacked=unpacked, transfer=None, keep=True)
        except SourceError as error:
            _failed(name, error=str(error), unpacked=unpacked)
        results = ingest_paths(paths=unpacked.files, progress=progress, sources=unpacked.names)
    return unpacked.results + results


def _resolve(source: str, *, unpacked: _Unpacked, full: bool, transfer: Transfer | None) -> None:
    if is_url(source):
        _fetch(source, unpacked=unpacked, full=full, transfer=transfer)
        return
    path = Path(source).expanduser()
    if path.is_file() and path.name.lower().endswith(".zip"):
        name = str(path.resolve())
        try:
            _local_file(path, name=name, unpacked=unpacked, transfer=transfer, keep=True)
        except SourceError as error:
            _failed(name, error=str(error), unpacked=unpacked)
    else:  # a folder, a CSV file, or a missing path: the loader reports those itself
        unpacked.add(path)


def _fetch(url: str, *, unpacked: _Unpacked, full: bool, transfer: Transfer | None) -> None:
    known = None if full else _known_validators(url)
    target = unpacked.place(name="download")
    try:
        fetched = fetch_url(url=url, dest=target, known=known, transfer=transfer)
        if fetched.modified:
            _local_file(target, name=url, unpacked=unpacked, transfer=transfer, keep=False)
    except (FetchError, SourceError) as error:
        _fetch_failed(url, error=str(error), unpacked=unpacked)
        return
    if fetched.modified:
        unpacked.fetched[url] = fetched.validators
    else:
        RemoteSource.objects.filter(url=url).update(checked_at=timezone.now(), error="")
        unpacked.results.append(FileResult(path=Path(target.name), source=url, mode="skipped"))


def _fetch_failed(url: str, *, error: str, unpacked: _Unpacked) -> None:
    RemoteSource.objects.update_or_create(url=url, defaults={"checked_at": timezone.now(), "error": error})
    _failed(url, error=error, unpacked=unpacked)


def _failed(name: str, *, error: str, unpacked: _Unpacked) -> None:
    logger.warning("%s", error)
    unpacked.results.append(FileResult(path=Path(PurePosixPath(name).name), source=name, mode="failed", error=error))


def _known_validators(url: str) -> Validators | None:
    known = RemoteSource.objects.filter(url=url, loaded_at__isnull=False).first()
    return Validators(etag=known.etag, last_modified=known.last_modified) if known else None


def _remember_validators(fetched: dict[str, Validators], *, results: list[FileResult]) -> None:
    """Keep a URL's validators once every file it gave loaded; otherwise the next round fetches it again."""
    for url, validators in fetched.items():
        mine = [r for r in results if r.source == url or r.source.startswith(f"{url}:")]
        if all(r.ok for r in mine):
            RemoteSource.objects.update_or_create(url=url, defaults={
                "etag": validators.etag, "last_modified": validators.last_modified,
                "loaded_at": timezone.now(), "checked_at": timezone.now(), "error": "",
            })
        else:
            failed = next(r for r in mine if not r.ok)
            RemoteSource.objects.update_or_create(url=url, defaults={"checked_at": timezone.now(), "error": failed.error})


def _local_file(path: Path, *, name: str, unpacked: _Unpacked, transfer: Transfer | None, keep: bool) -> None:
    """A downloaded or uploaded file (or a local zip), by what its bytes are: a zip, gzip or plain CSV."""
    kind = _sniff(path, name=name)
    if kind == "zip":
        _unzip(path, name=name, unpacked=unpacked, transfer=transfer)
        return
    basename = PurePosixPath(urlparse(name).path if is_url(name) else name).name
    stem = basename[: -len(".csv.gz")] if basename.lower().endswith(".csv.gz") else basename.rsplit(".", 1)[0] or "source"
    target = unpacked.place(name=stem + (".csv.gz" if kind == "gzip" else ".csv"))
    _move_or_link(path, target=target, keep=keep)
    unpacked.add(target, name=name)


def _sniff(path: Path, *, name: str) -> str:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(ZIP_MAGIC):
        return "zip"
    if urlparse(name).path.lower().endswith(".zip") if is_url(name) else name.lower().endswith(".zip"):
        raise SourceError(f"{name}: not a zip archive (its first bytes are {magic!r})")
    return "gzip" if magic.startswith(GZIP_MAGIC) else "csv"


def _move_or_link(path: Path, *, target: Path, keep: bool) -> None:
    if not keep:
        path.rename(target)
        return
    try:
        os.link(path, target)  # an upload's temporary file, usually on the same file system: no copy
    except OSError:
        shutil.copyfile(path, target)


def _unzip(archive: Path, *, name: str, unpacked: _Unpacked, transfer: Transfer | None) -> None:
    """Stream each CSV member to the temporary folder, at most SOURCE_MAX_BYTES unzipped in all."""
    cap = settings.SOURCE_MAX_BYTES
    too_big = f"{name}: unzips to more than SOURCE_MAX_BYTES ({cap:,} bytes): a zip bomb? Nothing loaded from it"
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [member for member in zipped.infolist() if not member.is_dir()]
            declared = sum(member.file_size for member in members)
            if declared > cap:  # the sizes it declares, before reading any
                raise SourceError(too_big)
            files, total = [], 0
            for member in members:
                member_name = f"{name}:{member.filename}"
                if not member.filename.lower().endswith(CSV_SUFFIXES):
                    unpacked.results.append(FileResult(
                        path=Path(PurePosixPath(member.filename).name), source=member_name, mode="ignored",
                        error="not a .csv or .csv.gz file",
                    ))
                    continue
                target = unpacked.place(name=member.filename)
                total = _copy_member(zipped, member, target=target, total=total, declared=declared, too_big=too_big, transfer=transfer)
                files.append((target, member_name))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise SourceError(f"{name}: not a readable zip archive ({error})") from None
    for target, member_name in files:  # only once the whole archive unzipped within the cap
        unpacked.add(target, name=member_name)


def _copy_member(
    zipped: zipfile.ZipFile, member: zipfile.ZipInfo, *, target: Path, total: int, declared: int, too_big: str, transfer: Transfer | None
) -> int:
    """Unzipped bytes so far, after this member too."""
    with zipped.open(member) as stream, open(target, "wb") as out:
        while chunk := stream.read(CHUNK_BYTES):
            total += len(chunk)
            if total > settings.SOURCE_MAX_BYTES:  # sizes a crafted archive declares falsely are not trusted
                raise SourceError(too_big)
            out.write(chunk)
            if transfer is not None:
                transfer(f"unzipping {member.filename}", total, declared)
    return total
