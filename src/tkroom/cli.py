"""The ``tkroom`` command: ``serve``, ``admin`` and ``codes``.

Each sub-command is registered by a small ``add_*_parser`` function so that a plane can add
its own without touching the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from tkroom import codes


def _cmd_codes(args: argparse.Namespace) -> int:
    rows = codes.CODES if args.number is None else codes.lookup(args.number)
    if args.number is not None and not rows:
        print(f"no status code {args.number} in the specification", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([c.as_dict() for c in rows], ensure_ascii=False, indent=2))
        return 0
    for c in rows:
        name = c.seed_name or c.name
        print(f"{c.code:>5}  {c.namespace:<14} {name}\n       {c.description}")
    return 0


def add_codes_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codes", help="print the status codes of the specification")
    p.add_argument("number", nargs="?", type=int, help="explain one code")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_cmd_codes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tkroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_codes_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
