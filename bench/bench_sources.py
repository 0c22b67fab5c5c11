"""Sources benchmark (SPEC 10): the full-size dataset as one zip over local HTTP against the same CSV files from a folder.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_sources.py

Generates the full-size dataset (`manage.py make_dataset`) into bench/out/sources/,
zips its three files (deflate, as published) and serves the zip from a real HTTP server on
127.0.0.1 (the tests' one: ETag and Last-Modified). Each load runs in a child process
against its own fresh database (`bench_j_zip`, `bench_j_folder`, dropped at the end), so
neither inherits the other's partitions, statistics or caches: the zip fetched and
loaded from its URL, then a refresh round of the unchanged URL (one conditional GET
answered 304); and the folder of CSV files loaded the same way.
Targets: zip over HTTP <= 1.3 x folder; unchanged refresh < 0.2 s. The last line printed
is one JSON object of figures (docs/performance.md records them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

from benchkit import (  # bench/ is this script's folder on sys.path
    OUT as BENCH_OUT,
    ROOT,
    drop_database,
    log,
    manage,
    use_fresh_database,
)

OUT = BENCH_OUT / "sources"
ZIP_RATIO_TARGET = 1.3
UNCHANGED_TARGET_S = 0.2


def main() -> None:
    if len(sys.argv) == 3:  # a child: one load into the database DATABASE_URL names
        print(json.dumps(_measure(source=sys.argv[2], with_refresh=sys.argv[1] == "zip")))
        return
    folder = OUT / "folder"
    shutil.rmtree(OUT, ignore_errors=True)
    manage("make_dataset", str(folder))
    archive = OUT / "store-monitoring-data.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, arcname=path.name)
    sys.path.insert(0, str(ROOT))
    from monitoring.tests.http_fixtures import source_server  # plain http.server: no Django in this process

    with source_server() as server:
        server.files[archive.name] = archive.read_bytes()
        zipped_figures = _child("zip", server.file_url(archive.name))
    folder_figures = _child("folder", str(folder))
    print(json.dumps({
        "polls": folder_figures["polls"],
        "csv_mb": round(sum(p.stat().st_size for p in folder.iterdir()) / 1e6, 1),
        "zip_mb": round(archive.stat().st_size / 1e6, 1),
        "zip_over_http_s": zipped_figures["load_s"],
        "folder_s": folder_figures["load_s"],
        "ratio": round(zipped_figures["load_s"] / folder_figures["load_s"], 2),
        "ratio_target": ZIP_RATIO_TARGET,
        "unchanged_refresh_s": zipped_figures["refresh_s"],
        "unchanged_target_s": UNCHANGED_TARGET_S,
        "unchanged_modes": zipped_figures["refresh_modes"],
        "cpus": os.cpu_count(),
    }))


def _child(kind: str, source: str) -> dict:
    name = f"bench_j_{kind}"
    admin_url = use_fresh_database(name=name, embedded_pgdata=OUT / f"pgdata-{kind}")
    try:
        manage("migrate", "--verbosity", "0")
        output = subprocess.run([sys.executable, __file__, kind, source], check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        drop_database(name=name, admin_url=admin_url)
        if admin_url:
            os.environ["DATABASE_URL"] = admin_url  # the next child's database is made from the server's URL again
    return json.loads(output.strip().splitlines()[-1])


def _measure(*, source: str, with_refresh: bool) -> dict:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "main.settings")
    django.setup()
    from monitoring.ingest.refresher import refresh_round
    from monitoring.ingest.sources import ingest_sources

    loaded, load_s = _timed(lambda: ingest_sources(sources=[source], progress=log))
    figures = {"polls": next(r.rows_read for r in loaded if r.kind == "polls"), "load_s": load_s}
    results = list(loaded)
    if with_refresh:
        unchanged, figures["refresh_s"] = _timed(lambda: refresh_round(data_dir=source))
        log(f"unchanged refresh: {unchanged.line()}")
        figures["refresh_modes"] = sorted({r.mode for r in unchanged.results})
        results += unchanged.results
    failures = [r.error for r in results if not r.ok]
    if failures:
        raise SystemExit(f"loads failed: {failures}")
    return figures


def _timed(action):
    started = time.perf_counter()
    result = action()
    return result, round(time.perf_counter() - started, 2)


if __name__ == "__main__":
    main()
