"""The GPU-hours planner: jobs of a dry run, costed with costs.py, aggregated, and calibrated on benchmark files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from safety_neurons.data.synthetic import WORLD_FILES
from safety_neurons.data.synthetic_benchmarks import BENCHMARK_FILES
from safety_neurons.data.synthetic_preferences import PREFERENCE_FILES
from safety_neurons.workflow import costs
from safety_neurons.workflow import plan as plan_module
from safety_neurons.workflow.cli import main as cli
from safety_neurons.workflow.config import load
from safety_neurons.workflow.plan import measured_seconds, plan
from tests.conftest import offline_env

REPO = Path(__file__).resolve().parents[3]
PROFILE = REPO / "profiles" / "slurm"
COPIED = ["Snakefile", "config.yaml", "rules", "scripts", "configs", "safety_neurons", "profiles", "report"]
KEYS = {"gpu_type", "total_gpu_hours", "jobs", "by_rule", "by_model", "calibration"}
# `snakemake -n --quiet rules` on config.yaml: nothing of the paper grid exists here, so every job is stale.
PAPER_COUNTS = {
    "sft": 20,
    "dpo": 42,
    "patched_generation": 280,
    "judge_responses": 544,
    "general_eval": 220,
    "change_scores": 80,
    "safeguard_generation": 40,
    "safeguard_features": 40,
    "stage_generation": 40,
    "alignment_check": 20,
    "cross_patching": 18,
    "baseline_scores": 8,
    "all": 1,
    "bbh_cot_prompts": 1,
    "cross_tables": 1,
    "download_base": 4,
    "download_judge": 2,
    "eval_prompts": 4,
    "figure_causal_effect": 1,
    "figure_curves": 1,
    "figure_neurons": 1,
    "figure_windows": 1,
    "neuron_sets": 68,
    "neuron_vocabulary": 1,
    "preference_correlation": 1,
    "prepare_dataset": 23,
    "safeguard_eval": 8,
    "safeguard_prompts": 5,
    "safeguard_tables": 1,
    "seed_robustness": 1,
    "tables": 1,
    "paper_comparison": 1,
    "headline": 1,
}
GPU_RULES = {
    "sft",
    "dpo",
    "alignment_check",
    "change_scores",
    "baseline_scores",
    "patched_generation",
    "stage_generation",
    "cross_patching",
    "general_eval",
    "safeguard_generation",
    "safeguard_features",
}


def expected_gpus(job: dict, config: dict) -> int:
    """GPUs a job should request: the policy's for model stages, the judge's for judging, none for CPU stages
    (Table 9's value vectors are one matrix product per neuron)."""
    wc = job["wildcards"]
    if job["rule"] == "judge_responses":
        return config["judges"][wc["judge"]]["gpus"]
    return config["models"][wc["model"]]["gpus"] if job["rule"] in GPU_RULES else 0


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``safety-neurons plan ARGS``."""
    with pytest.raises(SystemExit) as exc:
        cli(["plan", *args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture(scope="module")
def paper() -> dict:
    """The plan of the paper grid (config.yaml) in the repository, as a cluster user asks for it (`safety-neurons
    plan --json --profile profiles/slurm`), with no network: planning must never reach a hub."""
    cmd = [sys.executable, "-m", "safety_neurons.workflow.cli", "plan", "--json", "--directory", str(REPO)]
    cmd += ["--profile", str(PROFILE)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=offline_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_paper_grid_job_counts(paper):
    assert {rule: row["jobs"] for rule, row in paper["by_rule"].items()} == PAPER_COUNTS
    assert sum(row["jobs"] for row in paper["by_model"].values()) == len(paper["jobs"]) == 1480
    assert paper["by_model"]["-"]["jobs"] == 48  # downloads, datasets, prompts, tables, headline, figures, all
    assert paper["gpu_type"] == "a100-80gb"


def test_paper_grid_gpu_hours_match_the_cost_model(paper):
    config = load(REPO / "config.yaml")
    expected = 0.0
    for job in paper["jobs"]:
        gpu = expected_gpus(job, config)
        assert job["gpu"] == gpu, job
        if gpu:
            expected += gpu * costs.estimate_minutes(job["rule"], config, job["wildcards"]) / 60
    assert expected > 0
    assert paper["total_gpu_hours"] == pytest.approx(expected, abs=1e-3)
    assert sum(r["gpu_hours"] for r in paper["by_rule"].values()) == pytest.approx(expected, abs=1e-2)
    assert sum(r["gpu_hours"] for r in paper["by_model"].values()) == pytest.approx(expected, abs=1e-2)


@pytest.fixture
def planned(monkeypatch, paper) -> list[tuple]:
    """The CLI's plan() answers with the module's paper plan (one dry run for the module); the calls it got."""
    calls = []

    def cached(*args):
        calls.append(args)
        return paper

    monkeypatch.setattr(plan_module, "plan", cached)
    return calls


def test_json_output(capsys, paper, planned):
    code, out, _ = run_cli(capsys, "--json", "--directory", str(REPO))
    assert [Path(c[0]) for c in planned] == [REPO]
    report = json.loads(out)
    assert code == 0
    assert KEYS <= set(report)
    assert report["total_gpu_hours"] == paper["total_gpu_hours"]
    assert set(report["jobs"][0]) >= {"rule", "model", "wildcards", "gpu", "minutes", "gpu_hours"}


def test_text_output_has_the_total(capsys, paper, planned):
    code, out, _ = run_cli(capsys, "--directory", str(REPO))
    assert [Path(c[0]) for c in planned] == [REPO]
    assert code == 0
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert f"{paper['total_gpu_hours']:.2f}" in total and str(len(paper["jobs"])) in total
    assert "patched_generation" in out and "llama2" in out and "calibration" in out


def test_profile_resources_apply(paper):
    """CPU jobs take the profile's default runtime; they cost no GPU-hours (GPU-hours: the cost model's, above)."""
    default_runtime = yaml.safe_load((PROFILE / "profile.yaml").read_text())["default-resources"]["runtime"]
    prepare = [j for j in paper["jobs"] if j["rule"] == "prepare_dataset"]
    assert prepare and all(j["minutes"] == default_runtime and j["estimate"] == "runtime" for j in prepare)
    assert all(j["gpu_hours"] == 0 for j in prepare)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    """A copy of the workflow whose tiny world already exists (so tiny_world is not stale)."""
    wd = tmp_path_factory.mktemp("plan_workflow")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, wd / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, wd / name)
    world = wd / "resources" / "tiny" / "world"
    world.mkdir(parents=True)
    for name in (WORLD_FILES | BENCHMARK_FILES | PREFERENCE_FILES).values():
        (world / name).write_text("generated\n")
    return wd


def write_benchmark(path: Path, seconds: list[float]) -> None:
    """A Snakemake benchmark tsv (header, one row per repeat)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{s:.4f}\t0:00:00\t100.0\t200.0\n" for s in seconds)
    path.write_text("s\th:m:s\tmax_rss\tmax_vms\n" + rows)


def test_stale_only_and_calibration(workflow, capsys):
    tiny = ["configs/tiny.yaml"]
    before = plan(workflow, [workflow / f for f in tiny])
    assert "tiny_world" not in before["by_rule"]  # its outputs exist: not stale
    assert before["by_rule"]["sft"]["jobs"] == 8 and before["total_gpu_hours"] == 0  # 4 models x 2 seeds; gpus: 0
    assert before["calibration"] == {}

    config = load(workflow / "config.yaml", workflow / "configs" / "tiny.yaml")
    est = costs.estimate_minutes("change_scores", config, {"model": "tiny_llama", "seed": "1", "variant": "main"})
    write_benchmark(
        workflow / "benchmarks" / "change_scores" / "tiny_llama_s1_main.tsv", [1.5 * est * 60, 2.5 * est * 60]
    )
    write_benchmark(workflow / "benchmarks" / "tiny_world" / "tiny_world.tsv", [3.0])
    write_benchmark(workflow / "benchmarks" / "change_scores" / "unrelated.tsv", [99.0])  # no job of the DAG
    est_sft = costs.estimate_minutes("sft", config, {"model": "tiny_llama", "seed": "1"})
    metrics = workflow / "results" / "tiny_llama" / "s1" / "sft" / "adapter_metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"seconds": 3 * est_sft * 60}))  # cached rules time themselves

    code, out, _ = run_cli(
        capsys, "--json", "--configfile", *[str(workflow / f) for f in tiny], "--directory", str(workflow)
    )
    cal = json.loads(out)["calibration"]
    assert code == 0
    assert set(cal) == {"change_scores", "sft", "tiny_world"}  # forceall sees the non-stale tiny_world job
    assert cal["change_scores"]["n"] == 1
    assert cal["change_scores"]["estimated_minutes"] == pytest.approx(est, abs=1e-3)
    assert cal["change_scores"]["measured_minutes"] == pytest.approx(2 * est, abs=1e-3)
    assert cal["change_scores"]["ratio"] == pytest.approx(2.0, abs=1e-2)
    assert cal["sft"]["n"] == 1 and cal["sft"]["ratio"] == pytest.approx(3.0, abs=1e-2)
    assert cal["tiny_world"] == {"n": 1, "estimated_minutes": 0.0, "measured_minutes": 0.05, "ratio": None}


def test_measured_seconds_reads_the_s_column(tmp_path):
    write_benchmark(tmp_path / "b.tsv", [10.0, 20.0])
    assert measured_seconds(tmp_path / "b.tsv") == pytest.approx(15.0)
    (tmp_path / "empty.tsv").write_text("s\th:m:s\n")
    assert measured_seconds(tmp_path / "empty.tsv") is None
    assert measured_seconds(tmp_path / "missing.tsv") is None


def test_bad_config_names_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sft: {lr: fast}\n")
    code, out, err = run_cli(capsys, "--configfile", str(bad), "--directory", str(REPO))
    assert code != 0 and out == ""
    assert "sft.lr" in err and "Traceback" not in err


def test_workflow_error_is_reported(capsys):
    code, _, err = run_cli(capsys, "--directory", str(REPO), "no_such_rule_or_file")
    assert code != 0
    assert "no_such_rule_or_file" in err and "Traceback" not in err


def test_missing_profile_is_reported(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--profile", str(tmp_path / "nope"), "--directory", str(REPO))
    assert code != 0 and "nope" in err


def test_precomputed_reference_log_probs_cost_one_forward_pass():
    """dpo.precompute_ref_log_probs: the reference's forward runs once over the pairs, not once per epoch."""
    config = load(REPO / "config.yaml")
    per_step = costs.work_tokens("dpo", config, {"model": "llama2", "pref": "hh_harmless"})
    config["dpo"]["precompute_ref_log_probs"] = True
    once = costs.work_tokens("dpo", config, {"model": "llama2", "pref": "hh_harmless"})
    assert once["train"] == per_step["train"] and once["forward"] * config["dpo"]["epochs"] == per_step["forward"]


def test_a_models_own_training_settings_cost_that_model_only():
    """models.{m}.sft/dpo over the top level: a model's own epochs scale its training estimate, not another's."""
    config = load(REPO / "config.yaml")
    config["models"]["mistral"]["sft"] = {"epochs": 2 * config["sft"]["epochs"]}
    config["models"]["mistral"]["dpo"] = {"epochs": 3 * config["dpo"]["epochs"]}
    sft = {m: costs.work_tokens("sft", config, {"model": m})["train"] for m in ("llama2", "mistral")}
    dpo = {m: costs.work_tokens("dpo", config, {"model": m, "pref": "hh_harmless"})["train"] for m in sft}
    assert sft["mistral"] == 2 * sft["llama2"] and dpo["mistral"] == 3 * dpo["llama2"]
