"""The follow-up's studies at a tiny scale: outputs, figures, and their numbers against brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import repdyn.sequences as sq

TINY_PARITY = sq.SCALES["smoke"]["parity"]
TINY_PHASE = sq.SCALES["smoke"]["phase"]


@pytest.fixture(scope="module")
def run():
    torch.set_num_threads(1)
    return sq.run_parity(TINY_PARITY)


def _distances(run):
    points = run.tracking.states[-1].astype(np.float64)
    return np.linalg.norm(points[:, None] - points[None, :], axis=-1)


def test_merged_pairs_count_by_brute_force(run, tmp_path):
    result = sq.merged_pairs(run, tmp_path)
    d = _distances(run)
    parity = run.tracking.data.targets
    merged = [(i, j) for i in range(len(d)) for j in range(i + 1, len(d)) if d[i, j] < run.eps]
    agree = sum(parity[i] == parity[j] for i, j in merged)
    assert result.numbers["merged_pairs"] == len(merged)
    assert result.numbers["merged_agreeing"] == agree
    assert [c.name for c in result.claims] == ["C3a", "C3b"]
    assert result.claims[1].holds == (len(merged) > 0 and agree == len(merged))
    assert result.figures[0].stat().st_size > 0


def test_length_threshold_shares_by_brute_force(run, tmp_path):
    result = sq.length_threshold(run, tmp_path)
    d = _distances(run)
    data = run.tracking.data
    for m in range(1, data.max_length + 1):
        merged = total = 0
        for i in range(data.n_items):
            for j in range(i + 1, data.n_items):
                if data.targets[i] == data.targets[j] and min(data.lengths[i], data.lengths[j]) == m:
                    total += 1
                    merged += d[i, j] < run.eps
        expected = merged / total if total else float("nan")
        got = result.numbers["merged_share_by_min_length"][m]
        assert (np.isnan(expected) and np.isnan(got)) or got == pytest.approx(expected)
    assert [c.name for c in result.claims] == ["C4a", "C4b", "C4c", "C4d"]


def test_length_generalisation_reads_the_history(run, tmp_path):
    result = sq.length_generalisation(run, tmp_path)
    hist = run.history
    n = result.numbers
    assert (n["states_start"], n["states_peak"], n["states_final"]) == (
        hist.n_states[0], hist.n_states.max(), hist.n_states[-1])
    first_drop = next((int(e) for e, v in zip(run.tracking.epochs, run.tracking.train_loss, strict=True)
                       if v < sq._studies.DROP_LOSS), None)
    assert n["drop_epoch"]["train"] == first_drop
    assert [c.name for c in result.claims] == ["C1a", "C1b", "C2a", "C2b", "C2c", "C2d", "C2e", "C2f"]
    assert all(isinstance(c.holds, bool) for c in result.claims)


def test_theory_endpoint_and_phase_diagram_run_and_report(run, tmp_path):
    theory = sq.theory_endpoint(run, tmp_path)
    assert theory.numbers["pairs"] == 8 and [c.name for c in theory.claims] == ["C6a", "C6b", "C6c"]
    phase = sq.phase_diagram(TINY_PHASE, tmp_path)
    assert np.shape(phase.numbers["accuracy"]) == (2, 2)
    assert all(0.0 <= a <= 1.0 for row in phase.numbers["accuracy"] for a in row)
    assert [c.name for c in phase.claims] == ["C5a", "C5b", "C5c", "C5d"]
    assert {p.name for p in tmp_path.iterdir()} >= {"theory_endpoint.png", "phase_diagram.png"}


def test_run_studies_writes_a_summary(tmp_path):
    results = sq.run_studies({"parity": TINY_PARITY, "phase": TINY_PHASE}, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == set(results) == {
        "length_generalisation", "merged_pairs", "length_threshold", "theory_endpoint", "phase_diagram"}
    assert all("holds" in c for r in summary.values() for c in r["claims"])
    with pytest.raises(ValueError, match="scale"):
        sq.run_studies("huge")
