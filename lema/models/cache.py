"""The persistent response cache shared by every backend.

One entry per completion (one sample of one request). The key is the sha256 of a canonical
JSON of (backend, model identity, request content, sampling settings, sample index) — never
the API key, the endpoint's credentials or the number of samples asked for, so asking for
n=8 after n=4 reuses the first four.

Safe for many jobs on many hosts at once, also on a network filesystem: no two processes
ever write one file. The cache ``responses.sqlite`` is a read-only *base* file plus a folder
``responses.sqlite.d/`` of *shards*; each writing process creates its own shard (named by
host, pid and a random token), writes it with a rollback journal (never WAL, which needs
shared memory on one host) and seals it when it closes. A lookup reads the base and every
shard, picking up shards created since the last lookup, so a job sees what other jobs had
stored when it started. Each completion is committed as it arrives (``synchronous=FULL``), so
a crash or a killed job loses nothing already paid for. ``lema cache stats`` and
``lema cache merge`` (:mod:`lema.models.cache_admin`) inspect and compact the shards. File
layout and safe opening: :mod:`lema.models.cache_files`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lema.errors import LemaError
from lema.models.cache_files import (
    Reader,
    base_path,
    list_shards,
    new_shard,
    parse_shard_name,
    seal,
)

DEFAULT_CACHE = ".lema-cache/responses.sqlite"
KEY_VERSION = 1
CHUNK = 500  # keys per SELECT ... IN (...)

Entry = tuple[str, dict[str, Any]]


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


def lookup(conn: sqlite3.Connection, wanted: set[str], estimate: int) -> dict[str, Entry]:
    """The entries of ``wanted`` in one file. Many keys against a small file: scan the
    file's keys (its index) and fetch the hits; few keys: probe each."""
    if len(wanted) * 8 > estimate:
        probe = [k for (k,) in conn.execute("SELECT key FROM responses") if k in wanted]
    else:
        probe = list(wanted)
    out: dict[str, Entry] = {}
    for start in range(0, len(probe), CHUNK):
        chunk = probe[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT key, completion, meta FROM responses WHERE key IN ({marks})"
        for key, completion, meta in conn.execute(sql, chunk).fetchall():
            out[key] = (completion, json.loads(meta))
    return out


class ResponseCache:
    """A key -> (completion, meta) store: a base file and one shard per writing process."""

    keep_open = 64  # shards kept open between lookups; the others are opened per lookup

    def __init__(self, path: str | Path, timeout_s: float = 120.0) -> None:
        self.path = base_path(path)
        self.timeout_s = timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LemaError(
                f"response cache {self.path}: cannot create its folder ({exc})"
            ) from None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._base: Reader | None = None
        self._base_id: tuple[int, int, int] | None = None
        self._paths: list[Path] = []  # the other processes' shards, in lookup order
        self._shards: dict[Path, Reader] = {}  # those kept open
        self._warned: set[Path] = set()
        self.shard: Path | None = None  # this process's own shard, once it wrote something
        self._conn: sqlite3.Connection | None = None
        with self._lock:
            self._refresh()

    # -- reading -----------------------------------------------------------------------
    def _refresh(self) -> None:
        """Reopen the base if merge replaced it; open shards that appeared; forget gone ones."""
        if self._pid != os.getpid():  # forked: connections do not cross a fork
            self._base, self._base_id, self._shards = None, None, {}
            self.shard, self._conn, self._pid = None, None, os.getpid()
        try:
            st = os.stat(self.path)
            ident = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            ident = None
        if ident != self._base_id:
            if self._base:
                self._base.close()
            self._base, self._base_id = None, ident
            if ident is not None:
                try:
                    self._base = Reader(self.path, immutable=True, timeout_s=self.timeout_s)
                except (sqlite3.Error, OSError) as exc:
                    raise LemaError(f"response cache {self.path}: cannot read ({exc})") from None
        self._paths = [p for p in list_shards(self.path) if p != self.shard]
        for gone in set(self._shards) - set(self._paths):
            self._shards.pop(gone).close()

    def _readers(self) -> Iterator[Reader]:
        """The base, then each shard in order: the first ``keep_open`` shards stay open between
        lookups, the others are opened for this one only (file handles stay bounded)."""
        if self._base:
            yield self._base
        for path in self._paths:
            reader = self._shards.get(path)
            transient = False
            if reader is None:
                name = parse_shard_name(path.name)
                try:
                    reader = Reader(
                        path, immutable=bool(name and name.sealed), timeout_s=self.timeout_s
                    )
                except (sqlite3.Error, OSError) as exc:
                    self._skip(path, exc)
                    continue
                if len(self._shards) < self.keep_open:
                    self._shards[path] = reader
                else:
                    transient = True
            try:
                yield reader
            finally:
                if transient:
                    reader.close()

    def _skip(self, path: Path, exc: Exception) -> None:
        """A shard that cannot be read now is left out of this lookup (said once)."""
        if "no such table" in str(exc):  # a shard its writer has only just created
            return
        if path not in self._warned:
            self._warned.add(path)
            print(f"lema: response cache: skipping {path} ({exc})", file=sys.stderr)

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """The cached (completion, meta) of each key present, from the base, then every shard
        in name order (so every reader, and a merge, picks the same entry of a key)."""
        wanted = set(keys)
        out: dict[str, Entry] = {}
        with self._lock:
            self._refresh()
            for reader in self._readers():
                if not wanted:
                    break
                try:  # a few keys are always probed: no need to size the file
                    size = reader.estimate() if len(wanted) > 256 else 1 << 62
                    found = lookup(reader.conn, wanted, size)
                except sqlite3.Error as exc:
                    self._skip(reader.path, exc)
                    continue
                out.update(found)
                wanted.difference_update(found)
            if wanted and self._conn is not None:
                out.update(lookup(self._conn, wanted, 1 << 62))
        return out

    def get(self, key: str) -> Entry | None:
        return self.get_many([key]).get(key)

    # -- writing -----------------------------------------------------------------------
    def _writer(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._refresh()
        if self._conn is None:
            try:
                self.shard, self._conn = new_shard(self.path, self.timeout_s)
            except (sqlite3.Error, OSError) as exc:
                raise LemaError(
                    f"response cache {self.path}: cannot create a shard ({exc})"
                ) from None
        return self._conn

    def put(self, key: str, completion: str, meta: dict[str, Any] | None = None) -> None:
        self.put_many([(key, completion, meta or {})])

    def put_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Store completions in this process's shard, in one committed transaction (a key
        already in the shard keeps its first entry)."""
        now = time.time()
        rows = [(k, c, canonical_json(m or {}), now) for k, c, m in items]
        if not rows:
            return
        with self._lock:
            conn = self._writer()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO responses (key, completion, meta, created) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def keys(self) -> set[str]:
        """Every key stored, in any file."""
        with self._lock:
            self._refresh()
            out: set[str] = set()
            for reader in self._readers():
                out.update(k for (k,) in reader.conn.execute("SELECT key FROM responses"))
            if self._conn is not None:
                out.update(k for (k,) in self._conn.execute("SELECT key FROM responses"))
            return out

    def __len__(self) -> int:
        return len(self.keys())

    def close(self) -> None:
        """Close every file and seal this process's shard."""
        with self._lock:
            if self._pid != os.getpid():
                return
            for reader in [self._base, *self._shards.values()]:
                if reader:
                    reader.close()
            self._base, self._base_id, self._shards = None, None, {}
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                if self.shard is not None and self.shard.exists():
                    self.shard = seal(self.shard)

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
