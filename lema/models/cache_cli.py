"""`lema cache stats|merge`: inspect and compact the response cache (lema.models.cache_admin)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from lema.models.cache import default_cache_path
from lema.models.cache_admin import cache_stats, merge_cache


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    stats = sub.add_parser("stats", help="files, entries, duplicates and bytes of the cache")
    merge = sub.add_parser(
        "merge",
        help="compact the shards into the base file (sealed shards, and open ones whose "
        "writer on this host is gone)",
    )
    for p in (stats, merge):
        p.add_argument(
            "--cache",
            default=None,
            help="the cache (default: $LEMA_CACHE or .lema-cache/responses.sqlite)",
        )
        p.add_argument("--json", action="store_true", help="print the figures as JSON")
    merge.add_argument(
        "--include-open",
        action="store_true",
        help="also take open shards of other hosts: only when no job uses this cache anywhere",
    )


def run(args: argparse.Namespace) -> int:
    path = args.cache or default_cache_path()
    if args.action == "stats":
        result = cache_stats(path)
    else:
        result = merge_cache(path, include_open=args.include_open)
    print(json.dumps(dataclasses.asdict(result), indent=1) if args.json else result.summary())
    return 0
