"""The ``safety-neurons`` command: tools around the workflow (``snakemake`` itself runs the stages)."""

from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "bench": "cost ratios of patching, scoring and recording",
    "plan": "GPU-hours of the jobs a dry run would start, per stage and model, calibrated on completed jobs",
}


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a subcommand; its own arguments follow the command name."""
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="safety-neurons", description=__doc__)
    ap.add_argument("command", choices=list(COMMANDS), help="; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
    args, rest = ap.parse_known_args(argv[:1])
    if args.command == "bench":
        from safety_neurons.workflow.measure import main as bench

        bench(argv[1:])
    elif args.command == "plan":
        from safety_neurons.workflow.plan import main as plan

        sys.exit(plan(argv[1:]))


if __name__ == "__main__":
    main()
