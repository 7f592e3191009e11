"""GPU-hours planner: the jobs a dry run would start, costed with the cost model, and calibrated on benchmarks.

Usage: ``safety-neurons plan [--profile P] [--configfile F ...] [--directory D] [--json] [targets ...]``.

The DAG is dry-run through Snakemake's Python API; every job it would run arrives as a ``LogEvent.JOB_INFO``
log record (rule, wildcards, evaluated resources, benchmark path). Stale jobs come from a plain dry run; the
calibration table (estimated vs measured minutes) needs every job's estimate, so it comes from a second dry run
with ``forceall`` when benchmark files exist. Nothing is executed and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from safety_neurons.workflow import costs
from safety_neurons.workflow.config import ConfigError, load

DEFAULT_CONFIG = "config.yaml"  # the Snakefile's `configfile:`


class PlanError(Exception):
    """A planning failure with a message for the user (bad profile, bad config, workflow error)."""


class _JobCollector(logging.Handler):
    """Keeps the JOB_INFO records of a dry run; passes warnings and errors on to stderr."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.jobs: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Record one job per JOB_INFO event."""
        from snakemake_interface_logger_plugins.common import LogEvent

        if getattr(record, "event", None) == LogEvent.JOB_INFO:
            self.jobs.append(_job_of(record))
        elif record.levelno >= logging.WARNING and "eligible for caching" not in record.getMessage():
            print(record.getMessage(), file=sys.stderr)  # the cache notice is no warning for a plan


TIMING_FILE = "adapter_metrics.json"  # written by SFT/DPO, which are cached and so carry no benchmark


def _job_of(record: logging.LogRecord) -> dict:
    """The fields of a JOB_INFO record the planner uses."""
    resources = dict(record.resources.items()) if record.resources is not None else {}
    return {
        "rule": record.rule_name,
        "wildcards": dict(record.wildcards or {}),
        "resources": {k: v for k, v in resources.items() if not k.startswith("_")},
        "benchmark": record.benchmark,
        "outputs": len(record.output or []),
        "timing_file": next((str(f) for f in record.output or [] if str(f).endswith(TIMING_FILE)), None),
        "reason": getattr(record, "reason", ""),
    }


def profile_settings(profile: str | None) -> dict:
    """Settings from a profile's profile.yaml, parsed as the Snakemake CLI does: set-resources, default-resources,
    resources and rerun-triggers (executor keys such as slurm-* or jobs do not change the DAG and are ignored)."""
    if profile is None:
        return {}
    from configargparse import ConfigFileParserException
    from snakemake.cli import get_profile_dir, parse_set_resources
    from snakemake.profiles import ProfileConfigFileParser
    from snakemake.resources import Resources
    from snakemake.settings.enums import RerunTrigger

    found = get_profile_dir(profile)
    if found is None:
        raise PlanError(f"profile {profile!r}: no profile.yaml found")
    try:
        with open(found[1]) as f:
            raw = ProfileConfigFileParser().parse(f)
    except ConfigFileParserException as e:
        raise PlanError(f"profile {found[1]}: {e}") from None
    out: dict = {}
    if "set-resources" in raw:
        out["overwrite_resources"] = parse_set_resources(raw["set-resources"])
    if "default-resources" in raw:
        out["default_resources"] = Resources.parse(raw["default-resources"], defaults="full", allow_expressions=True)
    if "resources" in raw:
        out["resources"] = Resources.parse(raw["resources"], allow_expressions=False)
    if "rerun-triggers" in raw:
        out["rerun_triggers"] = RerunTrigger.parse_choices_set(raw["rerun-triggers"])
    return out


def dry_run(
    directory: Path, configfiles: Sequence[Path], targets: Iterable[str], settings: dict, force_all: bool = False
) -> list[dict]:
    """The jobs a dry run would start (all jobs of the DAG with ``force_all``)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    collector = _JobCollector()
    resources = {k: v for k, v in settings.items() if k != "rerun_triggers"}
    dag_kw = {"rerun_triggers": settings["rerun_triggers"]} if "rerun_triggers" in settings else {}
    with SnakemakeApi(OutputSettings(dryrun=True)) as api:
        log = logging.getLogger("snakemake.logging")
        for handler in list(log.handlers):  # the default stream handler would print every job
            log.removeHandler(handler)
        log.addHandler(collector)
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1, **resources),
            config_settings=ConfigSettings(configfiles=list(configfiles)),
            snakefile=directory / "Snakefile",
            workdir=directory,
        )
        dag = wf.dag(DAGSettings(targets=frozenset(targets), forceall=force_all, **dag_kw))
        dag.execute_workflow(executor="dryrun")
    return collector.jobs


def _number(value: object) -> float:
    """A resource value as a number (0 for strings and missing values)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def estimate(job: dict, config: dict) -> tuple[float, str]:
    """Estimated minutes of a job and where they come from: ``cost`` model, ``runtime`` resource or ``none``
    (target rules without outputs, such as ``all``, do no work)."""
    if not job["outputs"]:
        return 0.0, "none"
    try:
        return costs.estimate_minutes(job["rule"], config, job["wildcards"]), "cost"
    except KeyError:
        runtime = _number(job["resources"].get("runtime"))
        return runtime, "runtime" if runtime else "none"


def cost_job(job: dict, config: dict) -> dict:
    """A job with its GPU count, estimated minutes and GPU-hours."""
    minutes, source = estimate(job, config)
    gpu = int(_number(job["resources"].get("gpu")))
    return {
        "rule": job["rule"],
        "model": job["wildcards"].get("model", "-"),
        "wildcards": job["wildcards"],
        "gpu": gpu,
        "minutes": round(minutes, 3),
        "estimate": source,
        "gpu_hours": gpu * minutes / 60,
        "benchmark": job["benchmark"],
        "timing_file": job.get("timing_file"),
        "reason": job["reason"],
    }


def aggregate(jobs: list[dict], key: str) -> dict[str, dict]:
    """Job counts, job-minutes and GPU-hours per value of ``key`` (rule or model)."""
    out: dict[str, dict] = {}
    for job in jobs:
        row = out.setdefault(job[key], {"jobs": 0, "gpu": 0, "minutes": 0.0, "gpu_hours": 0.0})
        row["jobs"] += 1
        row["gpu"] = max(row["gpu"], job["gpu"])
        row["minutes"] += job["minutes"]
        row["gpu_hours"] += job["gpu_hours"]
    return out


def measured_seconds(path: Path) -> float | None:
    """Mean wall seconds (column ``s``) of a Snakemake benchmark tsv; None when unreadable or empty."""
    try:
        with open(path, newline="") as f:
            rows = [float(r["s"]) for r in csv.DictReader(f, delimiter="\t") if r.get("s") not in (None, "", "NA")]
    except (OSError, ValueError, KeyError):
        return None
    return sum(rows) / len(rows) if rows else None


def trained_seconds(path: Path) -> float | None:
    """Training wall seconds recorded in an adapter's metrics (cached rules cannot have a benchmark file)."""
    try:
        return float(json.loads(path.read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def job_seconds(job: dict, directory: Path) -> float | None:
    """Measured seconds of a completed job: its benchmark file, else its adapter metrics."""
    if job["benchmark"]:
        return measured_seconds(directory / job["benchmark"])
    return trained_seconds(directory / job["timing_file"]) if job.get("timing_file") else None


def calibrate(jobs: list[dict], directory: Path) -> dict[str, dict]:
    """Per rule: measured jobs, mean estimated and measured minutes, and measured / estimated."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    for job in jobs:
        seconds = job_seconds(job, directory)
        if seconds is not None:
            pairs.setdefault(job["rule"], []).append((job["minutes"], seconds / 60))
    out = {}
    for rule, p in pairs.items():
        est, meas = sum(e for e, _ in p) / len(p), sum(m for _, m in p) / len(p)
        out[rule] = {
            "n": len(p),
            "estimated_minutes": round(est, 3),
            "measured_minutes": round(meas, 3),
            "ratio": round(meas / est, 3) if est > 0 else None,
        }
    return dict(sorted(out.items()))


def _has_benchmarks(directory: Path) -> bool:
    """Whether any timing exists (else the forceall dry run is skipped)."""
    return any((directory / "benchmarks").rglob("*.tsv")) or any((directory / "results").rglob(TIMING_FILE))


def plan(
    directory: str | Path = ".",
    configfiles: Sequence[str | Path] = (),
    targets: Iterable[str] = (),
    profile: str | None = None,
) -> dict:
    """The plan of the jobs that would run: GPU-hours per job, rule and model, plus the calibration table."""
    directory = Path(directory).resolve()
    extra = [Path(f).resolve() for f in configfiles]
    config = load(directory / DEFAULT_CONFIG, *extra)
    settings = _snakemake(profile_settings, profile)
    targets = list(targets)
    jobs = [cost_job(j, config) for j in _snakemake(dry_run, directory, extra, targets, settings)]
    calibration = {}
    if _has_benchmarks(directory):
        every = [cost_job(j, config) for j in _snakemake(dry_run, directory, extra, targets, settings, True)]
        calibration = calibrate(every, directory)
    return {
        "gpu_type": config["cost"]["gpu_type"],
        "total_gpu_hours": round(sum(j["gpu_hours"] for j in jobs), 3),
        "jobs": jobs,
        "by_rule": _rounded(aggregate(jobs, "rule"), lambda k, v: (-v["gpu_hours"], k)),
        "by_model": _rounded(aggregate(jobs, "model"), lambda k, v: (k == "-", k)),
        "calibration": calibration,
    }


def _snakemake(fn: Callable, *args: object):
    """Run a Snakemake call, turning its workflow (or profile parsing) errors into a PlanError with the message."""
    from snakemake import exceptions as ex

    errors = (
        ex.WorkflowError,
        ex.RuleException,
        ValueError,
        ex.ResourceValidationError,
        ex.ResourceConstraintError,
        ex.ResourceConversionError,
        ex.ResourceInsufficiencyError,
    )
    try:
        return fn(*args)
    except errors as e:
        raise PlanError(str(e).strip() or type(e).__name__) from None


def _rounded(table: dict[str, dict], order: Callable[[str, dict], tuple]) -> dict[str, dict]:
    """Aggregates in a stable order (dry-run job order varies), minutes and GPU-hours rounded for output."""
    return {
        k: {**v, "minutes": round(v["minutes"], 1), "gpu_hours": round(v["gpu_hours"], 3)}
        for k, v in sorted(table.items(), key=lambda kv: order(*kv))
    }


def _table(header: Sequence[str], rows: list[Sequence[object]]) -> list[str]:
    """Left-aligned first column, right-aligned rest."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    return [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]


def format_text(report: dict) -> str:
    """The plan as readable tables: per stage, per model, calibration."""
    n = len(report["jobs"])
    lines = [f"{n} jobs would run; GPU type {report['gpu_type']}", ""]
    rules = [
        (r, v["jobs"], v["gpu"], f"{v['minutes'] / v['jobs']:.1f}", f"{v['gpu_hours']:.2f}")
        for r, v in report["by_rule"].items()
    ]
    lines += _table(
        ["stage", "jobs", "gpus/job", "est. min/job", "GPU-hours"],
        rules + [("total", n, "", "", f"{report['total_gpu_hours']:.2f}")],
    )
    models = [(m, v["jobs"], f"{v['gpu_hours']:.2f}") for m, v in report["by_model"].items()]
    lines += [""] + _table(["model", "jobs", "GPU-hours"], models)
    lines += ["", "calibration (benchmarks/, all jobs of the DAG):"]
    cal = [
        (
            r,
            v["n"],
            f"{v['estimated_minutes']:.2f}",
            f"{v['measured_minutes']:.2f}",
            "-" if v["ratio"] is None else f"{v['ratio']:.2f}",
        )
        for r, v in report["calibration"].items()
    ]
    header = ["stage", "n", "est. min", "measured min", "measured/est."]
    lines += _table(header, cal) if cal else ["  (no benchmark files for these jobs)"]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The ``plan`` subcommand's arguments."""
    ap = argparse.ArgumentParser(
        prog="safety-neurons plan", description="GPU-hours of the jobs a dry run would start.", allow_abbrev=False
    )
    ap.add_argument("targets", nargs="*", help="Snakemake targets (default: the default target, rule all)")
    ap.add_argument("--profile", help="a Snakemake profile (folder or name); its resources and rerun-triggers apply")
    ap.add_argument(
        "--configfile",
        nargs="+",
        action="extend",
        default=[],
        metavar="F",
        help="config files merged on top of config.yaml, as snakemake --configfile",
    )
    ap.add_argument("--directory", "-d", default=".", help="the workflow directory (default: .)")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Print the plan; 0 on success, 1 with the error message on a bad config, profile or workflow."""
    args = parser().parse_args(argv)
    try:
        report = plan(args.directory, args.configfile, args.targets, args.profile)
    except (PlanError, ConfigError, OSError) as e:
        print(f"safety-neurons plan: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0
