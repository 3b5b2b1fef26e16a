"""Shared pytest hooks.

Tests marked ``slurm`` need a running Slurm cluster (``.ci/slurm-up.sh`` starts a one-node
one as root). Without one they are skipped with the reason — except under ``CI=true``, where
.ci/run has started a cluster and a missing one is a failure, never a silent skip.

Tests marked ``shared`` need the full GSM8K/MATH files in ``../shared/data``
(tests/datafiles.py). On a user's clone they skip with the reason; under ``CI=true`` a
missing folder is a failure.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest


@functools.cache
def slurm_problem() -> str | None:
    """Why no Slurm cluster can take jobs here, or None when `sinfo` shows a usable node."""
    if shutil.which("sinfo") is None:
        return "`sinfo` is not installed"
    try:
        proc = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "`sinfo` did not answer within 20 s"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return f"`sinfo` failed: {lines[-1] if lines else f'exit code {proc.returncode}'}"
    states = {s.strip().rstrip("*~#") for s in proc.stdout.split()}
    if not states & {"idle", "mixed", "allocated", "completing"}:
        return f"no usable Slurm node (`sinfo` node states: {', '.join(sorted(states)) or 'none'})"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _shared_missing() -> str | None:
    try:
        from tests.datafiles import shared_missing
    except ImportError:  # tests/ not importable as a package: import it by path
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from datafiles import shared_missing
    return shared_missing()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared") is not None:
        problem = _shared_missing()
        if problem is not None:
            if in_ci():
                pytest.fail(f"CI=true but {problem}", pytrace=False)
            pytest.skip(f"needs the full data: {problem}")
    if item.get_closest_marker("slurm") is None:
        return
    problem = slurm_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(
            f"CI=true but no Slurm cluster is up: {problem} (.ci/run starts one with "
            ".ci/slurm-up.sh)",
            pytrace=False,
        )
    pytest.skip(f"needs a Slurm cluster: {problem}; as root, run .ci/slurm-up.sh to start one")


# --- model access: a real local OpenAI-compatible server (tests/openai_server.py) ----------
@pytest.fixture
def openai_server():
    """Factory: ``openai_server(answer=fn, latency=0.0, fault_rate=0.0, ...)`` starts a local
    OpenAI-compatible HTTP server (see tests/openai_server.py for every option) and returns it;
    ``.url`` is the base_url to give a client. All servers stop when the test ends."""
    try:
        from tests.openai_server import OpenAIServer
    except ImportError:  # tests/ not importable as a package: import it by path
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from openai_server import OpenAIServer

    started = []

    def start(*args, **kwargs):
        server = OpenAIServer(*args, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _isolated_response_cache(tmp_path_factory, monkeypatch):
    """lema.models.generate(cache=None) uses $LEMA_CACHE: point it at a fresh file per test, so
    no test reads completions cached by an earlier run (tests that pass a cache path are
    unaffected)."""
    if "LEMA_CACHE" not in os.environ:
        folder = tmp_path_factory.mktemp("lema-cache")
        monkeypatch.setenv("LEMA_CACHE", str(folder / "responses.sqlite"))
