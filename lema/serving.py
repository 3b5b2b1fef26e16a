"""Self-served models: a model spec with ``serve`` is served by the job that needs it.

    serve:
      command: "vllm serve {model} --port {port} --tensor-parallel-size 4 {lora_modules}"
      ready: /v1/models      # GET path that answers 2xx once the server takes requests
      startup_s: 900         # how long it may take to get there
      stop_s: 30             # grace period after SIGTERM before SIGKILL
      gpus: 4                # the rule's `gpu` resource (lema.workflow.params)

:func:`served` starts the command on a free port of 127.0.0.1 (locked against other lema jobs
on the machine until the server stops), waits until ``ready``
answers, yields the spec with ``base_url`` pointing at it, and stops the server (SIGTERM to
its process group, SIGKILL after ``stop_s``) on success, on an exception, and on SIGTERM to
the job. The server gets SIGTERM too when the job dies without cleaning up (SIGKILL): on
Linux it is started with a parent-death signal. :func:`lema.models.generate` goes through
:func:`served` only when some completions are missing from the cache, so a rerun whose
answers are all cached never starts a server.

Inside :func:`serving` (every `lema` command runs in one) a server stays up until the scope
ends, so a command that calls its model several times (greedy and sampled decoding, the
questions and the votes of evolution) starts it once; outside, each call starts and stops
its own.

The command runs without a shell: it is split like a shell line (quotes work; ``$VAR`` is not
expanded, use ``env VAR=value vllm ...``). Placeholders: ``{model}`` (the spec's
``base_model``, else its ``model``), ``{port}`` (required), ``{adapter}`` (the adapter folder
or nothing) and ``{lora_modules}``: ``--enable-lora --lora-modules NAME=DIR`` for a spec with
an ``adapter`` (NAME is the spec's ``model``, the name requests are sent to), nothing
otherwise; literal braces are doubled (``{{``). Its stdout and stderr go to a log file beside
the job's log (``X.serve.log`` when the job's stderr is the file ``X.log``), else to the
system's temporary folder.

The serve settings are operational (lema.workflow.knobs): changing the command or a timeout
reruns nothing; the served model's identity (``model``, ``adapter``) stays in the params.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import signal
import socket
import stat
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lema.errors import ConfigError, LemaError

SERVE_DEFAULTS: dict[str, Any] = {
    "ready": "/v1/models",
    "startup_s": 900.0,
    "stop_s": 30.0,
    "gpus": 1,
}
SERVE_KEYS = ("command", *SERVE_DEFAULTS)
PLACEHOLDERS = ("model", "port", "adapter", "lora_modules")
HOST = "127.0.0.1"
POLL_S = 0.25
LOG_TAIL_LINES = 20


# ------------------------------------------------------------------------------ settings
def check_settings(serve: Any, where: str) -> dict[str, Any]:
    """The ``serve`` settings with defaults filled in; a ConfigError naming ``where`` (the
    config key) for a bad one."""
    if not isinstance(serve, Mapping):
        raise ConfigError(f"config key '{where}': must be a mapping with a 'command'")
    unknown = sorted(set(serve) - set(SERVE_KEYS))
    if unknown:
        raise ConfigError(
            f"config key '{where}.{unknown[0]}': unknown (known: {', '.join(SERVE_KEYS)})"
        )
    command = serve.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"config key '{where}.command': required, a command line")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(command) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"config key '{where}.command': {exc}") from None
    bad = sorted(f for f in fields if f not in PLACEHOLDERS)
    if bad:
        raise ConfigError(
            f"config key '{where}.command': unknown placeholder {{{bad[0]}}} "
            f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        )
    if "port" not in fields:
        raise ConfigError(f"config key '{where}.command': needs {{port}} (the port it listens on)")
    out = {**SERVE_DEFAULTS, **serve}
    if not str(out["ready"]).startswith("/"):
        raise ConfigError(f"config key '{where}.ready': a URL path starting with '/'")
    return out


def gpus(spec: Mapping[str, Any]) -> int:
    """GPUs the served model of ``spec`` needs (0 when it is not served)."""
    serve = spec.get("serve")
    return int({**SERVE_DEFAULTS, **serve}["gpus"]) if isinstance(serve, Mapping) else 0


def command_argv(spec: Mapping[str, Any], port: int) -> list[str]:
    """The serve command of ``spec`` for ``port``, split into arguments."""
    serve = spec["serve"]
    adapter = spec.get("adapter") or ""
    lora = (
        f"--enable-lora --lora-modules {shlex.quote(str(spec['model']) + '=' + str(adapter))}"
        if adapter
        else ""
    )
    values = {
        "model": shlex.quote(str(spec.get("base_model") or spec["model"])),
        "port": str(port),
        "adapter": shlex.quote(str(adapter)) if adapter else "",
        "lora_modules": lora,
    }
    return shlex.split(str(serve["command"]).format(**values))


# ------------------------------------------------------------------------------ the server
class Server:
    """One running serve command: its process (a group of its own), port and log."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.name = str(spec.get("name") or spec.get("model"))
        self.settings = check_settings(spec["serve"], f"serve (model '{self.name}')")
        self.port, self._port_lock = free_port()
        self.argv = command_argv({**spec, "serve": self.settings}, self.port)
        self.key_env = str(spec.get("api_key_env") or "OPENAI_API_KEY")
        self.log_path = log_path(self.name)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def start(self) -> Server:
        """Start the command and wait until ``ready`` answers; LemaError (and the process
        stopped) when it exits first or ``startup_s`` passes."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            log.write(f"lema: serving model '{self.name}': {self.command}\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(),
                )
            except OSError as exc:
                self.stop()
                raise LemaError(
                    f"model '{self.name}': cannot start the serve command `{self.command}`: "
                    f"{exc.strerror or exc}"
                ) from None
        _register(self)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        print(
            f"lema: model '{self.name}' served at {self.base_url} (pid {self.proc.pid}, "
            f"log {self.log_path})",
            file=sys.stderr,
            flush=True,
        )
        return self

    def wait_ready(self) -> None:
        import urllib.error
        import urllib.request

        url = f"http://{HOST}:{self.port}{self.settings['ready']}"
        startup = float(self.settings["startup_s"])
        deadline = time.monotonic() + startup
        headers = {}
        key = os.environ.get(self.key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            code = self.exit_code()
            if code is not None:
                raise LemaError(
                    f"model '{self.name}': the serve command exited with code {code} before it "
                    f"was ready: `{self.command}`{self.log_tail()}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise LemaError(
                    f"model '{self.name}': the server was not ready within startup_s={startup:g} "
                    f"s (GET {url} never answered 2xx): `{self.command}`{self.log_tail()}"
                )
            try:
                req = urllib.request.Request(url, headers=headers)
                with opener.open(req, timeout=max(0.1, min(5.0, left))) as resp:
                    if 200 <= resp.status < 300 and self.exit_code() is None:
                        return  # (a 2xx from a process that has exited came from another)
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def exit_code(self) -> int | None:
        """The command's exit code once it has exited (None while it runs)."""
        return None if self.proc is None else self.proc.poll()

    def gone(self) -> str | None:
        """Why requests to this server fail, when its process has exited unasked."""
        code = self.exit_code()
        if code is None or self.stopped:
            return None
        return (
            f"the server of this served model exited (code {code}) while requests were "
            f"running: `{self.command}`{self.log_tail()}"
        )

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return f"; log {self.log_path} (unreadable)"
        tail = "\n".join("    " + line for line in lines)
        return f"; log {self.log_path}, last lines:\n{tail}"

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after ``stop_s``; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        _unregister(self)
        if self.proc is not None:
            self._kill(self.proc)
        self._port_lock.close()

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=float(self.settings["stop_s"]))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # the leader's stragglers too
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        with contextlib.suppress(OSError, ValueError):
            print(f"lema: stopped the server of model '{self.name}'", file=sys.stderr, flush=True)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _die_with_parent() -> Any:
    """A preexec_fn that makes the child get SIGTERM when this process dies (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def unbound_ports() -> Iterator[int]:
    """Ports nothing listens on now, as the kernel draws them."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            yield int(s.getsockname()[1])


def free_port(candidates: Iterator[int] | None = None) -> tuple[int, Any]:
    """A port from ``candidates`` (default :func:`unbound_ports`) and an open file holding its
    lock: another lema job on this machine that draws the same port before our server has
    bound it (vLLM binds only once the model is loaded) skips it and draws again."""
    import fcntl
    import itertools

    folder = Path(tempfile.gettempdir()) / "lema-serve-ports"
    folder.mkdir(parents=True, exist_ok=True)
    for port in itertools.islice(candidates or unbound_ports(), 100):
        lock = open(folder / f"{port}.lock", "a")  # noqa: SIM115 - held until the server stops
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        return port, lock
    raise LemaError("no free port for a served model (100 tries)")


def _stderr_file() -> Path | None:
    """The regular file this process's stderr writes to (a job's log), if any."""
    try:
        st = os.fstat(2)
        if not stat.S_ISREG(st.st_mode):
            return None
        path = Path(os.readlink("/proc/self/fd/2"))
        other = path.stat()
    except OSError:
        return None
    return path if (other.st_ino, other.st_dev) == (st.st_ino, st.st_dev) else None


def log_path(name: str) -> Path:
    """Where the server's output goes: beside the job's log, else the temporary folder."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "model"
    job_log = _stderr_file()
    if job_log is not None:
        stem = job_log.name[: -len(".log")] if job_log.name.endswith(".log") else job_log.name
        base = job_log.with_name(f"{stem}.serve")
    else:
        base = Path(tempfile.gettempdir()) / "lema-serve" / f"{slug}-{os.getpid()}"
    path = base.with_name(base.name + ".log")
    k = 2
    while str(path) in _USED_LOGS:
        path = base.with_name(f"{base.name}-{k}.log")
        k += 1
    _USED_LOGS.add(str(path))
    return path


# ------------------------------------------------------------------------------ registry
_LOCK = threading.RLock()
_LIVE: dict[str, Server] = {}  # base_url -> running server
_USED_LOGS: set[str] = set()
_SCOPES: list[dict[str, Server]] = []  # pooled servers of the open serving() scopes
_HANDLER_INSTALLED = False


class Terminated(SystemExit):
    """SIGTERM arrived while a server was running: unwinds the job so the server stops."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(128 + signum)


def _register(server: Server) -> None:
    global _HANDLER_INSTALLED
    with _LOCK:
        _LIVE[server.base_url] = server
        if (
            not _HANDLER_INSTALLED
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _on_sigterm)
            atexit.register(stop_all)
            _HANDLER_INSTALLED = True


def _unregister(server: Server) -> None:
    with _LOCK:
        if _LIVE.get(server.base_url) is server:
            del _LIVE[server.base_url]


def stop_all() -> None:
    """Stop every server this process started and still runs."""
    with _LOCK:
        servers = list(_LIVE.values())
    for server in servers:
        server.stop()


def server_gone(base_url: str) -> str | None:
    """Why requests to ``base_url`` fail, when it is a served model whose process has exited
    (the openai backend then stops at once instead of retrying)."""
    with _LOCK:
        server = _LIVE.get(str(base_url).rstrip("/"))
    return None if server is None else server.gone()


def pool_key(spec: Mapping[str, Any]) -> str:
    """What makes two specs share a server: the command, with model and adapters."""
    settings = check_settings(spec["serve"], "serve")
    return shlex.join(command_argv({**spec, "serve": settings}, 0)) + "\0" + settings["ready"]


@contextlib.contextmanager
def serving() -> Iterator[None]:
    """A scope in which a started server stays up for later calls, until the scope ends."""
    pool: dict[str, Server] = {}
    _SCOPES.append(pool)
    try:
        yield
    finally:
        _SCOPES.remove(pool)
        for server in pool.values():
            server.stop()


@contextlib.contextmanager
def served(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """``spec`` with ``base_url`` set to a running server of it (started here, or kept by the
    enclosing :func:`serving` scope); ``spec`` itself when it has no ``serve``."""
    if not spec.get("serve"):
        yield dict(spec)
        return
    if _SCOPES:
        pool = _SCOPES[-1]
        key = pool_key(spec)
        server = pool.get(key)
        if server is None or server.exit_code() is not None:
            if server is not None:
                server.stop()
            server = pool[key] = Server(spec)
            try:
                server.start()
            except BaseException:
                del pool[key]
                raise
        yield {**spec, "base_url": server.base_url}
        return
    server = Server(spec).start()
    try:
        yield {**spec, "base_url": server.base_url}
    finally:
        server.stop()
