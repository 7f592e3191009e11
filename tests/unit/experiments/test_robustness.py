"""Value vectors in vocabulary space (E4) on tiny models of every architecture, and the robustness measures
(E5 overlap/Spearman, E6 heatmaps, E7 intersections) on hand-computed synthetic rankings."""

from __future__ import annotations

import csv

import pytest
import torch

from safety_neurons.experiments import robustness as rb
from safety_neurons.experiments import value_vectors as vv
from safety_neurons.models import tiny
from safety_neurons.neurons.change_scores import ChangeScores, rank, save
from safety_neurons.neurons.policies import load_base, load_tokenizer
from tests.conftest import ARCHS, TINY

RANKING = torch.tensor([[1, 5], [0, 3], [2, 100], [1, 0]])


def write_scores(path, scores: torch.Tensor):
    """A scores.safetensors file of ``scores`` and their ranking (moments zero)."""
    zeros = [torch.zeros_like(scores) for _ in range(4)]
    save(ChangeScores(scores, *zeros, 1, 1), rank(scores), path, {})
    return path


@pytest.fixture(scope="module")
def untrained(tokenizer_dir, tmp_path_factory) -> dict:
    """The conftest architectures and sizes, saved untrained: projections need weights, not training (fast)."""
    tok = load_tokenizer(tokenizer_dir)
    out = {}
    for name in ARCHS:
        s = TINY["models"][name]
        keys = ("n_layers", "d_mlp", "d_model", "n_heads", "n_kv_heads", "max_positions")
        model = tiny.build_model(s["architecture"], tok, *(s[k] for k in keys), seed=0)
        out[name] = tmp_path_factory.mktemp(name)
        model.save_pretrained(str(out[name]))
        tok.save_pretrained(str(out[name]))
    return out


def manual_logits(model, layer: int, neuron: int) -> torch.Tensor:
    """RMSNorm and unembedding written out: Gemma scales by (1 + w) and ties the unembedding to the embedding."""
    x = model.model.layers[layer].mlp.down_proj.weight[:, neuron].double()
    norm = model.model.norm
    w, eps = norm.weight.double(), getattr(norm, "eps", None) or norm.variance_epsilon
    x = x * torch.rsqrt(x.square().mean() + eps)
    x = x * (1 + w) if model.config.model_type == "gemma" else x * w
    unembed = model.model.embed_tokens.weight if model.config.tie_word_embeddings else model.lm_head.weight
    return unembed.double() @ x


@pytest.mark.parametrize("arch", ARCHS)
def test_value_vectors_match_manual_projection(untrained, arch):
    model, tok = load_base(untrained[arch]), load_tokenizer(untrained[arch])
    with torch.no_grad():
        model.model.norm.weight.copy_(
            torch.randn(model.model.norm.weight.shape, generator=torch.Generator().manual_seed(0))
        )
    rows = vv.top_tokens(model, tok, RANKING, n=3, t=7)
    assert [(r["rank"], r["layer"], r["neuron"]) for r in rows] == [(1, 1, 5), (2, 0, 3), (3, 2, 100)]
    for r in rows:
        expected = manual_logits(model, r["layer"], r["neuron"])[: len(tok)]
        values, ids = expected.topk(7)
        assert r["token_ids"] == ids.tolist()
        torch.testing.assert_close(torch.tensor(r["logits"], dtype=torch.float64), values, rtol=1e-4, atol=1e-4)
        assert r["tokens"] == [tok.decode([i]) for i in ids.tolist()]


@pytest.mark.parametrize("arch", ARCHS)
def test_value_vector_of_an_unembedding_row_promotes_its_token(untrained, arch):
    """With an identity final norm, the column equal to the longest unembedding row u_T has argmax T."""
    model, tok = load_base(untrained[arch]), load_tokenizer(untrained[arch])
    unembed = model.get_output_embeddings().weight[: len(tok)]
    target = int(unembed.norm(dim=1).argmax())
    with torch.no_grad():
        model.model.norm.weight.fill_(0.0 if model.config.model_type == "gemma" else 1.0)
        model.model.layers[1].mlp.down_proj.weight[:, 5] = unembed[target]
    (row,) = vv.top_tokens(model, tok, RANKING, n=1, t=3)
    assert row["token_ids"][0] == target


def test_shown_escapes_whitespace_and_separator():
    assert vv.shown("a\nb\r\t\f") == "a\\nb\\r\\t\\f"
    assert vv.shown(" x|y\\n") == " x\\|y\\\\n"
    assert vv.shown("\x00é") == "\\x00é"


def test_write_csv(tmp_path):
    rows = [{"layer": 30, "neuron": 3527, "rank": 1, "tokens": ["</s>", "\n", "a | b", " and"], "logits": [0.0] * 4}]
    vv.write_csv(rows, tmp_path / "table9.csv")
    (out,) = csv.DictReader(open(tmp_path / "table9.csv"))
    assert out["vector"] == "v^30_3527" and out["rank"] == "1"
    assert out["tokens"] == "</s> | \\n | a \\| b |  and"


def test_write_csv_with_models(untrained, tmp_path):
    model, tok = load_base(untrained["tiny_llama"]), load_tokenizer(untrained["tiny_llama"])
    rows = [r | {"model": "tiny_llama"} for r in vv.top_tokens(model, tok, RANKING, n=4, t=5)]
    vv.write_csv(rows, tmp_path / "table9.csv")
    out = list(csv.DictReader(open(tmp_path / "table9.csv")))
    assert [(r["model"], r["rank"]) for r in out] == [("tiny_llama", str(i)) for i in range(1, 5)]
    assert all(len(r["tokens"].split(vv.SEPARATOR)) == 5 for r in out)


# Robustness: scores [2, 3]; scores A ranks its six neurons in reading order.
A = torch.tensor([[6.0, 5.0, 4.0], [3.0, 2.0, 1.0]])


def test_identical_rankings():
    r = rank(A)
    assert rb.overlap(r, r, 4) == 1.0
    assert rb.rank_correlation(A, A, r, r, 4) == pytest.approx(1.0)


def test_disjoint_tops():
    b = A.flip(0).flip(1)  # [[1, 2, 3], [4, 5, 6]]
    assert rb.overlap(rank(A), rank(b), 3) == 0.0
    assert rb.rank_correlation(A, b, rank(A), rank(b), 3) == pytest.approx(-1.0)


def test_known_permutation():
    b = torch.tensor([[5.0, 6.0, 4.0], [3.0, 1.0, 2.0]])  # d = (1, -1, 0, 0, 1, -1): rho = 1 - 6*4 / (6*35)
    assert rb.rank_correlation(A, b, rank(A), rank(b), 6) == pytest.approx(31 / 35)
    assert rb.overlap(rank(A), rank(b), 2) == 1.0
    assert rb.rank_correlation(A, b, rank(A), rank(b), 2) == pytest.approx(-1.0)  # union {(0,0), (0,1)} swapped
    c = torch.tensor([[6.0, 4.0, 5.0], [3.0, 2.0, 1.0]])  # union of top-2: (0,0), (0,1), (0,2); d = (0, 1, -1)
    assert rb.overlap(rank(A), rank(c), 2) == 0.5
    assert rb.rank_correlation(A, c, rank(A), rank(c), 2) == pytest.approx(0.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="outside 1..6"):
        rb.overlap(rank(A), rank(A), 7)
    with pytest.raises(ValueError, match="outside"):
        rb.intersection(rank(A), rank(A), 0)
    with pytest.raises(ValueError, match="shapes differ"):
        rb.rank_correlation(A, A.T, rank(A), rank(A.T), 2)


def test_intersection_layer_order():
    a = torch.tensor([[2, 5], [0, 1], [2, 3], [1, 0], [0, 7]])
    b = torch.tensor([[0, 7], [2, 3], [1, 0], [2, 5], [3, 3]])
    shared = rb.intersection(a, b, 4)
    assert shared == {2: [3, 5], 1: [0]} and list(shared) == [2, 1]


def test_pairwise_matrix_and_heatmap(tmp_path):
    g = torch.Generator().manual_seed(0)
    noisy = [A + 0.5 * torch.rand(A.shape, generator=g) for _ in range(2)]
    files = {n: write_scores(tmp_path / f"{n}.safetensors", s) for n, s in zip("abcd", [A, A, *noisy], strict=True)}
    df = rb.pairwise(files, 3)
    assert len(df) == 4 * 3 // 2 and list(df.columns) == rb.COLUMNS
    ab = df[(df.a == "a") & (df.b == "b")].iloc[0]
    assert ab.overlap == 1.0 and ab.spearman == pytest.approx(1.0)
    m = rb.matrix(df, list("dcba"), "spearman")
    assert (m.to_numpy() == m.to_numpy().T).all() and (m.to_numpy().diagonal() == 1).all()
    assert m.loc["c", "d"] == df[(df.a == "c") & (df.b == "d")].spearman.item()
    with pytest.raises(ValueError, match="no overlap for the pairs"):
        rb.matrix(df[1:], list("abcd"), "overlap")
    rb.plot_heatmap(m, tmp_path / "fig" / "heatmap.png", "Spearman")
    rb.plot_heatmaps({"x": m, "y": rb.matrix(df, list("abc"), "overlap")}, tmp_path / "both.pdf", "Overlap")
    assert (tmp_path / "fig" / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "both.pdf").read_bytes()[:5] == b"%PDF-"


def test_pairwise_rejects_mismatched_files(tmp_path):
    a = write_scores(tmp_path / "a.safetensors", A)
    b = write_scores(tmp_path / "b.safetensors", A.T.contiguous())
    with pytest.raises(ValueError, match="b.safetensors: change-score shapes"):
        rb.pairwise({"a": a, "b": b}, 2)
    with pytest.raises(ValueError, match="a.safetensors: k = 9"):
        rb.pairwise({"a": a, "b": b}, 9)
