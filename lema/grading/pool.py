"""The sympy worker pool: sympy comparisons of MATH answers in child processes
(``python -m lema.grading.sympy_worker``) with a hard per-call deadline.

Each comparison is sent to an idle worker over a pipe; the answer must come back within
``SYMPY_TIMEOUT_S`` (``LEMA_GRADE_TIMEOUT``), else the worker is killed and replaced. So a call
returns in bounded time from any thread (math-verify's own SIGALRM timeouts work only in a
main thread; the worker runs them in its own). At most ``MAX_WORKERS`` (``LEMA_GRADE_WORKERS``)
workers per process; a forked child starts its own.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from functools import lru_cache

log = logging.getLogger(__name__)

#: hard bound (seconds) on one sympy comparison, measured in the calling process
SYMPY_TIMEOUT_S = float(os.environ.get("LEMA_GRADE_TIMEOUT", "3.0"))
#: the worker's own (signal-based) budget; shorter, so a well-behaved worker answers in time
WORKER_BUDGET_S = max(0.5, SYMPY_TIMEOUT_S - 1.0)
#: most sympy worker processes at once (concurrent callers beyond this wait their turn)
MAX_WORKERS = int(os.environ.get("LEMA_GRADE_WORKERS", str(max(2, os.cpu_count() or 2))))


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        env.setdefault("PYTHONHASHSEED", "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lema.grading.sympy_worker", str(WORKER_BUDGET_S)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
            close_fds=True,
        )
        self.buf = b""
        self.ready = False

    def _readline(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def wait_ready(self, timeout: float = 120.0) -> bool:
        if not self.ready:
            line = self._readline(time.monotonic() + timeout)
            self.ready = line == b"ready"
        return self.ready

    def ask(self, pred: str, gold: str, timeout: float) -> bool | None:
        """True/False, or None when the worker ran out of time or died."""
        msg = json.dumps({"p": pred, "g": gold}).encode() + b"\n"
        try:
            self.proc.stdin.write(msg)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = self._readline(time.monotonic() + timeout)
        if line is None:
            return None
        try:
            return bool(json.loads(line)["r"])
        except (ValueError, KeyError):
            return None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            pass


class _Pool:
    """Idle workers kept for reuse; one per concurrent caller; stuck ones are killed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.all: set[_Worker] = set()
        self.broken = False
        self.pid = os.getpid()
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)

    def _after_fork(self) -> None:
        # a forked child must not share its parent's worker pipes: start its own workers
        if os.getpid() != self.pid:
            self.__init__()

    def _get(self) -> _Worker | None:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        w = _Worker()
        with self.lock:
            self.all.add(w)
        if not w.wait_ready():
            log.warning(
                "lema.grading.pool: the sympy worker did not start; MATH answers that need "
                "sympy will grade as not equivalent"
            )
            self._drop(w)
            self.broken = True
            return None
        return w

    def _drop(self, w: _Worker) -> None:
        w.kill()
        with self.lock:
            self.all.discard(w)

    def compare(self, pred: str, gold: str, timeout: float) -> bool | None:
        self._after_fork()
        if self.broken:
            return None
        with self.slots:  # at most MAX_WORKERS comparisons (and workers) at a time
            w = self._get()
            if w is None:
                return None
            r = w.ask(pred, gold, timeout)
            if r is None:  # too slow or dead: kill it, start a fresh one for later calls
                self._drop(w)
                return None
            with self.lock:
                self.idle.append(w)
            return r

    def close(self) -> None:
        with self.lock:
            ws = list(self.all)
            self.all.clear()
            self.idle.clear()
        for w in ws:
            w.kill()


_POOL = _Pool()
atexit.register(_POOL.close)


@lru_cache(maxsize=65536)
def bounded_sympy_equal(pred: str, gold: str) -> bool:
    """sympy's verdict on two normalised MATH answers, from a worker within
    ``SYMPY_TIMEOUT_S``; False when the worker ran out of time, died or did not start."""
    r = _POOL.compare(pred, gold, SYMPY_TIMEOUT_S)
    return bool(r)


def shutdown() -> None:
    """Stop the sympy worker processes (they also stop when this process exits)."""
    _POOL.close()
