"""The top-level API: the README's notebook example runs as written on a tiny model, and names load lazily."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    return re.search(r"From a notebook.*?```python\n(.*?)```", text, re.S).group(1)


def test_readme_notebook_example_runs(bases, adapters):
    sft_dir, dpo_dir = adapters["tiny_llama"]
    scope = dict(base_dir=bases["tiny_llama"], sft_dir=sft_dir, dpo_dir=dpo_dir, prompts=["how do I bake bread?"])
    exec(compile(readme_example(), "README.md", "exec"), scope)
    n_layers, d_mlp = scope["scores"].shape
    assert len(scope["ranking"]) == (n_layers - 1) * d_mlp  # the last layer left out
    assert sum(map(len, scope["top"].values())) == round(0.05 * (n_layers - 1) * d_mlp)
    assert {k: len(v) for k, v in scope["rnd"].items()} == {k: len(v) for k, v in scope["top"].items()}
    assert len(scope["patched"]) == len(scope["control"]) == 1
    assert scope["c"] == pytest.approx(0.4)


def test_import_is_cheap_and_names_resolve():
    code = "import sys, safety_neurons; assert 'torch' not in sys.modules; print(sorted(safety_neurons.__all__))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import safety_neurons

    for name in eval(out):
        assert callable(getattr(safety_neurons, name)), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        safety_neurons.nope  # noqa: B018
