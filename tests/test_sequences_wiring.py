"""The follow-up's experiments in the registry, ``repdyn reproduce`` and ``repdyn sequences``, and their caching."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import repdyn.sequences as sq
from repdyn import experiments
from repdyn.cli import app
from repdyn.experiments import Claim
from repdyn.sweep import ResultStore

runner = CliRunner()

SMOKE_PARITY = sq.SCALES["smoke"]["parity"]
SMOKE_PHASE = sq.SCALES["smoke"]["phase"]
FOLLOW_UP = ["seq-length", "seq-mergers", "seq-theory", "seq-phase"]
#: The studies' claims each experiment reports, in order (docs/claims-sequences.md).
CLAIMS = {
    "seq-length": ["C1a", "C1b", "C2a", "C2b", "C2c", "C2d", "C2e", "C2f"],
    "seq-mergers": ["C3a", "C3b", "C4a", "C4b", "C4c", "C4d"],
    "seq-theory": ["C6a", "C6b", "C6c"],
    "seq-phase": ["C5a", "C5b", "C5c", "C5d"],
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- the registry ----------------------------------------------------------------------------------------


def test_the_follow_up_is_a_group_of_its_own_run_only_when_named():
    assert experiments.in_group("follow-up") == FOLLOW_UP
    paper = experiments.in_group("paper")
    assert not set(paper) & set(FOLLOW_UP) and paper[:2] == ["fig2", "fig3"]
    assert experiments.expand_names(None) == paper  # the default is the paper's
    assert experiments.expand_names(["fig6", "follow-up", "seq-phase"]) == ["fig6", *FOLLOW_UP]
    with pytest.raises(ValueError, match="group"):
        experiments.in_group("sequel")
    with pytest.raises(ValueError, match="group"):
        experiments.Experiment("x", figure="Fig 1", description="d", module="m", group="sequel")


def test_list_shows_the_follow_up_apart():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    paper_at = result.output.index("(the paper)")
    follow_at = result.output.index("(the follow-up)")
    assert result.output.index("fig2") > paper_at and result.output.index("adam-mnist") < follow_at
    assert all(result.output.index(name) > follow_at for name in FOLLOW_UP)


def test_profiles_map_to_the_studies_scales_and_the_shared_run_is_estimated_once():
    from repdyn.experiments.followup import _sequences as module

    assert module.scale("quick") is sq.SCALES["reduced"] and module.scale("paper") is sq.SCALES["paper"]
    assert module.scale("smoke") is sq.SCALES["smoke"]
    for profile in experiments.PROFILES:
        alone = [experiments.estimate_seconds([name], profile, 1) for name in FOLLOW_UP]
        assert all(s > 0 for s in alone)
        together = experiments.estimate_seconds(FOLLOW_UP, profile, 1)
        # seq-length, seq-mergers and seq-theory share one training run: counted once together.
        assert together < sum(alone)


def test_a_claim_can_be_an_equality():
    assert Claim("two states", "minimal size", 2.0, "==", 2.0).holds
    assert not Claim("two states", "minimal size", 3.0, "==", 2.0).holds
    assert not Claim("two states", "minimal size", float("nan"), "==", 2.0).holds


# --- trial results: the tracked run and the grid survive the store ---------------------------------------


def test_a_tracked_run_survives_the_result_store(tmp_path):
    task, data, tests = sq.parity_data(SMOKE_PARITY)
    run = sq.track_prefixes(sq.ElmanRNN(2, 6, 2, gain=0.5, seed=3), data, epochs=4, record_every=2,
                            test_sets=tests, lr=0.05)
    store = ResultStore(tmp_path)
    store.put("b" * 16, run.to_arrays(), config={"n": 1})
    back = sq.PrefixTracking.from_arrays(data, store.get("b" * 16))
    for name in ("epochs", "states", "outputs", "initial_states", "initial_outputs", "train_loss",
                 "train_accuracy", "epoch_loss"):
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name), err_msg=name)
    assert list(back.test_loss) == list(run.test_loss) == [12]
    np.testing.assert_array_equal(back.test_loss[12], run.test_loss[12])
    assert (back.loss, back.status, back.stop_epoch, back.settings) == (run.loss, run.status, 4, run.settings)
    with pytest.raises(ValueError, match="data"):
        sq.PrefixTracking.from_arrays(sq.complete(task, 2), run.to_arrays())


def test_a_phase_grid_survives_the_result_store(tmp_path):
    grid = sq.PhaseGrid(accuracy=np.array([[0.5, 1.0]]), n_states=np.array([[3, 7]]), stop_epoch=np.array([[9, 4]]),
                        converged=np.array([[False, True]]), training_items=np.array([5, 14]), seconds=1.5)
    store = ResultStore(tmp_path)
    store.put("a" * 16, grid.to_arrays(), config={"n": 1})
    back = sq.PhaseGrid.from_arrays(store.get("a" * 16))
    for name in ("accuracy", "n_states", "stop_epoch", "converged", "training_items"):
        np.testing.assert_array_equal(getattr(back, name), getattr(grid, name))
    assert back.seconds == 1.5


# --- reproduce follow-up --profile smoke: outputs, claims, the cache ---------------------------------------


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("follow-up")
    result = runner.invoke(app, ["reproduce", "follow-up", "--profile", "smoke", "--out", str(out),
                                 "--executor", "local"])
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result.output


def test_smoke_profile_writes_summaries_figures_and_a_report(smoke):
    out, output = smoke
    for name in FOLLOW_UP:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["experiment"] == name and summary["profile"] == "smoke" and "note" in summary
        assert [c["metric"].split()[0] for c in summary["claims"]] == CLAIMS[name]
        assert summary["figures"] and all((out / name / f).is_file() for f in summary["figures"])
        assert summary["counts"] == {"trials": 1, "done": 1}
    report = (out / "report.md").read_text()
    assert all(f"| {name} |" in report for name in FOLLOW_UP)
    assert "Protocol" not in report  # the paper's protocol notes are not the follow-up's
    assert f"of {sum(map(len, CLAIMS.values()))} claims hold" in output
    # Three experiments, one training run: the store holds the parity run and the grid.
    assert len(list((out / "cache").glob("*/*.npz"))) == 2
    import repdyn

    assert sorted(repdyn.load_run(out).runs) == sorted(FOLLOW_UP)


def test_the_experiments_claims_are_the_studies_on_the_same_run(smoke):
    out, _ = smoke
    run = sq.run_parity(SMOKE_PARITY)  # trained afresh, not read from the store
    direct = {
        "seq-length": sq.length_generalisation(run).claims,
        "seq-mergers": sq.merged_pairs(run).claims + sq.length_threshold(run).claims,
        "seq-phase": sq.phase_diagram(SMOKE_PHASE).claims,
    }
    for name, claims in direct.items():
        summary = json.loads((out / name / "summary.json").read_text())
        assert len(summary["claims"]) == len(claims)
        for stored, check in zip(summary["claims"], claims, strict=True):
            measured = math.nan if stored["measured"] is None else stored["measured"]
            assert (math.isnan(measured) and math.isnan(check.value)) or measured == pytest.approx(check.value)
            assert stored["holds"] == check.holds and stored["threshold"] == check.threshold


def test_a_rerun_reads_the_trained_networks_from_the_cache(smoke, monkeypatch):
    out, _ = smoke
    from repdyn.experiments.followup import _sequences as module

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of reading the store")

    monkeypatch.setattr(module, "train_parity", no_training)
    monkeypatch.setattr(module, "train_phase_grid", no_training)
    before = json.loads((out / "seq-mergers" / "summary.json").read_text())["claims"]
    result = runner.invoke(app, ["reproduce", "seq-mergers", "seq-phase", "--profile", "smoke", "--out", str(out),
                                 "--executor", "local"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads((out / "seq-mergers" / "summary.json").read_text())["claims"] == before


def test_a_failed_trial_gives_no_claims_and_exit_1(tmp_path, monkeypatch):
    from repdyn.experiments.followup import _sequences as module

    def broken(*args, **kwargs):
        raise RuntimeError("out of luck")

    monkeypatch.setattr(module, "train_phase_grid", broken)
    result = runner.invoke(app, ["reproduce", "seq-phase", "--profile", "smoke", "--out", str(tmp_path),
                                 "--executor", "local"])
    assert result.exit_code == 1, result.output
    summary = json.loads((tmp_path / "seq-phase" / "summary.json").read_text())
    assert summary["claims"] == [] and "out of luck" in summary["error"]


# --- repdyn sequences --------------------------------------------------------------------------------------

SEQ = ["sequences", "--max-length", "4", "--hidden", "12", "--gain", "0.5", "--lr", "0.05", "--epochs", "12",
       "--record-every", "4"]


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_sequences_writes_the_history_the_automaton_and_the_pairs(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, [*SEQ, "--test-length", "9", "--pairs", "12", "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    history = _rows(out / "history.csv")
    assert [int(r["epoch"]) for r in history] == [0, 4, 8, 12]
    assert set(history[0]) >= {"train_loss", "loss_length_9", "states", "closed", "minimal_states"}
    summary = json.loads((out / "summary.json").read_text())
    automaton = json.loads((out / "automaton.json").read_text())
    assert summary["states"]["final"] == int(history[-1]["states"]) == automaton["final"]["states"]
    assert summary["states"]["minimal_final"] == automaton["minimal"]["states"]
    assert summary["training_sequences"] == 30  # 2 + 4 + 8 + 16
    assert (out / "history.png").stat().st_size > 0
    pairs = _rows(out / "pairs.csv")
    assert len(pairs) == 12
    for pair in pairs:
        m = max(len(pair["prefix_1"]), len(pair["prefix_2"]))
        # The spec's counts on complete data to length L: N = 2^(L - max(m1, m2) + 1) - 1 ...
        assert int(pair["N"]) == 2 ** (4 - m + 1) - 1
        # ... and for parity D2 = 0 for equal parity, else every ||Delta_i||^2 = 2.
        same = pair["prefix_1"].count("1") % 2 == pair["prefix_2"].count("1") % 2
        assert float(pair["D2"]) == (0.0 if same else 2.0) and (pair["agree"] == "True") == same


@pytest.mark.parametrize("args", [
    ["--task", "random", "--task-seed", "3"],
    ["--task", "count", "--modulus", "3", "--model", "gru", "--gain", "0.5"],
    ["--model", "transformer", "--hidden", "8", "--fraction", "0.6", "--loss", "cross_entropy", "--optimizer", "adam",
     "--lr", "0.01", "--clustering", "single_linkage"],
])
def test_sequences_runs_every_task_and_model(args, tmp_path):
    result = runner.invoke(app, [*SEQ, *args, "--epochs", "4", "--record-every", "2", "--test-length", "7",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, (result.output, result.exception)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [int(r["epoch"]) for r in _rows(tmp_path / "history.csv")] == [0, 2, 4]
    assert summary["equivalent_to_task_final"] in (True, False) and set(summary["final_loss"]) == {"train", "7"}


def test_sequences_from_a_file_is_the_task_run_on_the_same_sequences(tmp_path):
    task = sq.parity()
    data = sq.complete(task, 3)
    lines = [f"{label} {target}" for label, target in zip(data.labels, data.targets, strict=True)]
    (tmp_path / "mine.txt").write_text("# my parity data\n" + "\n".join(reversed(lines)) + "\n")
    common = ["sequences", "--max-length", "3", "--hidden", "8", "--epochs", "6", "--record-every", "3",
              "--gain", "0.5"]
    from_task = runner.invoke(app, [*common, "--test-length", "5", "--out", str(tmp_path / "task")])
    from_file = runner.invoke(app, [*common, "--data", str(tmp_path / "mine.txt"), "--out", str(tmp_path / "file")])
    assert from_task.exit_code == 0 and from_file.exit_code == 0, (from_task.output, from_file.output)
    a, b = _rows(tmp_path / "task" / "history.csv"), _rows(tmp_path / "file" / "history.csv")
    for ra, rb in zip(a, b, strict=True):
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), rel=1e-6)
        assert ra["states"] == rb["states"] and ra["closed"] == rb["closed"]
    assert b[0]["equivalent_to_task"] == "" and a[0]["equivalent_to_task"] in ("True", "False")


@pytest.mark.slow
def test_sequences_learns_parity_with_the_follow_ups_network(tmp_path):
    # The spec's statistical run, shortened to length 6 (16 s of CPU at 1500 epochs; closed and right from
    # epoch 600): the network learns, its automaton closes and minimises to parity's 2 states.
    out = tmp_path / "parity"
    result = runner.invoke(app, ["sequences", "--max-length", "6", "--epochs", "1000", "--record-every", "100",
                                 "--lr", "0.05", "--gain", "0.1", "--test-length", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_loss"]["60"] < 1e-2
    assert summary["states"]["minimal_final"] == 2 and summary["closed_final"]
    assert summary["equivalent_to_task_final"] is True
