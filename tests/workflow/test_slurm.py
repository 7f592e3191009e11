"""The CI-sized workflow through a REAL one-node SLURM cluster (Slurm 22.05 + slurmdbd, two fake GPUs as GRES).

tests/slurm/local-cluster.sh installs (first use, apt) and starts the cluster; it is always stopped again. The
workflow runs with tests/slurm/profile (executor slurm) on one tiny model whose GPU stages ask for one GPU
(tests/slurm/slurm.yaml); sacct then has to show every remote job COMPLETED and the GPU stages with gres/gpu=1,
but for the SFT attempt the test scancels mid-training, which Snakemake resubmits and which resumes from its
checkpoint. Cluster and run start in the background when the session starts (tests/conftest.py), and the
tests run last. Needs root and apt-get; 5 to 6 minutes on two cores alone (`pytest tests/workflow/test_slurm.py
-s`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_workflow

CLUSTER = REPO / "tests" / "slurm" / "local-cluster.sh"
# Copied into the test's workdir: the whole checkout (rules, scripts, envs, configs, profiles, ...) except
# outputs, caches and the venv, plus the test configs and profile.
CONFIGS = ["--configfile", "configs/tiny.yaml", "tests/configs/ci.yaml", "tests/slurm/slurm.yaml"]
MODEL = "tiny_llama"  # the one model of tests/slurm/slurm.yaml
GPU_RULES = {"sft", "dpo", "alignment_check", "change_scores", "patched_generation", "general_eval"}
# Run by Snakemake itself (the Snakefile's localrules in this DAG: dataset preparation and CPU bookkeeping),
# never submitted.
LOCAL_RULES = {"all", "prepare_dataset", "tiny_world", "eval_prompts", "neuron_sets"}
# The chain from the tiny world to a judged patching sweep and one benchmark of one row, a job per set and per
# benchmark as on a cluster (the experiments' jobs are the same rules again).
TARGETS = [
    f"results/{MODEL}/s1/alignment_check.json",
    f"results/{MODEL}/s1/general/dpo/none/ppl.json",
    f"results/{MODEL}/s1/scores/tiny_cost/patching/sft/main-top/tiny_red_team.jsonl",
    f"results/{MODEL}/s1/patching/sft/main-random/tiny_red_team.jsonl",
]
SNAKEMAKE_TIMEOUT = 1200  # s; SIGINT (Snakemake ignores SIGTERM with jobs in flight), then KILL
# Preemption in the same run: the SFT job (a checkpoint every 4 of its 15 steps, tests/slurm/slurm.yaml) is
# scancelled once its first checkpoint exists; Snakemake's retry (--retries 1) resubmits it, training resumes from
# the checkpoint, and the chain goes on from the resumed adapter.
PREEMPTED = "sft"
CHECKPOINT = f"results/{MODEL}/s1/.checkpoints_sft/checkpoint-4/trainer_state.json"
METRICS = f"results/{MODEL}/s1/sft/adapter_metrics.json"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.name != "posix" or os.geteuid() != 0,
        reason="starts a local SLURM cluster: needs root (daemons, apt-get, /etc/slurm)",
    ),
    pytest.mark.skipif(
        shutil.which("apt-get") is None, reason="needs apt-get (Debian/Ubuntu) to install slurm, munge and MariaDB"
    ),
]


def cluster(action: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, SLURM_FAKE_GPUS="2", SLURM_ACCOUNTING="1")  # accounting: the plugin polls sacct
    return subprocess.run(["bash", str(CLUSTER), action], env=env, capture_output=True, text=True, timeout=timeout)


def runnable() -> bool:
    """Whether this machine can start the cluster (the module's skip conditions)."""
    return not any(m.args[0] for m in pytestmark if m.name == "skipif")


@dataclass
class Run:
    """What the background thread leaves for the tests: the workflow run through the cluster."""

    wd: Path
    output: str
    seconds: float
    cancelled: list[str] = field(default_factory=list)  # SLURM job ids scancelled mid-training


class Background:
    """The cluster and the SLURM runs, started in a thread when the session starts (tests/conftest.py): the
    package install, the daemons' start and the plugin's status polls are waiting, not computing, so they
    overlap the rest of the suite; the tests (run last) wait for the result."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.stopping = False
        self.notes: list[str] = []  # timings, printed by the tests (a thread's prints land in any test's capture)
        self.pool = ThreadPoolExecutor(1)
        self.future = self.pool.submit(self._up_and_run)

    def _up_and_run(self) -> Run:
        t0 = time.monotonic()
        proc = cluster("up")
        self.notes.append(f"local-cluster.sh up: {time.monotonic() - t0:.0f}s (rc {proc.returncode})")
        if proc.returncode != 0:
            raise RuntimeError(f"local-cluster.sh up failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
        if self.stopping:
            raise RuntimeError("stopped before the SLURM run started")
        wd = copy_workflow(Path(tempfile.mkdtemp(prefix="slurm-workflow-")))  # jobs run as root: /tmp is fine
        shutil.copytree(REPO / "tests" / "slurm", wd / "tests" / "slurm")
        # squeue as status command: sacct reports an scancelled job as "CANCELLED by <uid>", which plugin 2.8.0
        # does not recognise as failed (it keeps waiting); squeue says CANCELLED (MinJobAge here: 600 s).
        args = [*TARGETS, "--profile", "tests/slurm/profile", "--retries", "1", "--slurm-status-command", "squeue"]
        cancelled: list[str] = []
        output, seconds = self._snakemake(wd, [*args, *CONFIGS], preempt=cancelled)
        return Run(wd, output, seconds, cancelled)

    def _snakemake(self, wd: Path, args: list[str], preempt: list[str]) -> tuple[str, float]:
        """Snakemake through the cluster in ``wd``: (its output, seconds). The running PREEMPTED job is
        scancelled once CHECKPOINT exists, its id appended to ``preempt``."""
        # Jobs run `<sys.executable> -m snakemake` (shared-FS software deployment) with sbatch --export=ALL:
        # the venv's Python and PATH reach them from this environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}  # not a job inside a job
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        timeout = ["timeout", "-s", "INT", "-k", "60", str(SNAKEMAKE_TIMEOUT)]
        # targets before --configfile, which takes every following word
        cmd = [*timeout, sys.executable, "-m", "snakemake", *args]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        preempt += self._preempt(wd / CHECKPOINT)
        output, _ = self.proc.communicate(timeout=SNAKEMAKE_TIMEOUT + 120)
        seconds = time.monotonic() - t0
        self.notes.append(f"snakemake {args[0]} through SLURM: {seconds:.0f}s (rc {self.proc.returncode})")
        if self.proc.returncode != 0:
            slurm_logs = sorted((wd / "logs" / "slurm").rglob("*.log"), key=lambda p: p.stat().st_mtime)[-3:]
            tails = "".join(f"\n--- {p}\n{p.read_text()[-1500:]}" for p in slurm_logs)
            raise RuntimeError(
                f"snakemake exited {self.proc.returncode} after {seconds:.0f}s:\n{output[-6000:]}{tails}"
            )
        return output, seconds

    def _preempt(self, checkpoint: Path) -> list[str]:
        """scancel the running PREEMPTED job as soon as ``checkpoint`` exists: its id."""
        deadline = time.monotonic() + 600
        while not checkpoint.exists() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        running = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True)
        rows = (line.split("|", 1) for line in running.stdout.splitlines() if "|" in line)
        ids = [job for job, comment in rows if rule_of_comment(comment) == PREEMPTED]
        if ids:
            subprocess.run(["scancel", *ids], check=True)
        self.notes.append(f"scancelled {ids} once {checkpoint.parent.name} existed: {checkpoint.exists()}")
        return ids

    def stop(self) -> None:
        """Interrupt a run still in flight (SIGINT: the plugin scancels its jobs), then stop every daemon."""
        self.stopping = True
        if not self.future.done() and self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # timeout(1) passes SIGINT on to Snakemake
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.pool.shutdown(wait=True)
        down = cluster("down", timeout=180)
        print(f"local-cluster.sh down: rc {down.returncode}\n{down.stderr[-1000:]}")


BACKGROUND: Background | None = None


def start() -> None:
    """Start the cluster and the run in the background, once (tests/conftest.py: before collection for the whole
    suite, else after it)."""
    global BACKGROUND
    if BACKGROUND is None and runnable():
        BACKGROUND = Background()


def stop() -> None:
    """Stop the background run and the cluster, if started (at the end of the session, pass or fail)."""
    global BACKGROUND
    if BACKGROUND is not None:
        BACKGROUND.stop()
        BACKGROUND = None


@pytest.fixture(scope="module")
def slurm_run():
    """The background SLURM run's (workdir, output, seconds), waited for; the cluster stops after the tests."""
    start()
    background = BACKGROUND
    try:
        result = background.future.result(timeout=SNAKEMAKE_TIMEOUT + 900)
    except Exception as e:  # the cluster or the run failed: its message, not a thread's traceback
        stop()
        pytest.fail("\n".join([*background.notes, str(e)]))
    print("\n" + "\n".join(background.notes))
    yield result
    stop()


def planned_jobs(output: str) -> Counter:
    """Per-rule job counts from Snakemake's `Job stats:` table."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = (line.split() for line in table.splitlines()[3:])
    return Counter({row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"})


def submitted_jobs(output: str) -> dict[str, str]:
    """SLURM job id -> rule, from `Job N has been submitted with SLURM jobid X (log: .../rule_<rule>/...)`."""
    found = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: .*?/logs/slurm/rule_(\w+)/", output)
    return dict(found)


def sacct_rows(run_uuid: str, expected: set[str]) -> dict[str, dict[str, str]]:
    """sacct's allocation rows of the run (all its jobs share the run UUID as job name), retried briefly."""
    fields = ["JobID", "JobName", "State", "AllocTRES", "Comment"]
    for _ in range(30):
        out = subprocess.run(
            ["sacct", "-X", "-P", "-n", "-S", "now-1hour", "--name", run_uuid, f"--format={','.join(fields)}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = {
            r["JobID"]: r
            for r in (dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line.strip())
        }
        if set(rows) >= expected and all(r["State"] not in ("PENDING", "RUNNING") for r in rows.values()):
            return rows
        time.sleep(1)
    return rows


def rule_of_comment(comment: str) -> str:
    """The plugin's --comment is `rule_<rule>` or `rule_<rule>_wildcards_<values>`."""
    m = re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", comment)
    assert m, comment
    return m[1]


def test_every_remote_job_completed_in_sacct_with_gpus(slurm_run):
    """Each planned job but localrules went to SLURM once (the preempted SFT twice) and COMPLETED there (the
    preempted attempt: test below), GPU stages with one GPU, CPU stages with none."""
    output, seconds = slurm_run.output, slurm_run.seconds
    run_uuid = re.search(r"SLURM run ID: (\S+)", output)[1]
    planned = planned_jobs(output)
    remote = Counter({rule: n for rule, n in planned.items() if rule not in LOCAL_RULES})
    assert GPU_RULES <= set(remote) and LOCAL_RULES - {"all"} <= set(planned), planned

    submitted = submitted_jobs(output)
    assert Counter(submitted.values()) == remote + Counter({PREEMPTED: 1})

    rows = sacct_rows(run_uuid, set(submitted))
    report = "\n".join("|".join(r.values()) for r in rows.values())
    print(f"sacct for run {run_uuid}:\n{report}")
    assert set(rows) == set(submitted), report
    assert {r["State"] for job, r in rows.items() if job not in slurm_run.cancelled} == {"COMPLETED"}, report
    for job_id, r in rows.items():
        rule = rule_of_comment(r["Comment"])
        assert rule == submitted[job_id], r
        gpus = re.search(r"gres/gpu=(\d+)", r["AllocTRES"])
        if rule in GPU_RULES:
            assert gpus and gpus[1] == "1", f"GPU stage without its one GPU: {r}"
        else:
            assert gpus is None, f"CPU stage holding a GPU: {r}"
    assert sum(1 for r in rows.values() if rule_of_comment(r["Comment"]) in GPU_RULES) == 1 + sum(
        remote[rule] for rule in GPU_RULES
    )
    print(f"{len(rows)} SLURM jobs, all COMPLETED; wall time {seconds:.0f}s")


def test_outputs_and_logs_exist(slurm_run):
    wd = slurm_run.wd
    d = wd / "results" / MODEL / "s1"
    assert (d / "alignment_check.json").stat().st_size > 0
    for source in ("main-top", "main-random"):
        rows = (d / "patching" / "sft" / source / "tiny_red_team.jsonl").read_text().splitlines()
        assert len(rows) == 3 * 12  # ks [0, 25, 100] x 12 prompts (tests/configs/ci.yaml)
    for rule in GPU_RULES:
        assert list((wd / "logs" / rule).glob(f"{MODEL}_*.log")), rule
        assert list((wd / "logs" / "slurm" / f"rule_{rule}").rglob("*.log")), rule  # kept SLURM job logs


def test_a_scancelled_training_job_is_retried_and_resumes_from_its_checkpoint(slurm_run):
    """Preemption on the cluster: the SFT job scancelled after its first checkpoint fails in sacct (CANCELLED),
    Snakemake resubmits it (attempt 2), and training resumes from the checkpoint without repeating a step."""
    assert len(slurm_run.cancelled) == 1, slurm_run.cancelled
    submitted = [job for job, rule in submitted_jobs(slurm_run.output).items() if rule == PREEMPTED]
    assert len(submitted) == 2 and slurm_run.cancelled[0] in submitted, submitted
    run_uuid = re.search(r"SLURM run ID: (\S+)", slurm_run.output)[1]
    states = {job: r["State"] for job, r in sacct_rows(run_uuid, set(submitted)).items()}
    retried = next(job for job in submitted if job != slurm_run.cancelled[0])
    assert states[slurm_run.cancelled[0]].startswith("CANCELLED") and states[retried] == "COMPLETED", states
    metrics = json.loads((slurm_run.wd / METRICS).read_text())
    assert metrics["resumed_from_step"] >= 4
    executed = [h["step"] for h in metrics["log_history"] if h["step"] > metrics["resumed_from_step"]]
    assert executed == list(range(metrics["resumed_from_step"] + 1, metrics["steps"] + 1))  # each step once
