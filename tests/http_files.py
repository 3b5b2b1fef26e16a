"""A local HTTP server over a folder, for the tests of the public-download path
(``$LEMA_DATA_MIRROR``): no network, the real files or deliberately wrong bytes."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D102
        pass


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free local port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def pinned_mirror(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str, payload: bytes
) -> Iterator[tuple[Path, Path, str]]:
    """The public file ``key`` of ``lema.data.download.PUBLIC`` pinned to ``payload``'s sha256
    and served as it is, through ``$LEMA_DATA_MIRROR`` into a fresh ``$LEMA_DATA_CACHE``;
    yields (the served file, the cache folder, the cache name)."""
    import hashlib

    from lema.data import download

    pinned = download.PUBLIC[key]
    remote = download.Remote(pinned.name, pinned.urls, hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(download.PUBLIC, key, remote)
    served, cache = tmp_path / "served", tmp_path / "cache"
    served.mkdir()
    (served / pinned.name).write_bytes(payload)
    monkeypatch.setenv("LEMA_DATA_CACHE", str(cache))
    with http_server(served) as base:
        monkeypatch.setenv("LEMA_DATA_MIRROR", base)
        yield served / pinned.name, cache, pinned.name
