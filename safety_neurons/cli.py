"""The ``safety-neurons`` command: tools around the workflow (``snakemake`` itself runs the stages)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="safety-neurons", description=__doc__)
    ap.add_argument("command", choices=["bench"], help="bench: cost ratios of patching, scoring and recording")
    args, rest = ap.parse_known_args(argv[:1])
    if args.command == "bench":
        from .bench import main as bench

        bench(argv[1:])


if __name__ == "__main__":
    main()
