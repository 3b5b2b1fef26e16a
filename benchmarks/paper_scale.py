"""Scale on paper: the job count, GPU hours and API cost of the paper-scale study (config.yaml).

    .venv/bin/python benchmarks/paper_scale.py [--config config.yaml] [--no-dry-run]
        [--mfu-train 0.25] [--mfu-generate 0.10] [--gpu-tflops 312] [--json out.json]

What is measured and what is assumed (every assumption is a flag):

- **Job count**: measured — `snakemake -n` on the config in an empty folder (the real DAG);
  `--no-dry-run` counts from the config instead (data stages, models, adapters, evaluations).
- **Questions**: GSM8K 7,473 train / 1,319 test; MATH 7,500 train / 5,000 test (the datasets).
- **Token lengths**: tokenizer-free, ~4 characters per token (`--chars-per-token`). Prompt
  files are read from lema/prompts (their real length). Question and solution lengths are the
  mean character counts of the datasets (measured on ../shared/data: GSM8K question 235 /
  solution 287 chars; MATH 4-subject subset problem 186 / solution 419 chars), or re-measured
  with `--data DIR`.
- **Wrong paths** per sampled path (assumed): `--wrong-rate-gsm8k 0.35`, `--wrong-rate-math
  0.70` (strong and weak generators averaged; LLaMA-2-70B is wrong more often, GPT-4 less).
  Corrections kept (assumed): 0.70; evolved questions kept after self-consistency: 0.70.
  Corrector CoT paths kept: 0.85 GSM8K, 0.55 MATH. Generated text is ~1.2 x the gold
  solution's length (corrections: incorrect step + explanation + the corrected rest, ~1.5 x;
  the explanation ~1/4 of a correction, for `lema_no_explanation`).
- **CoT augmentation** for `cot_matched` (`lema cot-augment`): the paths per question that
  `cot.augment_paths: auto` asks for at the assumed CoT keep rate (lema.datagen.cot), one
  request per question; the ablations and the size curve's mixes (`mix.sizes`) are trained
  and evaluated like the other mixes.
- **GPU time** from FLOPs: training costs ~8 N FLOPs per token (QLoRA with gradient
  checkpointing: forward, recomputed forward, backward through frozen 4-bit weights), decoding
  ~2 N per token; at an assumed model-FLOPs utilisation (`--mfu-train 0.25` for QLoRA with
  dequantisation overhead, `--mfu-generate 0.10` for batched HF `generate`) of an A100's
  312 dense BF16 TFLOPs (NVIDIA A100 datasheet). These are estimates, not measurements: a
  served vLLM generator is several times faster than in-process HF decoding.
- **API cost**: config.yaml's per-1K-token prices (`price_per_1k_prompt/completion`); a model
  without prices there (text-davinci-003, retired) is counted as $0 and listed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_QUESTIONS = {"gsm8k": 7473, "math": 7500}
TEST_QUESTIONS = {"gsm8k": 1319, "math": 5000}
# mean characters (question, gold solution), measured on ../shared/data train splits
MEAN_CHARS = {"gsm8k": (235, 287), "math": (186, 419)}


def measured_chars(data: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for task, q, s in (("gsm8k", "question", "answer"), ("math", "problem", "solution")):
        rows = [json.loads(line) for line in (data / task / "train.jsonl").open()]
        out[task] = (round(mean(len(r[q]) for r in rows)), round(mean(len(r[s]) for r in rows)))
    return out


def prompt_tokens(config: dict, section: str, task: str, cpt: float) -> float:
    from lema.datagen.prompts import prompt_path

    text = Path(prompt_path(config[section]["prompt"][task])).read_text()
    return len(text) / cpt


def dry_run_jobs(config_path: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile",
             str(ROOT / "Snakefile"), "--configfile", str(config_path), "--directory", tmp],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 or "Job stats:" not in out:
        raise SystemExit(f"snakemake -n failed:\n{out[-2000:]}")
    counts = {}
    for line in out.split("Job stats:", 1)[1].splitlines()[3:]:
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def trained_tokens(task_data: dict, mix: str, settings: dict) -> float:
    """Tokens one adapter trains on: max_steps x batch_size rows of the mix's mean length, or
    `epochs` passes over the mix when max_steps is null."""
    if settings["max_steps"]:
        per_row = task_data["mix_tokens"][mix] / task_data["mix_rows"][mix]
        return settings["max_steps"] * settings["batch_size"] * per_row
    return task_data["mix_tokens"][mix] * settings["epochs"]


def estimate(config: dict, a: argparse.Namespace) -> dict:
    from lema.config import backbone_training, model_spec
    from lema.datagen.cot import augment_count
    from lema.workflow.params import eval_mixes, train_mixes
    from lema.workflow.paths import size_of_mix

    cpt = a.chars_per_token
    chars = measured_chars(a.data) if a.data else MEAN_CHARS
    tasks, gens = config["tasks"], config["generators"]
    k = config["sampling"]["k"]
    wrong = {"gsm8k": a.wrong_rate_gsm8k, "math": a.wrong_rate_math}
    cot_kept = {"gsm8k": 0.85, "math": 0.55}
    evo = config["evolution"]
    from lema.config.load import corrector_of
    from lema.workflow.params import evolution_status

    unknown = [t for t in tasks if t not in TRAIN_QUESTIONS]
    if unknown:
        raise SystemExit(
            f"paper_scale.py: no dataset figures for task(s) {', '.join(unknown)} (known: "
            f"{', '.join(TRAIN_QUESTIONS)}); estimate a config with those tasks only"
        )
    correctors = {t: corrector_of(config, t) for t in tasks}
    corrector = correctors[tasks[0]]  # the task being estimated's (set in the loop below)

    calls: dict[str, dict[str, float]] = {}  # "model (role)" -> requests, prompt/completion tokens
    n_role = ["generator"]

    def spend(model: str, n: float, prompt: float, completion: float) -> None:
        role = "corrector" if model == corrector and n_role[0] == "corrector" else "generator"
        c = calls.setdefault(
            f"{model} ({role})", {"requests": 0.0, "prompt": 0.0, "completion": 0.0}
        )
        c["requests"] += n
        c["prompt"] += n * prompt
        c["completion"] += n * completion

    def spend_c(n: float, prompt: float, completion: float) -> None:
        n_role[0] = "corrector"
        spend(corrector, n, prompt, completion)
        n_role[0] = "generator"

    data, rows = {}, {}
    for t in tasks:
        corrector = correctors[t]
        evolve_on = evolution_status(config, t) == "enabled"
        q_tok, s_tok = chars[t][0] / cpt, chars[t][1] / cpt
        path_tok = 1.2 * s_tok
        corr_tok = 1.5 * s_tok
        n_q = TRAIN_QUESTIONS[t]
        sample_p = prompt_tokens(config, "sampling", t, cpt) + q_tok
        correct_p = prompt_tokens(config, "correction", t, cpt) + q_tok + path_tok
        cot_p = prompt_tokens(config, "cot", t, cpt) + q_tok
        evolve_p = prompt_tokens(config, "evolution", t, cpt) + q_tok + corr_tok
        # step 2-3 on the training questions
        paths = n_q * k * len(gens)
        for g in gens:
            spend(g, n_q, sample_p, k * path_tok)  # one request, n=k completions
        mistakes = paths * wrong[t]
        spend_c(mistakes, correct_p, corr_tok)
        kept_corr = mistakes * a.kept_corrections
        kept_original = kept_corr
        # step 4: evolution
        evolved_kept = 0.0
        if evolve_on:
            seeds = min(n_q, kept_corr) if evo["max_seeds"] is None else evo["max_seeds"]
            seeds = min(
                seeds, n_q * (1 - (1 - wrong[t]) ** (k * len(gens)))
            )  # questions with a mistake
            new = seeds * evo["new_per_seed"]
            spend_c(seeds, evolve_p, evo["new_per_seed"] * q_tok * 1.2)
            spend_c(new, cot_p, evo["votes"] * path_tok)  # n=votes
            evolved_kept = new * a.kept_evolved
            for g in gens:
                spend(g, evolved_kept, sample_p, k * path_tok)
            ev_mistakes = evolved_kept * k * len(gens) * wrong[t]
            spend_c(ev_mistakes, correct_p, corr_tok)
            kept_corr += ev_mistakes * a.kept_corrections
        # step 5: CoT data
        n_cot = config["cot"]["corrector_paths"]
        if n_cot:
            spend_c(n_q, cot_p, n_cot * path_tok)
        cot_rows = n_q * (1 + n_cot * cot_kept[t])
        lema_rows = cot_rows + kept_corr
        # step 5b: CoT augmentation, so that cot_matched is distinct rows
        c = config["cot"]
        augment = (
            augment_count(
                round(lema_rows - cot_rows), n_q, cot_kept[t] if n_cot else None,
                margin=c["augment_margin"], max_paths=c["augment_max_paths"],
            )
            if c["augment_paths"] == "auto"
            else int(c["augment_paths"])
        )  # fmt: skip
        if "cot_matched" in config["mixes"] and augment:
            spend_c(n_q, cot_p, augment * path_tok)
        row_tok = {"cot": q_tok + 12 + s_tok, "correction": q_tok + path_tok + 30 + corr_tok}
        lema_tok = cot_rows * row_tok["cot"] + kept_corr * row_tok["correction"]
        mix_tokens = {
            "cot": cot_rows * row_tok["cot"],
            "lema": lema_tok,
            "cot_matched": lema_rows * row_tok["cot"],
            "lema_no_explanation": lema_tok - kept_corr * 0.25 * corr_tok,
            "lema_no_evolution": cot_rows * row_tok["cot"] + kept_original * row_tok["correction"],
        }
        rows[t] = {
            "cot": cot_rows, "lema": lema_rows, "cot_matched": lema_rows,
            "lema_no_explanation": lema_rows, "lema_no_evolution": cot_rows + kept_original,
        }  # fmt: skip
        for m in train_mixes(config):
            sized = size_of_mix(m)
            if sized:  # the size curve: N rows of the mix, at its mean row length
                base, n = sized
                rows[t][m] = min(n, rows[t][base])
                mix_tokens[m] = rows[t][m] * mix_tokens[base] / rows[t][base]
        data[t] = {
            "train_questions": n_q,
            "sampled_paths": round(paths),
            "mistakes": round(mistakes),
            "kept_corrections": round(kept_corr),
            "evolved_questions_kept": round(evolved_kept),
            "cot_augment_paths_per_question": augment,
            "mix_rows": {m: round(v) for m, v in rows[t].items() if m in train_mixes(config)},
            "mix_tokens": {
                m: round(v) for m, v in mix_tokens.items() if m in train_mixes(config)
            },
            "eval_tokens_per_run": round(TEST_QUESTIONS[t] * (q_tok + 12 + 1.2 * s_tok)),
            "prompt_tokens": {
                "sample": round(sample_p), "correct": round(correct_p), "cot": round(cot_p),
                "evolve": round(evolve_p),
            },
        }  # fmt: skip

    # API cost per model (config prices)
    cost, unpriced = {}, []
    for key, c in calls.items():
        name = key.split(" (")[0]
        spec = model_spec(config, name)
        if spec["backend"] != "openai":
            continue
        pp, pc = spec.get("price_per_1k_prompt", 0), spec.get("price_per_1k_completion", 0)
        if not pp and not pc:
            unpriced.append(key)
        cost[key] = round(c["prompt"] / 1000 * pp + c["completion"] / 1000 * pc, 2)

    # GPU hours: local (hf) generators' sampling, training, evaluation
    flops_s_train = a.gpu_tflops * 1e12 * a.mfu_train
    flops_s_gen = a.gpu_tflops * 1e12 * a.mfu_generate
    size = {}
    for name in gens:
        spec = model_spec(config, name)
        if spec["backend"] == "hf":
            m = re.search(r"(\d+)[bB]", spec.get("model", name))
            size[name] = float(m.group(1)) if m else 7.0
    sampling_h = {
        g: round(
            2
            * size[g]
            * 1e9
            * sum(calls[f"{g} (generator)"][x] for x in ("prompt", "completion"))
            / flops_s_gen
            / 3600,
            1,
        )
        for g in size
    }
    train_h, eval_h = {}, {}
    for b, entry in config["backbones"].items():
        n = entry.get("size_b", 7) * 1e9
        th = eh = 0.0
        for t in tasks:
            ts = backbone_training(config, b, t)
            for m in train_mixes(config):
                th += 8 * n * trained_tokens(data[t], m, ts) / flops_s_train / 3600
            eh += (
                len(eval_mixes(config))
                * 2
                * n
                * data[t]["eval_tokens_per_run"]
                / flops_s_gen
                / 3600
            )
        train_h[b], eval_h[b] = round(th, 1), round(eh, 1)

    return {
        "assumptions": {
            "chars_per_token": cpt, "wrong_rate": wrong, "kept_corrections": a.kept_corrections,
            "kept_evolved": a.kept_evolved, "gpu_tflops": a.gpu_tflops,
            "mfu_train": a.mfu_train, "mfu_generate": a.mfu_generate, "mean_chars": chars,
        },
        "data": data,
        "api_calls": {m: {k2: round(v) for k2, v in c.items()} for m, c in calls.items()},
        "api_cost_usd": cost,
        "api_cost_unpriced": unpriced,
        "corrector": ", ".join(sorted(set(correctors.values()))),
        "gpu_hours": {
            "sampling": sampling_h, "training": train_h, "evaluation": eval_h,
            "total": round(sum(sampling_h.values()) + sum(train_h.values()) + sum(eval_h.values())),
        },
    }  # fmt: skip


def _millions(tokens: dict[str, float]) -> dict[str, float]:
    return {m: round(v / 1e6, 1) for m, v in tokens.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    p.add_argument("--data", type=Path, default=None, help="re-measure mean lengths here")
    p.add_argument("--no-dry-run", action="store_true", help="skip `snakemake -n` (job count)")
    p.add_argument("--chars-per-token", type=float, default=4.0)
    p.add_argument("--wrong-rate-gsm8k", type=float, default=0.35)
    p.add_argument("--wrong-rate-math", type=float, default=0.70)
    p.add_argument("--kept-corrections", type=float, default=0.70)
    p.add_argument("--kept-evolved", type=float, default=0.70)
    p.add_argument("--gpu-tflops", type=float, default=312.0, help="A100 dense BF16 peak")
    p.add_argument("--mfu-train", type=float, default=0.25)
    p.add_argument("--mfu-generate", type=float, default=0.10)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)

    from lema.config import validate_config

    config = yaml.safe_load(a.config.read_text())
    validate_config(config)  # fills in the schema defaults
    result = estimate(config, a)
    if not a.no_dry_run:
        result["jobs"] = dry_run_jobs(a.config)

    print(f"== paper scale: {a.config} ==")
    if "jobs" in result:
        j = result["jobs"]
        print(f"jobs (snakemake -n): {j['total']} — " + ", ".join(
            f"{k} {v}" for k, v in j.items() if k not in ("total", "all")))  # fmt: skip
    for t, d in result["data"].items():
        print(f"{t}: {d['sampled_paths']:,} paths, {d['mistakes']:,} mistakes, "
              f"{d['kept_corrections']:,} kept corrections (incl. evolved), "
              f"{d['evolved_questions_kept']:,} "
              f"evolved questions; mix rows {d['mix_rows']}; "
              f"mix tokens (M) {_millions(d['mix_tokens'])}")  # fmt: skip
        print(f"  prompt tokens per request (chars/4): {d['prompt_tokens']}")
    print("API calls (requests; prompt / completion tokens, M):")
    for m, c in result["api_calls"].items():
        price = result["api_cost_usd"].get(m)
        tag = "" if price is None else f"  ${price:,.0f}"
        if m in result["api_cost_unpriced"]:
            tag += " (no price in config)"
        print(
            f"  {m:28} {c['requests']:>9,}  "
            f"{c['prompt'] / 1e6:8.1f} / {c['completion'] / 1e6:6.1f}{tag}"
        )
    corr = sum(v for m, v in result["api_cost_usd"].items() if m.endswith(" (corrector)"))
    print(
        f"API cost total: ${sum(result['api_cost_usd'].values()):,.0f} "
        f"(corrector {result['corrector']}: ${corr:,.0f})"
    )
    g = result["gpu_hours"]
    print(f"A100 GPU hours (estimate): sampling {g['sampling']}, training {g['training']}, "
          f"evaluation {g['evaluation']}; total ~{g['total']:,}")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
