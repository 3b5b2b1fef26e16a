"""The `hf` backend: transformers in-process, batched, with an optional LoRA adapter (peft).

- device: CUDA when present (spec `device` overrides), else CPU; dtype `auto`: bfloat16 on
  CUDA (float16 where bf16 is unsupported), float32 on CPU.
- batches of ``batch_size`` sequences (one per request x sample index), sorted by prompt
  length, left-padded; one ``model.generate`` call per batch.
- sampling is done per row by our own logits processor, with a torch.Generator seeded from
  the sample's cache key (model, content, sampling settings incl. seed, sample index): a
  sample does not depend on which other rows share its batch, and the same inputs and seed
  give the same outputs. temperature 0 is greedy (and n>1 greedy samples are computed once).
- per-row max_tokens and stop strings (a stopping criterion per row; text is cut before the
  stop string, as OpenAI does).
- chat messages go through the tokenizer's chat template (a plain rendering when it has none).

Loaded models stay in memory for the process (keyed by model, adapter, device, dtype).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lema.errors import LemaError
from lema.models.core import Job, Sink, progress_bar, render_messages, required
from lema.models.types import GenerationStats

_LOADED: dict[tuple[Any, ...], tuple[Any, Any, Any]] = {}
_FULL_HASH_MAX_BYTES = 256 * 1024 * 1024
_EDGE_BYTES = 1024 * 1024
SMALL_MODEL_PARAMS = 20_000_000  # CPU decoding of smaller models runs on one thread


def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as fh:
        if size <= _FULL_HASH_MAX_BYTES:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:  # huge weights: size + first and last MiB (a retrain changes both)
            h.update(str(size).encode())
            h.update(fh.read(_EDGE_BYTES))
            fh.seek(size - _EDGE_BYTES)
            h.update(fh.read(_EDGE_BYTES))
    return h.hexdigest()


def folder_fingerprint(path: str | Path) -> str | None:
    """A content fingerprint of a local model/adapter folder (None for hub ids)."""
    p = Path(path)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if not f.is_file() or f.name.startswith(".") or "checkpoint" in f.parts[-2:-1]:
            continue
        if f.suffix not in (".json", ".safetensors", ".bin", ".model", ".txt", ".jinja", ".pt"):
            continue
        if f.name in ("trainer_state.json", "training_args.bin", "README.md"):
            continue
        h.update(str(f.relative_to(p)).encode())
        h.update(_file_digest(f).encode())
    return h.hexdigest()


def identity(spec: dict[str, Any]) -> dict[str, Any]:
    model = required(spec, "model", "hf")
    out: dict[str, Any] = {"backend": "hf", "model": str(model)}
    fp = folder_fingerprint(model)
    if fp is not None:
        out["model"] = Path(model).name
        out["weights"] = fp
    adapter = spec.get("adapter")
    if adapter:
        if not Path(adapter).is_dir():
            raise LemaError(f"adapter folder {adapter} not found")
        out["adapter"] = folder_fingerprint(adapter)
    return out


# ------------------------------------------------------------------------------ loading
def pick_device(spec: dict[str, Any]) -> str:
    import torch

    dev = spec.get("device")
    if dev:
        return str(dev)
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(spec: dict[str, Any], device: str) -> Any:
    import torch

    name = spec.get("dtype") or "auto"
    if name != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            name
        ]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(path: str) -> Any:
    """The tokenizer with left padding; self-trained ones load as PreTrainedTokenizerFast."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    cfg = Path(path) / "tokenizer_config.json"
    cls_name = None
    if cfg.is_file():
        try:
            cls_name = json.loads(cfg.read_text()).get("tokenizer_class")
        except ValueError:
            cls_name = None
    if cls_name in ("PreTrainedTokenizerFast", "TokenizersBackend"):
        tok = PreTrainedTokenizerFast.from_pretrained(path, padding_side="left")
    else:
        tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load(spec: dict[str, Any]) -> tuple[Any, Any, str]:
    """(model, tokenizer, device) for ``spec``, loaded once per process."""
    from transformers import AutoModelForCausalLM

    device = pick_device(spec)
    dtype = pick_dtype(spec, device)
    model_id = str(spec["model"])
    adapter = spec.get("adapter")
    key = (model_id, adapter, device, str(dtype))
    if key in _LOADED:
        return _LOADED[key]
    try:
        tok = load_tokenizer(model_id)
        model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype)
    except OSError as exc:
        raise LemaError(f"cannot load model '{model_id}': {str(exc).splitlines()[0]}") from None
    if adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError) as exc:
            raise LemaError(f"cannot load adapter {adapter}: {str(exc).splitlines()[0]}") from None
    model.to(device)
    model.eval()
    _LOADED.clear()  # keep one model in memory at a time
    _LOADED[key] = (model, tok, device)
    return model, tok, device


# ------------------------------------------------------------------------------ prompts
def prompt_ids(tok: Any, job: Job) -> list[int]:
    req = job.request
    if req.messages is not None:
        msgs = [{"role": m["role"], "content": m["content"]} for m in req.messages]
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            return list(tok(text, add_special_tokens=False)["input_ids"])
        text = render_messages(msgs)
    else:
        text = req.prompt or ""
    return list(tok(text, add_special_tokens=True)["input_ids"])


def _row_seed(key: str) -> int:
    return int(key[:15], 16)


# ------------------------------------------------------------------------------ the run
def run(
    spec: dict[str, Any],
    jobs: Sequence[Job],
    sink: Sink,
    stats: GenerationStats,
    progress: bool | str,
) -> None:
    model, tok, device = load(spec)
    with _decoding_threads(model, device):
        batch_size = int(spec.get("batch_size") or 16)
        eos_ids = _eos_ids(model, tok)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]
        rows = _plan_rows(jobs, tok)
        bar = progress_bar(spec, progress, len(rows), "seq")
        for b in range(0, len(rows), batch_size):
            batch = rows[b : b + batch_size]
            out = _generate_batch(model, tok, device, batch, pad_id, eos_ids)
            stats.requests_sent += 1
            sink.store_many(_batch_samples(tok, batch, out, eos_ids, stats))
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def _decoding_threads(model: Any, device: str) -> Iterator[None]:
    """One torch thread while decoding a small model on CPU (tiny matrices: more threads only
    add sync overhead, 10x slower under load); the thread count is restored after."""
    import torch

    threads = torch.get_num_threads()
    small = device == "cpu" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# a row: (job, the sample indices it fills, prompt ids); a greedy row fills every missing index
Row = tuple[Job, list[int], list[int]]


def _plan_rows(jobs: Sequence[Job], tok: Any) -> list[Row]:
    """One row per sample still missing (one per job when greedy), longest prompt first."""
    rows: list[Row] = []
    for job in jobs:
        ids = prompt_ids(tok, job)
        missing = job.missing()
        if job.request.sampling.temperature == 0.0:
            rows.append((job, missing, ids))
        else:
            rows.extend((job, [i], ids) for i in missing)
    rows.sort(key=lambda r: -len(r[2]))
    return rows


@functools.cache
def _row_classes() -> tuple[type, type]:
    """(RowSampler, RowStop): per-row sampling and stopping for ``model.generate``; built on
    first use, so that importing this module does not import transformers."""
    import torch
    from transformers import LogitsProcessor, StoppingCriteria

    class RowSampler(LogitsProcessor):
        def __init__(self, temps: list[float], top_ps: list[float], gens: list[Any]) -> None:
            self.temps, self.top_ps, self.gens = temps, top_ps, gens

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            scores = scores.float()
            choice = scores.argmax(dim=-1)
            for r, t in enumerate(self.temps):
                if t == 0.0:
                    continue
                logits = scores[r] / t
                probs = torch.softmax(logits, dim=-1)
                if self.top_ps[r] < 1.0:
                    sp, si = torch.sort(probs, descending=True)
                    keep = torch.cumsum(sp, dim=-1) - sp < self.top_ps[r]
                    keep[0] = True
                    probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
                choice[r] = torch.multinomial(probs, 1, generator=self.gens[r])[0]
            out = torch.full_like(scores, float("-inf"))
            out.scatter_(1, choice.unsqueeze(1), 0.0)
            return out

    class RowStop(StoppingCriteria):
        def __init__(
            self, tok: Any, start: int, limits: list[int], stops: list[tuple[str, ...]]
        ) -> None:
            self.tok, self.start, self.limits, self.stops = tok, start, limits, stops
            self.tail = [max((len(s) for s in st), default=0) + 16 for st in stops]

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            gen = input_ids.shape[1] - self.start
            done = torch.tensor([gen >= lim for lim in self.limits], device=input_ids.device)
            for r, st in enumerate(self.stops):
                if st and not done[r]:
                    text = self.tok.decode(
                        input_ids[r, max(self.start, input_ids.shape[1] - self.tail[r]) :],
                        skip_special_tokens=True,
                    )
                    if any(s in text for s in st):
                        done[r] = True
            return done

    return RowSampler, RowStop


def _left_padded(batch: Sequence[Row], pad_id: int) -> tuple[Any, Any, int]:
    """(input ids, attention mask, width) of a batch, left-padded to its longest prompt."""
    import torch

    width = max(len(r[2]) for r in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (_, _, ids) in enumerate(batch):
        if ids:
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[r, width - len(ids) :] = 1
    return input_ids, mask, width


def _generate_batch(
    model: Any, tok: Any, device: str, batch: Sequence[Row], pad_id: int, eos_ids: list[int]
) -> list[list[int]]:
    """One ``model.generate`` call: the generated token ids of each row (prompt cut off)."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    row_sampler, row_stop = _row_classes()
    input_ids, mask, width = _left_padded(batch, pad_id)
    samplings = [job.request.sampling for job, _, _ in batch]
    gens = []
    for job, idx, _ in batch:
        g = torch.Generator(device=device)
        g.manual_seed(_row_seed(job.keys[idx[0]]))
        gens.append(g)
    limits = [s.max_tokens for s in samplings]
    gen_cfg = GenerationConfig(
        max_new_tokens=max(limits),
        do_sample=False,
        num_beams=1,
        pad_token_id=pad_id,
        eos_token_id=eos_ids,
    )
    out = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=mask.to(device),
        generation_config=gen_cfg,
        logits_processor=LogitsProcessorList(
            [row_sampler([s.temperature for s in samplings], [s.top_p for s in samplings], gens)]
        ),
        stopping_criteria=StoppingCriteriaList(
            [row_stop(tok, width, limits, [s.stop for s in samplings])]
        ),
    )
    return out[:, width:].cpu().tolist()


def _finish(
    tok: Any, gen: list[int], stops: Sequence[str], eos_ids: list[int]
) -> tuple[str, list[int], str]:
    """(text, the tokens it counts, finish reason) of one row's generated ids (already cut to
    its max_tokens): up to the first eos token, and cut before the first stop string."""
    finish = "length"
    for k, t in enumerate(gen):
        if t in eos_ids:
            gen, finish = gen[:k], "stop"
            break
    text = tok.decode(gen, skip_special_tokens=True)
    for s in stops:
        cut = text.find(s)
        if cut >= 0:
            text, finish = text[:cut], "stop"
    return text, gen, finish


def _batch_samples(
    tok: Any, batch: Sequence[Row], out: list[list[int]], eos_ids: list[int], stats: GenerationStats
) -> list[tuple[Job, int, str, dict[str, Any]]]:
    """The samples of one generated batch, for the sink; their tokens counted in ``stats``."""
    items = []
    for r, (job, idx, ids) in enumerate(batch):
        sampling = job.request.sampling
        text, gen, finish = _finish(tok, out[r][: sampling.max_tokens], sampling.stop, eos_ids)
        stats.prompt_tokens += len(ids)
        stats.completion_tokens += len(gen)
        meta = {
            "prompt_tokens": len(ids),
            "completion_tokens": len(gen),
            "cost_usd": 0.0,
            "call": job.keys[0][:16],
            "finish_reason": finish,
        }
        items.extend((job, i, text, meta) for i in idx)
    return items


def _eos_ids(model: Any, tok: Any) -> list[int]:
    ids: list[int] = []
    cfg_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for e in (cfg_eos, tok.eos_token_id):
        if isinstance(e, int):
            ids.append(e)
        elif isinstance(e, list | tuple):
            ids.extend(int(x) for x in e)
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise LemaError("the tokenizer has no eos token")
    return ids
