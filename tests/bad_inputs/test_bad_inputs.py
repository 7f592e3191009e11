"""Bad input never runs: each case feeds one mistake and asserts that the first line the user sees names its
culprit (key, file or line), and that the failed step left no output that looks complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from safety_neurons.evaluation.judges.classifier import load_classifier
from safety_neurons.files import ArtifactError, DataError, read_jsonl, staged_dir, write_jsonl
from safety_neurons.models.loading import load_base, load_tokenizer
from safety_neurons.neurons.change_scores import load_scores
from safety_neurons.neurons.policies import policy
from safety_neurons.stages.generation import generate, sweep_sets
from safety_neurons.workflow.config import ConfigError, load
from safety_neurons.workflow.contracts import GenerationParams, ParamsError, SafeguardParams
from safety_neurons.workflow.script import job
from tests.conftest import REPO, generation_params
from tests.unit.workflow.test_config import dry_run


def first_line(err: BaseException | str) -> str:
    return str(err).strip().splitlines()[0]


# ------------------------------------------------------------------------------------------------- config

# (override merged on config.yaml + configs/tiny.yaml, text the first line of the error must hold)
CONFIG_CASES = {
    "k beyond the ranking": ("patching: {ks: [0, 50, 100000]}", "patching.ks: k = 100000 exceeds the 768 ranked"),
    "table_k beyond": ("patching: {ks: [0, 5000]}\nevaluation: {table_k: 5000}", "patching.ks: k = 5000 exceeds"),
    "seeds k beyond": ("seeds: [1, 2]\nexperiments: {seeds: {k: 99999}}", "experiments.seeds.k: k = 99999 exceeds"),
    "cross ks beyond": (
        "experiments: {cross: {help_to_safe: {ks: [50000]}}}",
        "experiments.cross.help_to_safe.ks: k = 50000 exceeds",
    ),
    "every layer excluded": (
        "models: {tiny_llama: {exclude_layers: [0, 1, 2, 3]}}",
        "models.tiny_llama.exclude_layers: excludes every one of its 4 layers",
    ),
    "excluded layer past the model": ("models: {tiny_llama: {exclude_layers: [9]}}", "layer 9 >= n_layers 4"),
    "loss weights vs losses": ("dpo: {loss_weights: [1.0]}", "dpo.loss_weights: 1 weights for 2 losses"),
    "a model's own SFT data": (
        "models: {tiny_llama: {sft: {dataset: tiny_sharegpt}}}",
        "models.tiny_llama.sft.dataset: every model trains on the data of the top-level sft",
    ),
    "a model's own DPO data": (
        "models: {tiny_gemma: {dpo: {dataset: tiny_sharegpt}}}",
        "models.tiny_gemma.dpo.dataset: every model trains on the data of the top-level dpo",
    ),
    "a model's own unknown key": (
        "models: {tiny_llama: {sft: {epoch: 1}}}",
        "models.tiny_llama.sft: Additional properties are not allowed ('epoch' was unexpected)",
    ),
    "a model's own bad value": ("models: {tiny_gemma: {dpo: {lr: -1}}}", "models.tiny_gemma.dpo.lr: -1 is less than"),
    "a model's own losses": (
        "models: {tiny_qwen2: {dpo: {loss_type: [sigmoid]}}}",
        "models.tiny_qwen2.dpo.loss_weights: 2 weights for 1 losses",
    ),
    "heads vs kv heads": ("models: {tiny_llama: {n_kv_heads: 3}}", "models.tiny_llama.n_kv_heads: must divide n_heads"),
    "heads vs width": ("models: {tiny_llama: {n_heads: 5, n_kv_heads: 5}}", "models.tiny_llama.n_heads: must divide"),
    "unknown model": ("active_models: [tiny_lama]", "active_models[0]: unknown model 'tiny_lama'"),
    "unknown sft dataset": ("sft: {dataset: tiny_sharegtp}", "sft.dataset: unknown dataset 'tiny_sharegtp'"),
    "sft on prompts": ("sft: {dataset: tiny_red_team}", "sft.dataset: needs a chat dataset"),
    "unknown variant source": ("patching: {sources: [mian-top]}", "patching.sources[0]: unknown variant in 'mian-top'"),
    "source kind": ("patching: {sources: [main-best]}", "main-best"),
    "table_k not swept": ("evaluation: {table_k: 30}", "evaluation.table_k: 30 is not in patching.ks"),
    "table_k share of nothing": (
        "evaluation: {table_k: 0.01%}",
        "evaluation.table_k: 0.01% of model 'tiny_llama' is no",
    ),
    "table_k share beyond": ("evaluation: {table_k: 150%}", "evaluation.table_k: k = 1152 exceeds the 768 ranked"),
    "table_k words": ("evaluation: {table_k: five percent}", "evaluation"),
    "no k = 0": ("patching: {ks: [10, 50]}\nevaluation: {table_k: 50}", "patching.ks: needs 0"),
    "figure set not patched": ("evaluation: {figure_dataset: tiny_beavertailz}", "evaluation.figure_dataset"),
    "unknown cost judge": ("evaluation: {cost_judge: tiny_cots}", "evaluation.cost_judge: unknown judge 'tiny_cots'"),
    "reward as cost": (
        "judges: {tiny_reward: {kind: classifier, label: helpful, train: tiny_judge_train, test: tiny_judge_test}}\n"
        "evaluation: {cost_judge: tiny_reward}",
        "evaluation.cost_judge: needs a judge with direction cost",
    ),
    "unknown alignment DPO": ("alignment_check: {preference: hh_harmles}", "alignment_check.preference"),
    "variant name with dash": ("neurons: {variants: {my-variant: {prompts: tiny_red_team}}}", "my-variant"),
    "unknown dataset kind": ("datasets: {x: {kind: sharegtp, local: a.json}}", "datasets.x.kind: unknown kind"),
    "unknown loader option": ("datasets: {tiny_red_team: {options: {max_rows: 3}}}", "datasets.tiny_red_team.options"),
    "negative k": ("patching: {ks: [0, -5]}", "-5"),
    "wrong type": ("dpo: {beta: high}", "'high'"),
    "unknown key": ("dpo: {betta: 0.1}", "betta"),
    "empty seeds": ("seeds: []", "seeds"),
    "safeguard k past d_mlp": ("experiments: {safeguard: {ks: [5, 999]}}", "experiments.safeguard.ks"),
    "unknown curve source variant": ("experiments: {curves: {sources: [nope-top]}}", "experiments.curves.sources[0]"),
    "unknown cross judge": (
        "experiments: {cross: {help_to_safe: {judges: [gpt4]}}}",
        "judges[0]: unknown judge 'gpt4'",
    ),
    "bad chat format": ("chat_format: chatml", "chatml"),
    "unknown benchmark option": (
        "evaluation: {general: {benchmarks: {gsm8k: {options: {n_itemz: 3}}}}}",
        "evaluation.general.benchmarks.gsm8k",
    ),
    "grid name": ("grid: partial", "config key grid: 'partial' is not one of ['core', 'full']"),
    "adam epsilon not positive": ("dpo: {adam_epsilon: -1}", "config key dpo.adam_epsilon: -1"),
    "sets per job": ("patching: {sets_per_job: some}", "config key patching.sets_per_job: 'some' is not one of"),
    "benchmarks per job": (
        "evaluation: {general: {benchmarks_per_job: every}}",
        "config key evaluation.general.benchmarks_per_job: 'every' is not one of ['one', 'all']",
    ),
    "cpu precision": ("cpu_precision: fp8", "config key cpu_precision: 'fp8' is not one of"),
    "neuron site without layer": (
        "models: {tiny_llama: {neuron_site: model.layers.mlp.down_proj}}",
        "config key models.tiny_llama.neuron_site: 'model.layers.mlp.down_proj' does not match",
    ),
    "tiny architecture": (
        "models: {tiny_llama: {architecture: GPTNeoXForCausalLM}}",
        "config key models.tiny_llama.architecture: 'GPTNeoXForCausalLM' is not one of",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_mistake_names_its_key(case, tmp_path):
    text, culprit = CONFIG_CASES[case]
    override = tmp_path / "override.yaml"
    override.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        load(REPO / "config.yaml", REPO / "configs" / "tiny.yaml", override)
    assert culprit in first_line(err.value)


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("dpo:\n  beta: 0.1\n  beta: 0.2\n", "line 3: duplicate key 'beta' (first on line 2)"),
        ("dpo: {beta: 0.1\n", "line 2"),
        ("sft:\n\tlr: 1\n", "line 2"),
    ],
)
def test_yaml_mistake_names_file_and_line(text, culprit, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(REPO / "config.yaml", bad)
    assert first_line(err.value).startswith(f"{bad}, ") and culprit in first_line(err.value)


def test_missing_config_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path}/nope.yaml: cannot read"):
        load(REPO / "config.yaml", tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("dpo:\n  beta: 0.1\n  beta: 0.2\n", "line 3: duplicate key 'beta'"),
        ("patching: {ks: [0, 25, 100000]}\n", "patching.ks: k = 100000 exceeds the 768 ranked neurons"),
    ],
)
def test_snakemake_stops_at_parse_time_with_the_culprit(text, culprit, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    proc = dry_run("--configfile", "configs/tiny.yaml", str(bad))
    assert proc.returncode != 0
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("invalid config")]
    assert errors and culprit in errors[0]


# ------------------------------------------------------------------------------------------- stage params


def test_stage_params_name_unknown_and_missing_keys():
    with pytest.raises(
        ParamsError,
        match=r"GenerationParams: unknown keys \['kss'\], missing keys \['cpu_precision', 'm1', 'neuron_site'\]",
    ):
        GenerationParams.of(
            dict(dtype="float32", chat_format="tulu", batch_size=1, max_new_tokens=4, source="x", kss=[])
        )
    with pytest.raises(ParamsError, match=r"missing keys \['batch_size', 'chat_format'"):
        SafeguardParams.of(dict(ks=[1], seeds=[1], d_mlp=8, disjoint=False))


# ---------------------------------------------------------------------------------------------- data files


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": \n')
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert f"{path}" in first_line(err.value) and "line 2" in first_line(err.value)


def test_a_known_error_ends_the_job_with_one_line_and_the_traceback_in_the_log(tmp_path):
    script = tmp_path / "stage.py"
    log = tmp_path / "logs" / "stage.log"
    script.write_text(
        "from types import SimpleNamespace\n"
        "from safety_neurons.files import read_jsonl\n"
        "from safety_neurons.workflow.script import job\n"
        f"smk = SimpleNamespace(log=[{str(log)!r}], threads=1)\n"
        "with job(smk, torch_threads=False):\n"
        f"    read_jsonl({str(tmp_path / 'bad.jsonl')!r})\n"
    )
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{oops}\n')
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.jsonl" in lines[0] and "line 2" in lines[0]
    assert "Traceback" in log.read_text()


def test_an_unknown_error_keeps_its_traceback(tmp_path):
    from types import SimpleNamespace

    with pytest.raises(KeyError):
        with job(SimpleNamespace(log=[str(tmp_path / "x.log")], threads=1), torch_threads=False):
            {}["k"]


# -------------------------------------------------------------------------------------- model, adapters


@pytest.fixture(scope="module")
def llama(bases, adapters) -> tuple[Path, Path, Path]:
    sft, dpo = adapters["tiny_llama"]
    return bases["tiny_llama"], sft, dpo


def broken_adapter(src: Path, dst: Path, edit) -> Path:
    """A copy of adapter ``src`` whose tensors went through ``edit``."""
    shutil.copytree(src, dst)
    state = load_file(str(dst / "adapter_model.safetensors"))
    save_file(edit(state), str(dst / "adapter_model.safetensors"))
    return dst


def _first_key(state: dict) -> str:
    return sorted(state)[0]


ADAPTER_CASES = {
    "vector length": (lambda s: s | {_first_key(s): torch.ones(7)}, "has 7 values, the model's d_mlp is"),
    "NaN vector": (lambda s: s | {_first_key(s): torch.full_like(s[_first_key(s)], float("nan"))}, "NaN or inf"),
    "layer past the model": (
        lambda s: s | {_first_key(s).replace("layers.0.", "layers.9."): s[_first_key(s)].clone()},
        "is for layer 9, the model has 4 layers",
    ),
    "missing layer": (lambda s: {k: v for k, v in s.items() if ".layers.1." not in k}, "for layers [1]"),
    "foreign weight": (lambda s: s | {"base_model.model.lm_head.ia3_l": torch.ones(3)}, "unexpected (IA)3 weight"),
}


@pytest.mark.parametrize("case", list(ADAPTER_CASES))
def test_bad_adapter_names_its_file(case, llama, tmp_path):
    base_dir, sft, _ = llama
    edit, culprit = ADAPTER_CASES[case]
    bad = broken_adapter(sft, tmp_path / "bad", edit)
    with pytest.raises(ArtifactError) as err:
        policy("sft", load_base(base_dir), [bad])
    assert first_line(err.value).startswith(str(bad / "adapter_model.safetensors")) and culprit in str(err.value)


def test_truncated_adapter_names_its_file(llama, tmp_path):
    base_dir, sft, _ = llama
    bad = tmp_path / "bad"
    shutil.copytree(sft, bad)
    data = (bad / "adapter_model.safetensors").read_bytes()
    (bad / "adapter_model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match=f"^{bad}/adapter_model.safetensors: not a readable safetensors file"):
        policy("sft", load_base(base_dir), [bad])


def test_adapter_directory_without_config(llama, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/adapter_config.json: no adapter_config.json"):
        policy("sft", load_base(llama[0]), [tmp_path])


@pytest.mark.parametrize("case", ["missing", "no config", "truncated weights"])
def test_bad_base_directory_names_its_path(case, llama, tmp_path):
    bad = tmp_path / "base"
    if case != "missing":
        shutil.copytree(llama[0], bad)
    if case == "no config":
        (bad / "config.json").unlink()
    if case == "truncated weights":
        weights = bad / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ArtifactError) as err:
        load_tokenizer(bad) if case == "missing" else load_base(bad)
    assert first_line(err.value).startswith(str(bad))


# ------------------------------------------------------------------------------------ scores, neuron sets


def _scores_file(path: Path, scores: torch.Tensor, ranking: torch.Tensor) -> Path:
    save_file({"scores": scores, "ranking": ranking.to(torch.int32)}, str(path))
    return path


@pytest.mark.parametrize(
    ("scores", "ranking", "culprit"),
    [
        (torch.tensor([[0.1, float("nan")]]), torch.tensor([[0, 0], [0, 1]]), "scores hold NaN or inf"),
        (torch.tensor([[0.1, 0.2]]), torch.tensor([[0, 0], [0, 5]]), "do not fit the (1, 2) scores"),
        (torch.tensor([[0.1, 0.2]]), torch.tensor([[3, 0]]), "do not fit"),
    ],
)
def test_bad_score_file_names_its_path(scores, ranking, culprit, tmp_path):
    path = _scores_file(tmp_path / "scores.safetensors", scores, ranking)
    with pytest.raises(ArtifactError) as err:
        load_scores(path)
    assert first_line(err.value).startswith(str(path)) and culprit in first_line(err.value)


def test_score_file_without_ranking(tmp_path):
    path = tmp_path / "scores.safetensors"
    save_file({"scores": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ArtifactError, match="no \\(layer, neuron\\) ranking"):
        load_scores(path)


@pytest.mark.parametrize(
    ("sets", "culprit"), [({"0": {"1": [0, 999]}}, "(1, 0, 999)"), ({"0": {"7": [0]}}, "(7, 0, 0)")]
)
def test_neuron_set_outside_the_model_names_the_sets_file(sets, culprit, llama, tmp_path):
    base_dir, sft, dpo = llama
    sets_path = tmp_path / "sets.json"
    sets_path.write_text(json.dumps({"top": sets}))
    p = generation_params()
    swept = sweep_sets(str(sets_path), "main-top", [0])
    prompts = [{"id": "a", "dataset": "d", "prompt": "hello"}]
    with pytest.raises(ArtifactError) as err:
        generate(str(base_dir), [str(sft)], [str(sft), str(dpo)], swept, [prompts], p, origin=str(sets_path))
    assert first_line(err.value).startswith(str(sets_path)) and culprit in first_line(err.value)


# --------------------------------------------------------------------------------------------- the judge


def test_a_pickled_classifier_is_refused_not_run(tmp_path):
    import pickle

    path = tmp_path / "judge.json"
    path.write_bytes(pickle.dumps({"pipeline": "anything"}))
    with pytest.raises(ArtifactError, match=f"^{path}: not a classifier saved by save_classifier"):
        load_classifier(path, "harmful")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": "other"}, "not a classifier saved by save_classifier"),
        (
            {"sides": {"response": {"terms": ["a"], "idf": [1.0]}, "prompt": {"terms": [], "idf": []}}, "coef": [1]},
            "1 coefficients for 2 features",
        ),
        (
            {"sides": {"response": {"terms": ["a", "a"], "idf": [1, 1]}, "prompt": {"terms": [], "idf": []}}},
            "terms and idf weights disagree",
        ),
    ],
    ids=["format", "width", "repeated term"],
)
def test_a_damaged_classifier_names_its_file(tmp_path, doc, message):
    from safety_neurons.evaluation.judges.classifier import FORMAT

    good = {"format": FORMAT, "label": "harmful", "coef": [1.0, 2.0, 3.0], "intercept": 0.0}
    good["sides"] = {s: {"terms": ["a"], "idf": [1.0]} for s in ("response", "prompt")}
    path = tmp_path / "judge.json"
    path.write_text(json.dumps(good | doc))
    with pytest.raises(ArtifactError, match=f"^{path}: .*{message}"):
        load_classifier(path, "harmful")


def test_missing_classifier_names_its_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/none.json: no such classifier file"):
        load_classifier(tmp_path / "none.json", "harmful")


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["bench", "--seven"], "unrecognized arguments: --seven"),  # no abbreviation of --seven-b
        (["bench", "--seven-b"], "--seven-b needs a CUDA GPU"),
        (["bench", "--sizes", "huge"], "invalid choice: 'huge'"),
        (["plann"], "invalid choice: 'plann'"),
        (["plan", "--prof", "x"], "unrecognized arguments: --prof"),
    ],
)
def test_cli_refuses_what_it_does_not_know(args, culprit):
    if torch.cuda.is_available() and "--seven-b" in args:
        pytest.skip("a GPU is present")
    proc = subprocess.run([sys.executable, "-m", "safety_neurons.workflow.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 2 and culprit in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        (None, "missing.yaml: cannot read the config file"),
        ("dpo: {beta: 0.1\n", "bad.yaml, line 2: did not find expected ','"),
    ],
)
def test_check_names_what_snakemake_reports_as_a_traceback(text, culprit, tmp_path):
    """Snakemake's own --configfile handling prints a traceback for these; `safety-neurons check` names them."""
    path = tmp_path / ("missing.yaml" if text is None else "bad.yaml")
    if text is not None:
        path.write_text(text)
    cmd = [sys.executable, "-m", "safety_neurons.workflow.cli", "check", "--configfile", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1 and culprit in proc.stderr.strip().splitlines()[0]


def test_plan_names_a_missing_profile():
    proc = subprocess.run(
        [sys.executable, "-m", "safety_neurons.workflow.cli", "plan", "--profile", "profiles/nope"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode != 0 and "profiles/nope" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------------- faults


def test_a_failed_directory_stage_leaves_nothing(tmp_path):
    final = tmp_path / "resources" / "base" / "m"
    with pytest.raises(RuntimeError):
        with staged_dir(final) as tmp:
            (tmp / "config.json").write_text("{}")
            raise RuntimeError("killed before the weights")
    assert not final.exists() and list(final.parent.iterdir()) == []


def test_a_directory_appears_whole_with_one_rename(tmp_path, monkeypatch):
    import os

    final, renames = tmp_path / "base", []
    real_rename = os.rename
    monkeypatch.setattr(os, "rename", lambda a, b: renames.append((a, b)) or real_rename(a, b))
    with staged_dir(final) as tmp:
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            (tmp / name).write_text(name)
        assert not final.exists()
    assert len(renames) == 1 and sorted(p.name for p in final.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]


def test_tiny_world_files_are_written_atomically(tmp_path, monkeypatch):
    """A failure while writing the world leaves no partial file (each file is renamed into place whole)."""
    from safety_neurons.data import synthetic

    w = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())["tiny_world"]
    out = {role: tmp_path / name for role, name in synthetic.WORLD_FILES.items()}
    calls = []
    real = synthetic.write_jsonl

    def failing(rows, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real(rows, path)

    monkeypatch.setattr(synthetic, "write_jsonl", failing)
    with pytest.raises(OSError, match="disk full"):
        synthetic.write_world(out, w["seed"], w["sizes"], w["rates"], w["heldout_fraction"])
    assert not Path(calls[1]).exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_jsonl_never_leaves_a_partial_file(tmp_path):
    path = tmp_path / "out.jsonl"

    def rows():
        yield {"a": 1}
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_jsonl(rows(), path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_yaml_merge_keys_are_not_taken_for_duplicates(tmp_path):
    from safety_neurons.workflow.config import read_yaml

    path = tmp_path / "anchors.yaml"
    path.write_text("a: &x {p: 1}\nb: {<<: *x, q: 2}\n")
    assert read_yaml(path) == {"a": {"p": 1}, "b": {"p": 1, "q": 2}}
