"""The ``safety-neurons`` command: tools around the workflow (``snakemake`` itself runs the stages)."""

from __future__ import annotations

import argparse
import sys

COMMANDS = {
    "bench": "cost ratios of patching, scoring and recording",
    "check": "validate config files as the workflow will (config.yaml first, then each --configfile); one line "
    "naming the file and line, or the key, of the first mistake",
    "plan": "GPU-hours of the jobs a dry run would start, per stage and model, calibrated on completed jobs",
    "warm": "run a local Snakemake command with torch, transformers, peft and trl imported once for all its jobs",
}


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a subcommand; its own arguments follow the command name."""
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="safety-neurons", description=__doc__, allow_abbrev=False)
    ap.add_argument("command", choices=list(COMMANDS), help="; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
    args, rest = ap.parse_known_args(argv[:1])
    if args.command == "bench":
        from safety_neurons.workflow.measure import main as bench

        bench(argv[1:])
    elif args.command == "check":
        sys.exit(check(rest + argv[1:]))
    elif args.command == "plan":
        from safety_neurons.workflow.plan import main as plan

        sys.exit(plan(argv[1:]))
    elif args.command == "warm":
        from safety_neurons.workflow.warm import main as warm

        sys.exit(warm(argv[1:]))


def check(argv: list[str]) -> int:
    """``safety-neurons check [--configfile F ...]``: the config checks of a dry run, without Snakemake."""
    from safety_neurons.workflow.config import ConfigError, load

    ap = argparse.ArgumentParser(prog="safety-neurons check", description=COMMANDS["check"], allow_abbrev=False)
    ap.add_argument("--configfile", nargs="+", default=[], help="config files merged on top of config.yaml")
    args = ap.parse_args(argv)
    try:
        config = load("config.yaml", *args.configfile)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"ok: {len(config['active_models'])} models, {len(config['seeds'])} seeds")
    return 0


if __name__ == "__main__":
    main()
