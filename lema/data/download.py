"""The pinned public files (source ``public``): where they come from, their checksums, the
download cache and mirror, and :func:`fetch`, which returns a verified local copy.

A file whose checksum is not known in advance (``Remote.sha256`` None: CommonsenseQA's
train split, of which no copy was at hand to pin) is trusted on first download: its sha256
is recorded beside the cache entry (``<cache>/<name>.sha256``) and every later fetch is
verified against that record; deleting the record accepts a new file deliberately."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from lema.errors import DataError
from lema.io import sha256_file


@dataclass(frozen=True)
class Remote:
    """A file to download: mirrors tried in order, its sha256 (None: trusted on first
    download, then verified against the recorded one) and the cache file name."""

    name: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None = None


GSM8K_REVISION = "3101c7d5072418e28b9008a6636bde82a006892c"
_GSM8K_BASE = (
    f"https://raw.githubusercontent.com/openai/grade-school-math/{GSM8K_REVISION}"
    "/grade_school_math/data"
)
MATH_TAR_URL = "https://people.eecs.berkeley.edu/~hendrycks/MATH.tar"
# The Wayback Machine snapshot ("id_" = the original bytes) of the same file.
MATH_TAR_MIRROR = f"https://web.archive.org/web/20240101000000id_/{MATH_TAR_URL}"

# The evaluation-only benchmarks, as distributed in the evaluation data of QwenLM/Qwen2.5-Math
# (``evaluation/data/<name>/test.jsonl``); read by lema.data.benchmarks.
QWEN_MATH_REVISION = "a45202bd16f1ec06f433442dc1152d0074773465"
_QWEN_MATH_BASE = (
    f"https://raw.githubusercontent.com/QwenLM/Qwen2.5-Math/{QWEN_MATH_REVISION}/evaluation/data"
)


def _qwen_math(name: str, sha256: str, size: int) -> Remote:
    """One test file of Qwen2.5-Math's evaluation data at the pinned revision."""
    return Remote(
        f"{name}-qwen25math-{QWEN_MATH_REVISION[:8]}-test.jsonl",
        (f"{_QWEN_MATH_BASE}/{name}/test.jsonl",),
        sha256,
        size,
    )


# CommonsenseQA: the train split from the original S3 bucket (its checksum recorded on first
# download), the Wayback Machine snapshot as the fallback; the test split is CommonsenseQA's
# dev set as distributed in microsoft/LEMA's test_data (what the paper evaluates on).
CSQA_TRAIN_URL = "https://s3.amazonaws.com/commensenseqa/train_rand_split.jsonl"
CSQA_TRAIN_MIRROR = f"https://web.archive.org/web/20240101000000id_/{CSQA_TRAIN_URL}"
LEMA_REVISION = "94fea82f6d160dbe8a053f1157de347b2955ecd5"
CSQA_TEST_URL = (
    f"https://raw.githubusercontent.com/microsoft/LEMA/{LEMA_REVISION}/test_data/csqa_dev.jsonl"
)

PUBLIC: dict[str, Remote] = {
    "gsm8k/train": Remote(
        f"gsm8k-{GSM8K_REVISION[:8]}-train.jsonl",
        (f"{_GSM8K_BASE}/train.jsonl",),
        "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
        4_166_206,
    ),
    "gsm8k/test": Remote(
        f"gsm8k-{GSM8K_REVISION[:8]}-test.jsonl",
        (f"{_GSM8K_BASE}/test.jsonl",),
        "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        749_738,
    ),
    "math": Remote(
        "MATH.tar",
        (MATH_TAR_URL, MATH_TAR_MIRROR),
        "0fbe4fad0df66942db6c221cdcc95b298cc7f4595a2f0f518360cce84e90d9ac",
    ),
    "svamp/test": _qwen_math(
        "svamp", "d0826ff1264f3860e46fc4e71db9e31d2d188960db87090e22677f9493e67a0d", 280_029
    ),
    "asdiv/test": _qwen_math(
        "asdiv", "5759580385e706f961a30d4c07d6925b35c3f7c86d6c50bc413957169693dad2", 613_636
    ),
    "mawps/test": _qwen_math(
        "mawps", "00ffe31161be8623a3d36741830edbba87a3aee0109f693810fe40b9d5d91b8b", 402_636
    ),
    "aqua/test": _qwen_math(
        "aqua", "de41581881ef95c5588c44ddc701c77fd480839241dd422a0d181262af24520c", 130_192
    ),
    "aime24/test": _qwen_math(
        "aime24", "af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10f1731f4372c8ae26990bf7ac", 156_944
    ),
    "amc23/test": _qwen_math(
        "amc23", "43707e1ca784602d8479de24ee8ce36609dbebc46dd152b0b12a46611aa898a4", 27_631
    ),
    "csqa/train": Remote("csqa-train_rand_split.jsonl", (CSQA_TRAIN_URL, CSQA_TRAIN_MIRROR), None),
    "csqa/test": Remote(
        f"csqa-lema-{LEMA_REVISION[:8]}-dev.jsonl",
        (CSQA_TEST_URL,),
        "ed62d06f33ab4aebe6da5ae62003a36a3658c6c7527e8d808395976a1eb1f526",
        604_018,
    ),
}


def cache_dir() -> Path:
    """Where downloads are kept: $LEMA_DATA_CACHE, else the XDG cache folder."""
    if os.environ.get("LEMA_DATA_CACHE"):
        return Path(os.environ["LEMA_DATA_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lema" / "downloads"


def mirrored(remote: Remote) -> Remote:
    """``remote`` with its URLs replaced by ``$LEMA_DATA_MIRROR/<cache name>`` when set."""
    base = os.environ.get("LEMA_DATA_MIRROR", "").strip()
    if not base:
        return remote
    return Remote(remote.name, (f"{base.rstrip('/')}/{remote.name}",), remote.sha256, remote.size)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (two jobs needing MATH.tar download it once)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _download(url: str, dest: Path, remote: Remote, progress: bool, timeout: float) -> str:
    """Stream ``url`` into ``dest``; return the sha256 of what was written."""
    from tqdm import tqdm

    h = hashlib.sha256()
    req = urllib.request.Request(url, headers={"User-Agent": "lema-data/1"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, "wb") as out:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else remote.size
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"download {remote.name}",
            disable=not progress,
            file=sys.stderr,
            mininterval=1.0,
        ) as bar:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                out.write(chunk)
                h.update(chunk)
                bar.update(len(chunk))
    return h.hexdigest()


def _try_url(url: str, dest: Path, remote: Remote, progress: bool, timeout: float) -> str | None:
    """Download ``url`` to ``dest`` (atomically: a temporary file beside it, checked, then
    renamed into place); None when that worked, else why it failed."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            got = _download(url, tmp, remote, progress, timeout)
        except urllib.error.HTTPError as exc:
            return f"{url}: HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:
            return f"{url}: network error ({exc.reason})"
        except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets
            return f"{url}: network error ({exc})"
        if remote.sha256 is not None and got != remote.sha256:
            return f"{url}: checksum mismatch (sha256 {got}, expected {remote.sha256})"
        os.replace(tmp, dest)
        return None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sha256_record(cache: str | Path, remote: Remote) -> Path:
    """Where the sha256 of a file trusted on first download is recorded."""
    return Path(cache) / f"{remote.name}.sha256"


def _recorded(record: Path) -> str | None:
    """The sha256 in ``record`` (``sha256sum`` format), None when there is none yet."""
    if not record.exists():
        return None
    text = record.read_text(encoding="utf-8").split()
    if not text or not re.fullmatch(r"[0-9a-f]{64}", text[0]):
        raise DataError(f"{record}: not a sha256 record; delete it to record the file anew")
    return text[0]


def _record(record: Path, dest: Path) -> Path:
    """Record the sha256 of ``dest`` (trusted on first download) and say so once."""
    got = sha256_file(dest)
    tmp = record.with_name(f".{record.name}.part")
    tmp.write_text(f"{got}  {dest.name}\n", encoding="utf-8")
    os.replace(tmp, record)
    print(
        f"lema data: recorded sha256 {got} for {dest.name} in {record}; later downloads are "
        "verified against it",
        file=sys.stderr,
    )
    return dest


def fetch(
    remote: Remote,
    cache: str | Path | None = None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """The verified local copy of ``remote``: from the cache, else downloaded (atomically:
    a temporary file beside the cache entry, checked, then renamed into place). A remote
    without a sha256 is checked against the one recorded on its first download
    (:func:`sha256_record`), and recorded when there is none yet.

    Raises DataError naming every mirror tried and why it failed (network error, HTTP
    status, checksum mismatch).
    """
    cache = Path(cache) if cache is not None else cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    remote = mirrored(remote)
    dest = cache / remote.name
    with _lock(cache / f".{remote.name}.lock"):
        record = sha256_record(cache, remote) if remote.sha256 is None else None
        if record is not None:
            remote = replace(remote, sha256=_recorded(record))
        if dest.exists():
            got = sha256_file(dest)
            if remote.sha256 is None:  # a copy already there, no record yet: trust it
                return _record(record, dest)
            if got == remote.sha256:
                return dest
            print(
                f"lema data: cached {dest} has sha256 {got}, expected {remote.sha256}; "
                "downloading it again",
                file=sys.stderr,
            )
        failures: list[str] = []
        for url in remote.urls:
            failure = _try_url(url, dest, remote, progress, timeout)
            if failure is None:
                return dest if record is None or remote.sha256 else _record(record, dest)
            failures.append(failure)
        advice = f"check the network, or put a verified copy at {dest}, or use data.source: local"
        if record is not None and any("checksum mismatch" in f for f in failures):
            advice = (
                f"the sha256 expected is the one recorded on the first download in {record}; "
                f"if the file changed upstream and you accept the new one, delete {record} "
                f"(and {dest}, if it is there)"
            )
        raise DataError(f"could not download {remote.name}: {'; '.join(failures)} — {advice}")
