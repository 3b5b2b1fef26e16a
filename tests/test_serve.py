"""Self-served models (lema.serving) with tests/openai_server.py as the serve command,
inside real `lema` jobs (subprocesses whose stderr is a job log, as under Snakemake): start,
readiness, requests, stop; a server that never becomes ready, one that exits at once, one that
dies mid-run (the rerun pays only for what is missing); SIGTERM and SIGKILL to the job leave
no server behind; the config key checked; evaluation serving an adapter as a LoRA module;
a Snakemake rule with a served generator, whose serve knobs rerun nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from lema.config import decode_spec, validate_config
from lema.errors import ConfigError, LemaError
from lema.models import generate
from lema.serving import command_argv, served, serving

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "tests" / "openai_server.py"
PY = sys.executable


def server_command(*flags: str) -> str:
    """The test server as a serve command; a unique --seed marks its processes."""
    return " ".join([PY, str(SERVER), "--port", "{port}", *flags])


def marker() -> str:
    return str(uuid.uuid4().int % 10**9)


def procs_with(mark: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line has ``--seed mark``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"--seed" in argv and mark.encode() in argv and state != "Z":
            out.append(int(d.name))
    return out


def wait_gone(mark: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while procs_with(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    return procs_with(mark)


def study(tmp_path: Path, serve: dict, **model) -> Path:
    config = {
        "generators": ["served"],
        "corrector": "gold",
        "backbones": {"b": {"tiny": True}},
        "models": {"served": {"backend": "openai", "model": "fake-model", "serve": serve, **model}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def requests_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n"
                            for i in range(count)))  # fmt: skip
    return path


def lema_generate(tmp_path: Path, config: Path, count: int, **popen) -> subprocess.Popen:
    """`lema generate` as a job: stderr to logs/job.log (the server's log goes beside it)."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    log = open(tmp_path / "logs" / "job.log", "wb")  # noqa: SIM115 - closed by the caller's wait
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [PY, "-m", "lema.cli", "generate", "--config", str(config), "--name", "served",
         "--input", str(requests_file(tmp_path, count)), "--output", str(tmp_path / "out.jsonl"),
         "--cache", str(tmp_path / "cache.sqlite"), "--no-progress"],
        stdout=log, stderr=log, env=env, **popen,
    )  # fmt: skip


def run_job(tmp_path: Path, config: Path, count: int) -> tuple[int, str]:
    proc = lema_generate(tmp_path, config, count)
    rc = proc.wait(timeout=120)
    return rc, (tmp_path / "logs" / "job.log").read_text()


def summary(log: str) -> dict[str, int]:
    m = re.search(r"requests sent (\d+), cache hits (\d+), generated (\d+)", log)
    assert m, log
    return dict(zip(("sent", "hits", "generated"), map(int, m.groups()), strict=True))


def test_a_job_serves_its_model_start_to_stop(tmp_path):
    mark = marker()
    config = study(tmp_path, {"command": server_command("--startup-delay", "1", "--seed", mark)})
    rc, log = run_job(tmp_path, config, 6)
    assert rc == 0, log
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(6)]
    assert all(r["completions"][0].startswith("Reply ") for r in rows)
    assert summary(log)["generated"] == 6
    # the server's output went beside the job's log; it was stopped with the job
    serve_log = (tmp_path / "logs" / "job.serve.log").read_text()
    port = re.search(r"serving on http://127\.0\.0\.1:(\d+)/v1", serve_log).group(1)
    assert f"served at http://127.0.0.1:{port}/v1" in log
    assert "stopped the server of model 'served'" in log
    assert procs_with(mark) == []
    # all cached: the rerun starts no server at all
    rc, log = run_job(tmp_path, config, 6)
    assert rc == 0 and summary(log) == {"sent": 0, "hits": 6, "generated": 0}, log
    assert "served at" not in log


def test_a_server_that_never_becomes_ready_is_one_clear_error(tmp_path):
    mark = marker()
    serve = {"command": server_command("--startup-delay", "60", "--seed", mark), "startup_s": 2}
    t0 = time.monotonic()
    rc, log = run_job(tmp_path, study(tmp_path, serve), 3)
    assert rc == 1 and time.monotonic() - t0 < 30, log
    errors = [line for line in log.splitlines() if "error:" in line]
    assert len(errors) == 1, log
    assert "not ready within startup_s=2 s (GET http://127.0.0.1:" in errors[0]
    assert "/v1/models never answered 2xx" in errors[0] and str(SERVER) in errors[0]
    assert "loading for 60 s" in log  # the tail of the server's log
    assert procs_with(mark) == []  # killed, not left loading
    assert not (tmp_path / "out.jsonl").exists()


def test_a_command_that_exits_at_once_names_itself_and_shows_its_log(tmp_path):
    code = "import sys; print('no CUDA device found', file=sys.stderr); sys.exit(2)"
    serve = {"command": f'{PY} -c "{code}" {{port}}', "startup_s": 60}
    t0 = time.monotonic()
    rc, log = run_job(tmp_path, study(tmp_path, serve), 3)
    assert rc == 1 and time.monotonic() - t0 < 20, log
    assert "the serve command exited with code 2 before it was ready" in log
    assert f"`{PY} -c" in log and "no CUDA device found" in log


def test_a_missing_program_is_one_clear_error(tmp_path):
    serve = {"command": "no-such-serving-program --port {port}"}
    rc, log = run_job(tmp_path, study(tmp_path, serve), 2)
    assert rc == 1
    assert "cannot start the serve command `no-such-serving-program --port" in log


def test_a_server_that_dies_mid_run_fails_the_job_and_the_rerun_pays_only_the_rest(tmp_path):
    mark = marker()
    dying = {"command": server_command("--exit-after", "5", "--seed", mark)}
    config = study(tmp_path, dying, concurrency=1)  # max_retries 8: no waiting them out
    t0 = time.monotonic()
    rc, log = run_job(tmp_path, config, 20)
    assert rc == 1, log
    assert time.monotonic() - t0 < 30
    assert "exited (code 3) while requests were running" in log
    assert "exiting after 5 answers" in log  # its log's tail
    assert procs_with(mark) == []
    # the rerun, with a server that stays up (the command is a knob): only the missing 15
    config = study(tmp_path, {"command": server_command("--seed", mark)}, concurrency=1)
    rc, log = run_job(tmp_path, config, 20)
    assert rc == 0, log
    assert summary(log) == {"sent": 15, "hits": 5, "generated": 15}
    assert procs_with(mark) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_job_leaves_no_server(tmp_path, sig):
    mark = marker()
    serve = {"command": server_command("--latency", "0.5", "--seed", mark)}
    proc = lema_generate(tmp_path, study(tmp_path, serve, concurrency=1), 200)
    serve_log = tmp_path / "logs" / "job.serve.log"
    deadline = time.monotonic() + 60
    while "serving on" not in (serve_log.read_text() if serve_log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, "the server never started"
        time.sleep(0.1)
    time.sleep(1.0)  # requests running
    assert procs_with(mark)
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    assert rc == {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -9}[sig]
    assert wait_gone(mark) == []  # SIGKILL: the parent-death signal stops it


def test_within_one_command_a_server_is_started_once(tmp_path, capfd):
    mark = marker()
    spec = {
        "name": "m",
        "backend": "openai",
        "model": "fake",
        "serve": {"command": server_command("--seed", mark), "startup_s": 30},
    }
    cache = tmp_path / "c.sqlite"
    with serving():
        a = generate(spec, [{"id": "a", "prompt": "one"}], cache=cache)
        b = generate(spec, [{"id": "b", "prompt": "two"}], cache=cache)
        assert len(procs_with(mark)) == 1
    assert a[0].completions[0].startswith("Reply") and b[0].completions[0].startswith("Reply")
    assert capfd.readouterr().err.count("served at") == 1
    assert procs_with(mark) == []
    # outside a scope each call serves and stops its own
    with served(spec) as live:
        assert live["base_url"].startswith("http://127.0.0.1:")
        assert len(procs_with(mark)) == 1
    assert procs_with(mark) == []


def test_a_server_that_ignores_sigterm_is_killed_after_stop_s():
    mark = marker()
    command = server_command("--ignore-sigterm", "--seed", mark)
    spec = {"name": "m", "backend": "openai", "model": "fake"}
    with served({**spec, "serve": {"command": command, "stop_s": 1}}):
        assert len(procs_with(mark)) == 1
        t0 = time.monotonic()
    assert 1.0 <= time.monotonic() - t0 < 8 and procs_with(mark) == []


def test_a_port_another_job_holds_is_not_drawn():
    from lema.serving import free_port

    port, lock = free_port()
    lock.close()
    # another job (a process of its own) holds `port`, its server not yet listening
    holder = subprocess.Popen(
        [PY, "-c", "import sys; from lema.serving import free_port; "
         f"p, l = free_port(iter([{port}])); print(p, flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == str(port)
        other, lock = free_port(iter([port, port + 1]))
        assert other == port + 1
        lock.close()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    again, lock = free_port(iter([port]))  # released with its holder
    assert again == port
    lock.close()


def base_config(**extra) -> dict:
    return {"generators": ["g"], "corrector": "gold", "backbones": {"b": {"tiny": True}}, **extra}


@pytest.mark.parametrize(
    ("serve", "backend", "message"),
    [
        ({"command": "vllm serve {model} --port {port}", "startup": 5}, "openai",
         "unknown config key 'models.g.serve.startup'"),
        ({"command": "vllm serve {model}"}, "openai", "'models.g.serve.command': needs {port}"),
        ({"command": "vllm serve {modle} --port {port}"}, "openai",
         "'models.g.serve.command': unknown placeholder {modle}"),
        ({"command": "vllm --port {port}", "startup_s": -1}, "openai",
         "'models.g.serve.startup_s'"),
        ({"ready": "/v1/models"}, "openai", "'models.g.serve.command' is required"),
        ({"command": "vllm --port {port}"}, "hf", "'models.g.serve': needs backend 'openai'"),
    ],
)  # fmt: skip
def test_the_serve_key_is_checked(serve, backend, message):
    config = base_config(models={"g": {"backend": backend, "model": "m", "serve": serve}})
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(config)


def test_serve_and_base_url_together_are_refused():
    model = {"backend": "openai", "model": "m", "base_url": "http://x/v1"}
    config = base_config(models={"g": {**model, "serve": {"command": "v --port {port}"}}})
    with pytest.raises(ConfigError, match="either 'serve' or 'base_url'"):
        validate_config(config)


def test_evaluation_serves_the_backbone_and_adapters_as_lora_modules():
    from lema.workflow import params

    serve = {"command": "vllm serve {model} --port {port} --max-lora-rank 64 {lora_modules}"}
    config = validate_config(
        base_config(
            models={"g": {"backend": "hf", "model": "m"}},
            backbones={"llama": {"model": "meta-llama/Llama-2-7b-hf"}},
            evaluation={"backend": "openai", "serve": {**serve, "gpus": 4}},
        )
    )
    spec = decode_spec(config, "gsm8k", "llama", "lema", adapter="results/a/lema")
    assert spec["model"] == "llama-gsm8k-lema" and spec["adapter"] == "results/a/lema"
    assert command_argv(spec, 8123) == [
        "vllm", "serve", "meta-llama/Llama-2-7b-hf", "--port", "8123", "--max-lora-rank", "64",
        "--enable-lora", "--lora-modules", "llama-gsm8k-lema=results/a/lema",
    ]  # fmt: skip
    base = decode_spec(config, "gsm8k", "llama", "base")
    assert command_argv(base, 1)[-3:] == ["--port", "1", "--max-lora-rank", "64"][-3:]
    assert "--lora-modules" not in command_argv(base, 1)
    # serve is a knob: not in the params; the adapter is, and it is the job's input
    param = json.loads(params.predict_spec_json(config, "gsm8k", "llama", "lema"))
    assert "serve" not in param and param["adapter"].endswith("adapters/llama/lema")
    assert params.predict_gpus(config, "llama") == 4
    assert params.predict_reads_adapter(config)


def test_served_adapter_identity_follows_its_content(tmp_path):
    from lema.models.openai_backend import identity

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"one")
    spec = {"backend": "openai", "model": "b-gsm8k-lema", "adapter": str(adapter)}
    first = identity(spec)
    (adapter / "adapter_model.safetensors").write_bytes(b"two")
    assert identity(spec) != first
    assert identity({"backend": "openai", "model": "x"}) == {
        "backend": "openai",
        "model": "x",
        "chat": True,
    }
    with pytest.raises(LemaError, match="adapter folder .* not found"):
        identity({**spec, "adapter": str(tmp_path / "missing")})


# --- a Snakemake rule with a served generator ------------------------------------------------
def workflow_config(serve: dict) -> dict:
    return {
        "tasks": ["gsm8k"],
        "data": {"source": "embedded", "limit": {"train": 4, "test": 4}},
        "cache": ".lema-cache/responses.sqlite",
        "models": {"served": {"backend": "openai", "model": "fake", "chat": False, "serve": serve}},
        "generators": ["served"],
        "corrector": "gold",
        "sampling": {"k": 2, "max_tokens": {"gsm8k": 32, "math": 32}},
        "backbones": {"b": {"tiny": True}},
    }


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [PY, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(work / "config.yaml"), "--cores", "2", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_a_rule_with_a_served_generator_and_its_knobs(tmp_path):
    from lema.workflow.paths import gen_table

    mark = marker()
    serve = {"command": server_command("--seed", mark), "startup_s": 60, "gpus": 0}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(workflow_config(serve)))
    target = gen_table("gsm8k", "original", "paths", "served")
    proc = snakemake(tmp_path, target)
    log = tmp_path / "logs" / "sample_paths" / "gsm8k" / "served.log"
    assert proc.returncode == 0, proc.stderr[-3000:] + (log.read_text() if log.exists() else "")
    assert (tmp_path / target).exists()
    assert "served at http://127.0.0.1:" in log.read_text()
    assert "serving on" in log.with_name("served.serve.log").read_text()
    assert procs_with(mark) == []
    # the serve settings are knobs: a new command or startup time plans nothing
    for changed in (
        {**serve, "startup_s": 5},
        {**serve, "command": server_command("--latency", "1")},
    ):
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(workflow_config(changed)))
        dry = snakemake(tmp_path, "-n", target)
        assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, changed
    # the served model's identity is not: another model name reruns the sampling
    config = workflow_config(serve)
    config["models"]["served"]["model"] = "another"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    dry = snakemake(tmp_path, "-n", target)
    assert "sample_paths" in dry.stdout + dry.stderr


def test_rule_resources_follow_the_served_model():
    from lema.workflow import params

    config = validate_config(workflow_config({"command": "vllm serve {model} --port {port}"}))
    assert params.model_gpus(config, "served") == 1  # the default
    config["models"]["served"]["serve"]["gpus"] = 8
    assert params.model_gpus(config, "served") == 8
    assert params.model_gpus(config, "gold") == 0


def test_predict_job_serves_the_backbone_with_its_adapter(tmp_path):
    """`lema predict` as the rule runs it (params spec + $LEMA_OPERATIONAL): the job serves
    the backbone with the adapter as a LoRA module; requests name the adapter, which the
    server knows (it answers 404 for any other name)."""
    import polars as pl

    from lema.workflow import knobs, params, paths

    mark = marker()
    command = server_command("--model", "{model}", "{lora_modules}", "--seed", mark)
    config = validate_config(
        base_config(
            models={"g": {"backend": "hf", "model": "m"}},
            backbones={"tb": {"model": "base-model"}},
            evaluation={"backend": "openai", "serve": {"command": command, "gpus": 2}},
        )
    )
    adapter = tmp_path / paths.adapter_folder("math", "tb", "lema")
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    pl.DataFrame(
        {"id": ["t1", "t2"], "question": ["What is 2+3?", "What is 7-9?"], "gold": ["5", "-2"]}
    ).write_parquet(tmp_path / "test.parquet")
    ops = knobs.operational(config, params.all_model_specs(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for mix in ("lema", "base"):
        (tmp_path / "logs").mkdir(exist_ok=True)
        with open(tmp_path / "logs" / f"{mix}.log", "wb") as log:
            rc = subprocess.run(
                [PY, "-m", "lema.cli", "predict", "--task", "math", "--test", "test.parquet",
                 "--spec", params.predict_spec_json(config, "math", "tb", mix),
                 "--operational", ops, "--workers", "1", "--cache", "cache.sqlite",
                 "--output", f"{mix}.parquet"],
                cwd=tmp_path, env=env, stdout=log, stderr=log, timeout=300,
            ).returncode  # fmt: skip
        text = (tmp_path / "logs" / f"{mix}.log").read_text()
        assert rc == 0, text
        assert (
            pl.read_parquet(tmp_path / f"{mix}.parquet")["completion"]
            .str.starts_with("Reply")
            .all()
        )
        serve_log = (tmp_path / "logs" / f"{mix}.serve.log").read_text().splitlines()[0]
        assert "--model base-model" in serve_log
        lora = "--enable-lora --lora-modules tb-math-lema=results/math/adapters/tb/lema"
        assert (lora in serve_log) == (mix == "lema"), serve_log
        assert procs_with(mark) == []
