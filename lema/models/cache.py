"""The persistent response cache shared by every backend.

One SQLite table, one row per completion (one sample of one request). The key is the sha256
of a canonical JSON of (backend, model identity, request content, sampling settings, sample
index) — never the API key, the endpoint's credentials or the number of samples asked for,
so asking for n=8 after n=4 reuses the first four.

Safe under several processes writing at once: WAL journal, a long busy timeout, one short
autocommit transaction per write, ``INSERT OR IGNORE`` (the first writer of a key wins and
later ones are harmless). Each completion is written as soon as it arrives, so a crash or a
killed job loses nothing already paid for.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lema.errors import LemaError

DEFAULT_CACHE = ".lema-cache/responses.sqlite"
KEY_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    completion TEXT NOT NULL,
    meta TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID
"""


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(
    identity: dict[str, Any], content: dict[str, Any], sampling: dict[str, Any], index: int
) -> str:
    """sha256 of the canonical JSON of one sample's identity."""
    doc = {"v": KEY_VERSION, "id": identity, "in": content, "s": sampling, "i": int(index)}
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def default_cache_path() -> str:
    return os.environ.get("LEMA_CACHE") or DEFAULT_CACHE


class ResponseCache:
    """A key -> (completion, meta) store in one SQLite file."""

    def __init__(self, path: str | Path, timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._retry(lambda: self._conn.execute(_SCHEMA))
        except sqlite3.Error as exc:
            raise LemaError(f"response cache {self.path}: cannot open ({exc})") from None
        self._lock = threading.Lock()

    @staticmethod
    def _retry(fn: Any, attempts: int = 50) -> Any:
        """Run ``fn``, retrying briefly on 'database is locked' (e.g. a WAL switch race)."""
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or i == attempts - 1:
                    raise
                time.sleep(0.05 * (i + 1))
        return None

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """The cached (completion, meta) of each key present."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._retry(
                    lambda chunk=chunk, marks=marks: self._conn.execute(
                        f"SELECT key, completion, meta FROM responses WHERE key IN ({marks})", chunk
                    ).fetchall()
                )
                for key, completion, meta in rows:
                    out[key] = (completion, json.loads(meta))
        return out

    def get(self, key: str) -> tuple[str, dict[str, Any]] | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, completion: str, meta: dict[str, Any] | None = None) -> None:
        self.put_many([(key, completion, meta or {})])

    def put_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Store completions in one short transaction (existing keys are kept)."""
        now = time.time()
        rows = [(k, c, canonical_json(m or {}), now) for k, c, m in items]
        if not rows:
            return
        with self._lock:
            self._retry(
                lambda: self._conn.executemany(
                    "INSERT OR IGNORE INTO responses (key, completion, meta, created) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class NullCache:
    """No caching (``cache=False``)."""

    path = None

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {}

    def put_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        for _ in items:
            pass

    def put(self, key: str, completion: str, meta: dict[str, Any] | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def open_cache(cache: str | Path | ResponseCache | NullCache | bool | None) -> tuple[Any, bool]:
    """(cache object, whether we opened it and must close it)."""
    if isinstance(cache, ResponseCache | NullCache):
        return cache, False
    if cache is False or (isinstance(cache, str) and cache.lower() in ("", "none", "off")):
        return NullCache(), True
    if cache is None or cache is True:
        cache = default_cache_path()
    return ResponseCache(cache), True
