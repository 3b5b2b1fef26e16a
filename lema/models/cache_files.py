"""The files of a response cache, and how to open each one without ever writing another's.

A cache named ``responses.sqlite`` is that file (the *base*: what ``lema cache merge``
writes, or a cache made before shards existed) plus the folder ``responses.sqlite.d/`` of
*shards*, one per writing process::

    responses.sqlite                      base (read-only to every job)
    responses.sqlite.d/
        node7-4121-9f3a0c2b1d4e.open.sqlite   a shard being written (or left by a crash)
        node3-880-1b2c3d4e5f60.sqlite        a sealed shard: its writer closed it

A shard is created with ``O_EXCL`` under a name no other process on any host can pick
(hostname, pid, 48 random bits), written by that one process with a rollback journal
(``journal_mode=PERSIST``, never WAL), and renamed to its sealed name when closed. So no two
processes ever write one file, and nothing relies on shared memory or on file locks between
hosts.

Reading is read-only and picks the safest way that gives the committed content:

- sealed shards and a rollback-journal base without a ``-journal`` beside them never change
  again (merge replaces the base by rename): opened ``immutable=1`` (no locks at all);
- an open shard: ``mode=ro`` with SQLite's locks, so a writer on this host is respected;
- a file that needs recovery — a hot journal left by a killed writer (``mode=ro`` answers
  SQLITE_READONLY_ROLLBACK), or a legacy WAL base with a non-empty ``-wal`` — is copied with
  its journal into a private temporary folder and the *copy* is recovered and read. The
  original is never touched (recovering it in place would be a second writer).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lema.errors import LemaError

SHARD_SUFFIX = ".sqlite"
OPEN_SUFFIX = ".open.sqlite"
_NAME = re.compile(r"^(?P<host>.+)-(?P<pid>\d+)-(?P<token>[0-9a-f]{12})(?P<open>\.open)?\.sqlite$")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT NOT NULL, completion TEXT NOT NULL, "
    "meta TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS responses_key ON responses (key)",
    "CREATE TABLE IF NOT EXISTS owner (host TEXT NOT NULL, pid INTEGER NOT NULL, "
    "created REAL NOT NULL)",
)


def base_path(path: str | Path) -> Path:
    """The cache's base file ``path``; a folder there is a mistake worth one clear line."""
    base = Path(path)
    if base.is_dir():
        raise LemaError(
            f"response cache {base} is a folder: give the cache's file name "
            f"(e.g. {base / 'responses.sqlite'})"
        )
    return base


def shard_dir(base: Path) -> Path:
    """The folder of shards beside the base file ``base``."""
    return base.with_name(base.name + ".d")


def hostname() -> str:
    """This host's name, reduced to characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname() or "host")


@dataclass(frozen=True)
class ShardName:
    """What a shard's file name says: who wrote it and whether it is sealed."""

    host: str
    pid: int
    sealed: bool

    def abandoned(self) -> bool:
        """True when its writer ran on this host and is gone: an open shard nobody will seal."""
        return not self.sealed and self.host == hostname() and not pid_alive(self.pid)


def parse_shard_name(name: str) -> ShardName | None:
    m = _NAME.match(name)
    if not m:
        return None
    return ShardName(m["host"], int(m["pid"]), sealed=m["open"] is None)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_shards(base: Path) -> list[Path]:
    """Every shard file of the cache ``base``, in lookup order."""
    try:
        names = [e.name for e in os.scandir(shard_dir(base)) if e.is_file()]
    except FileNotFoundError:
        return []
    names = sorted((n for n in names if parse_shard_name(n)), key=order_key)
    return [shard_dir(base) / n for n in names]


def order_key(name: str) -> str:
    """A shard's place in the lookup order: its name without ``.open``, so sealing a shard
    does not move it."""
    return name.replace(OPEN_SUFFIX, SHARD_SUFFIX)


def new_shard(base: Path, timeout_s: float) -> tuple[Path, sqlite3.Connection]:
    """Create this process's own shard (exclusively) and open it for writing."""
    folder = shard_dir(base)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        path = folder / f"{hostname()}-{os.getpid()}-{secrets.token_hex(6)}{OPEN_SUFFIX}"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            break
        except FileExistsError:  # 48 random bits: practically never
            continue
    conn = connect_writer(path, timeout_s)
    conn.execute("INSERT INTO owner VALUES (?, ?, ?)", (hostname(), os.getpid(), time.time()))
    return path, conn


def connect_writer(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that writes ``path`` with a rollback journal and full syncs. The journal
    is kept between commits with a zeroed header (``PERSIST``) instead of being created and
    deleted for every completion: twice the commits/s here, and no file created and removed
    per commit on a cluster filesystem's metadata server. :func:`seal` removes it."""
    conn = sqlite3.connect(
        str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    conn.execute("PRAGMA journal_mode = PERSIST")
    conn.execute("PRAGMA synchronous = FULL")
    for statement in SCHEMA:
        conn.execute(statement)
    return conn


def seal(path: Path) -> Path:
    """Rename a closed open shard to its sealed name (it never changes again), dropping its
    persisted journal (nothing is in flight after a clean close)."""
    Path(str(path) + "-journal").unlink(missing_ok=True)
    sealed = path.with_name(path.name[: -len(OPEN_SUFFIX)] + SHARD_SUFFIX)
    os.replace(path, sealed)
    return sealed


def is_wal(path: Path) -> bool:
    """Whether the file's header says WAL mode (file format version 2)."""
    with open(path, "rb") as fh:
        head = fh.read(20)
    return len(head) == 20 and head[18] == 2


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


class Reader:
    """A read-only view of one cache file, opened the safest way (see the module docstring)."""

    def __init__(self, path: Path, *, immutable: bool, timeout_s: float = 120.0) -> None:
        self.path = path
        self.copy_dir: str | None = None
        self.how = "immutable"
        self.conn = self._connect(immutable, timeout_s)
        try:  # a file that is no cache, or a shard whose writer has not made its table yet
            self.conn.execute("SELECT 1 FROM responses LIMIT 1").fetchall()
        except sqlite3.Error:
            self.close()
            raise

    def _connect(self, immutable: bool, timeout_s: float) -> sqlite3.Connection:
        journal = Path(str(self.path) + "-journal")
        if is_wal(self.path):  # a cache from before shards
            wal = Path(str(self.path) + "-wal")
            if _nonempty(wal):
                return self._recovered_copy([wal])
            return _connect_ro(self.path, "immutable=1", timeout_s)
        if immutable and not journal.exists():
            return _connect_ro(self.path, "immutable=1", timeout_s)
        self.how = "ro"
        conn = None
        try:
            conn = _connect_ro(self.path, "mode=ro", timeout_s)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.OperationalError as exc:
            if conn is not None:
                conn.close()
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_READONLY_ROLLBACK":
                raise
            return self._recovered_copy([journal])  # a hot journal: its writer was killed
        return conn

    def _recovered_copy(self, companions: list[Path]) -> sqlite3.Connection:
        """Copy the file and its journal/WAL privately; SQLite recovers the copy on open."""
        self.copy_dir = tempfile.mkdtemp(prefix="lema-cache-")
        target = Path(self.copy_dir) / self.path.name
        shutil.copyfile(self.path, target)
        for extra in companions:
            if extra.exists():
                suffix = str(extra)[len(str(self.path)) :]
                shutil.copyfile(extra, Path(self.copy_dir) / (self.path.name + suffix))
        conn = sqlite3.connect(str(target), isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()  # triggers recovery
        self.how = "recovered copy"
        return conn

    def estimate(self) -> int:
        """About how many entries the file holds (cheap: the largest rowid, or size / 512)."""
        try:
            return int(self.conn.execute("SELECT max(rowid) FROM responses").fetchone()[0] or 0)
        except sqlite3.OperationalError:  # a WITHOUT ROWID table (caches before shards)
            return max(1, self.path.stat().st_size // 512)

    def close(self) -> None:
        self.conn.close()
        if self.copy_dir:
            shutil.rmtree(self.copy_dir, ignore_errors=True)


def _connect_ro(path: Path, flags: str, timeout_s: float) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?{flags}"
    conn = sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    conn.execute("PRAGMA cache_size = -512")  # KiB: many shards, little memory each
    return conn
