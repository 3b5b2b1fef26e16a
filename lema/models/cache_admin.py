"""Inspect and compact a response cache: ``lema cache stats`` and ``lema cache merge``.

Merge writes every entry of the base and of the shards it may take into a new base file
(built privately, synced, then renamed over the old one: readers keep the file they had
open), and only then deletes those shards. It takes sealed shards, and open shards whose
writer ran on this host and is gone (a crash); open shards of other hosts may still be
written, so it leaves them unless told that no job runs anywhere (``include_open``). Keys
present in several files keep the entry a lookup would have returned (base first, then
shards in name order), so merging changes no answer. One merge at a time (a lock file made
with ``O_EXCL``).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lema.errors import LemaError
from lema.models.cache_files import (
    Reader,
    base_path,
    connect_writer,
    hostname,
    is_wal,
    list_shards,
    parse_shard_name,
    pid_alive,
)


@dataclass
class FileStats:
    """One file of the cache: ``kind`` base / sealed / open / abandoned (open, its writer
    gone), how it was read, its entries and bytes, or the error that kept it unread."""

    path: str
    kind: str
    entries: int = 0
    bytes: int = 0
    read: str = ""
    error: str | None = None


@dataclass
class CacheStats:
    path: str
    files: list[FileStats] = field(default_factory=list)
    entries: int = 0  # rows in all files
    distinct: int = 0  # distinct keys
    duplicates: int = 0  # rows whose key is also in an earlier file
    conflicts: int = 0  # keys stored with different completions
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for f in self.files:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        shards = sum(n for k, n in kinds.items() if k != "base")
        detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()) if k != "base")
        unread = [f for f in self.files if f.error]
        lines = [
            f"cache {self.path}: {'a base file and ' if 'base' in kinds else 'no base file, '}"
            f"{shards} shard(s){f' ({detail})' if detail else ''}",
            f"  {self.entries} entries, {self.distinct} distinct keys, {self.duplicates} "
            f"duplicates ({self.conflicts} with differing completions), "
            f"{self.bytes / 1e6:.1f} MB",
        ]
        lines += [f"  unreadable: {f.path} ({f.error})" for f in unread]
        return "\n".join(lines)


def _kind(path: Path, base: Path) -> str:
    if path == base:
        return "base"
    name = parse_shard_name(path.name)
    if name is None or name.sealed:
        return "sealed"
    return "abandoned" if name.abandoned() else "open"


def _size(path: Path) -> int:
    total = 0
    for p in (path, *(Path(str(path) + s) for s in ("-journal", "-wal", "-shm"))):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def _files(base: Path) -> list[Path]:
    return ([base] if base.exists() else []) + list_shards(base)


def _open(path: Path, base: Path) -> Reader:
    return Reader(path, immutable=_kind(path, base) in ("base", "sealed"))


def cache_stats(path: str | Path) -> CacheStats:
    """Files, entries, distinct keys, duplicates and bytes of the cache at ``path``."""
    base = base_path(path)
    stats = CacheStats(str(base))
    seen: dict[str, int] = {}  # key -> hash of its first completion
    conflicted: set[str] = set()
    for file in _files(base):
        fs = FileStats(str(file), _kind(file, base), bytes=_size(file))
        stats.files.append(fs)
        stats.bytes += fs.bytes
        try:
            reader = _open(file, base)
        except (sqlite3.Error, OSError) as exc:
            fs.error = str(exc)
            continue
        fs.read = reader.how
        try:
            for key, completion in reader.conn.execute("SELECT key, completion FROM responses"):
                fs.entries += 1
                h = hash(completion)
                if key in seen:
                    stats.duplicates += 1
                    if seen[key] != h:
                        conflicted.add(key)
                else:
                    seen[key] = h
        except sqlite3.Error as exc:
            fs.error = str(exc)
        finally:
            reader.close()
        stats.entries += fs.entries
    stats.distinct = len(seen)
    stats.conflicts = len(conflicted)
    return stats


@dataclass
class MergeReport:
    path: str
    merged: list[str] = field(default_factory=list)  # shards now in the base (deleted)
    left: list[str] = field(default_factory=list)  # shards left as they are, with the reason
    entries_read: int = 0
    entries: int = 0  # entries in the new base
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"cache {self.path}: merged {len(self.merged)} shard(s) into the base; "
            f"{self.entries_read} entries read, {self.entries} kept "
            f"({self.entries_read - self.entries} duplicates dropped) in {self.seconds:.1f} s"
        ]
        lines += [f"  left: {item}" for item in self.left]
        return "\n".join(lines)


def _choose(base: Path, include_open: bool) -> tuple[list[Path], list[str]]:
    """The shards a merge may take, and the others with the reason each is left."""
    take: list[Path] = []
    left: list[str] = []
    for shard in list_shards(base):
        name = parse_shard_name(shard.name)
        assert name is not None
        if name.sealed or name.abandoned():
            take.append(shard)
        elif name.host == hostname() and pid_alive(name.pid):
            left.append(f"{shard} (its writer, pid {name.pid}, is running)")
        elif include_open:
            take.append(shard)
        else:
            left.append(
                f"{shard} (open: its writer on {name.host} may still run; "
                "--include-open when no job uses this cache anywhere)"
            )
    return take, left


def merge_cache(path: str | Path, *, include_open: bool = False) -> MergeReport:
    """Compact the shards of the cache at ``path`` into its base file (see the module doc)."""
    t0 = time.monotonic()
    base = base_path(path)
    report = MergeReport(str(base))
    lock = base.with_name(base.name + ".merge-lock")
    base.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise LemaError(
            f"{lock} exists: another `lema cache merge` is running, or one was killed "
            "(then remove that file)"
        ) from None
    try:
        os.write(fd, f"{hostname()} {os.getpid()}\n".encode())
        os.close(fd)
        for stale in base.parent.glob(f".{base.name}.merge-*.tmp"):  # a killed merge's
            stale.unlink(missing_ok=True)
        take, report.left = _choose(base, include_open)
        if take or (base.exists() and _needs_rewrite(base)):
            report.merged = _rewrite(base, take, report)
        elif base.exists():  # nothing to merge: say what the base holds
            reader = _open(base, base)
            report.entries = reader.conn.execute("SELECT count(*) FROM responses").fetchone()[0]
            report.entries_read = report.entries
            reader.close()
    finally:
        lock.unlink(missing_ok=True)
    report.seconds = time.monotonic() - t0
    return report


def _needs_rewrite(base: Path) -> bool:
    """A base written before shards (WAL mode, no key index) is rewritten once."""
    return is_wal(base) or any(Path(str(base) + s).exists() for s in ("-journal", "-wal", "-shm"))


def _rewrite(base: Path, take: list[Path], report: MergeReport) -> list[str]:
    tmp = base.with_name(f".{base.name}.merge-{secrets.token_hex(6)}.tmp")
    merged: list[Path] = []
    try:
        out = connect_writer(tmp, 120.0)
        out.execute("PRAGMA journal_mode = OFF")  # a private file until the rename
        out.execute("PRAGMA synchronous = OFF")
        out.execute("BEGIN")
        out.execute("INSERT INTO owner VALUES (?, ?, ?)", (hostname(), os.getpid(), time.time()))
        for src in ([base] if base.exists() else []) + take:
            try:
                report.entries_read += _copy_rows(_open(src, base), out)
            except (sqlite3.Error, OSError) as exc:
                if src == base:
                    raise LemaError(f"response cache {base}: cannot read ({exc})") from None
                report.left.append(f"{src} (unreadable: {exc})")
                continue
            if src != base:
                merged.append(src)
        out.execute("COMMIT")
        report.entries = out.execute("SELECT count(*) FROM responses").fetchone()[0]
        out.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, base)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(base.parent)
    for stale in ("-journal", "-wal", "-shm"):  # the old base's, now meaningless
        Path(str(base) + stale).unlink(missing_ok=True)
    for shard in merged:  # only now: every entry is in the synced new base
        shard.unlink(missing_ok=True)
        Path(str(shard) + "-journal").unlink(missing_ok=True)
    return [str(s) for s in merged]


def _copy_rows(reader: Reader, out: sqlite3.Connection) -> int:
    """Stream every row of ``reader`` into ``out`` (a key already there keeps its entry)."""
    count = 0

    def rows() -> Any:
        nonlocal count
        for row in reader.conn.execute("SELECT key, completion, meta, created FROM responses"):
            count += 1
            yield row

    try:
        out.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)", rows())
    finally:
        reader.close()
    return count


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
