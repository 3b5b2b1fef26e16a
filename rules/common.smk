# Config validation and the path scheme shared by every stage. No rule logic lives here.
import sys

from lema.config import SCHEMA_PATH, validate_config
from lema.errors import ConfigError

try:
    validate_config(config)
except ConfigError as exc:
    sys.exit(f"lema: config error: {exc}")
validate(config, str(SCHEMA_PATH))

TASKS = config["tasks"]
SPLITS = ["train", "test"]


wildcard_constraints:
    task="gsm8k|math",
    split="train|test",


def raw_table(task, split):
    return f"data/raw/{task}/{split}.parquet"


def all_targets():
    """Everything `snakemake` builds by default: each stage adds its final outputs here."""
    targets = [raw_table(t, s) for t in TASKS for s in SPLITS]
    return targets
