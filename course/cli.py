"""Command line of the course: ``python -m course <command>`` (also installed as ``course``)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence


def _cmd_execute(args: argparse.Namespace) -> int:
    from course.execute import execute_notebook

    for path in args.notebooks:
        t0 = time.perf_counter()
        execute_notebook(path, timeout=args.timeout)
        print(f"executed {path} in {time.perf_counter() - t0:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("execute", help="execute notebooks in place and store their outputs (nbval reference)")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=_cmd_execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"course {args.command}: error: {exc}", file=sys.stderr)
        return 2
