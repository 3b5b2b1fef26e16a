#!/usr/bin/env bash
# Downloads, here (the device machine reaches no package index), exactly the wheels that
# benchmarks/gpu.py needs on the lent GPU machine and that its image lacks (it has torch
# 2.11+CUDA, transformers 5.17, peft, accelerate, tokenizers, safetensors, numpy, pandas,
# pyarrow, sympy, pyyaml, tqdm, attrs, huggingface-hub...; Python 3.12, x86_64):
#   .whl/train   lema train:   bitsandbytes, trl, datasets (+ dill, multiprocess), jsonschema
#   .whl/decode  lema predict: polars, math-verify (+ latex2sympy2_extended, antlr 4.11),
#                jsonschema
# One device call may carry 64 MiB: bitsandbytes (~41 MiB) and polars (~40 MiB) do not fit
# together, hence two folders and two calls. Versions are the ones this checkout's .venv has,
# so the device runs what the tests ran. The folder .whl/ is ignored by git.
#
#   bash benchmarks/gpu_wheels.sh           # then: device run, carry [".whl/train"], ...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PIP=${PIP:-.venv/bin/pip}
version() { "$PIP" show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }
pins() { for p in "$@"; do v=$(version "$p"); [[ -n $v ]] || { echo "$p is not in .venv" >&2; exit 1; }; echo "$p==$v"; done; }
fetch() {
    local dest=$1
    shift
    rm -rf "$dest" && mkdir -p "$dest"
    "$PIP" download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d "$dest" $(pins "$@") 2>&1 | grep -v "^WARNING: Location" || true
    local mib
    mib=$(du -sm "$dest" | cut -f1)
    echo "$dest: $(ls "$dest" | wc -l) wheels, ${mib} MiB"
    ((mib < 60)) || { echo "$dest is over what one device call can carry (64 MiB)" >&2; exit 1; }
}
schema=(jsonschema jsonschema-specifications referencing rpds-py)
fetch .whl/train bitsandbytes trl datasets dill multiprocess "${schema[@]}"
fetch .whl/decode polars polars-runtime-32 math-verify latex2sympy2_extended \
    antlr4-python3-runtime "${schema[@]}"
