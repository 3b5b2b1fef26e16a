"""`lema check-config`: validate a config file and print it with defaults filled in."""

from __future__ import annotations

import argparse

import yaml

from lema.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default="config.yaml", help="config file")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(yaml.safe_dump(config, sort_keys=False), end="")
    return 0
