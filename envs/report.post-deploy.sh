#!/usr/bin/env bash
# Run by Snakemake inside the new conda environment, right after creating it: installs the
# lema package from the checkout being run (editable, without dependencies: the environment
# file pins them). The checkout is $LEMA_ROOT (rules/common.smk sets it to the workflow's
# folder), else the current folder when it is a lema checkout.
set -euo pipefail
root=${LEMA_ROOT:-$PWD}
if ! grep -qs '^name = "lema"' "$root/pyproject.toml"; then
    echo "post-deploy: $root is not a lema checkout; set LEMA_ROOT to the folder with lema's pyproject.toml" >&2
    exit 1
fi
python -m pip install --quiet --no-deps --no-build-isolation --editable "$root"
