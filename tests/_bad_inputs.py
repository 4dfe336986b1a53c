"""A corpus of bad command lines, shared by tests/test_cli_errors.py and benchmarks/bench_robustness.py.

Paths in the corpus are templates: ``{d}`` is a directory of prepared bad files
(:func:`make_bad_files`), ``{fresh}`` a path that does not exist yet and must
still not exist afterwards (nothing half written). Each entry pairs a command
line with the text its message must contain: the offending option or file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIM = ["theory", "simulate", "--h0", "1", "--y0", "0.1", "--eta-h", "0.01", "--eta-y", "0.01", "--epochs", "20"]
FIT = ["theory", "fit", "--dx2", "1", "--dy2", "0.5"]
PRED = ["theory", "predict", "--h0", "1", "--y0", "0.1", "--eta-h", "0.01", "--eta-y", "0.01"]
RUN = ["run", "two-point", "--units", "4", "--hidden-layers", "1", "--epochs", "5", "--executor", "local"]
RUN_OUT = [*RUN, "--out", "{fresh}"]
DEAD = "tcp://127.0.0.1:1"  # port 1: nothing listens there
ATLAS = ["atlas", "--dataset", "xor", "--model", "xor 2 layers", "--epochs", "3", "--out", "{fresh}"]
SEQ = ["sequences", "--max-length", "3", "--hidden", "8", "--epochs", "2", "--out", "{fresh}"]

# (command line, text the message must contain)
CORPUS = [
    ([*SIM, "--h0", "-1"], "--h0"),
    ([*SIM, "--h0", "nan"], "--h0"),
    ([*SIM, "--y0", "-1"], "--y0"),
    ([*SIM, "--eta-h", "0"], "--eta-h"),
    ([*SIM, "--eta-y", "inf"], "--eta-y"),
    ([*SIM, "--dx2", "0"], "--dx2"),
    ([*SIM, "--dy2", "-0.5"], "--dy2"),
    ([*SIM, "--w0", "5"], "--w0"),
    ([*SIM, "--epochs", "0"], "--epochs"),
    ([*SIM, "--epochs", "1e9"], "--epochs"),
    ([*SIM, "--epochs", "1000000000", "--out", "{fresh}"], "--epochs"),
    ([*SIM, "--epochs", "9223372036854775807", "--out", "{fresh}"], "--epochs"),
    ([*SIM, "--out", "{d}"], "--out"),
    ([*SIM, "--out", "{d}/afile/sim.csv"], "--out"),
    ([*SIM, "--plot", "{fresh}.xyz"], "--plot"),
    ([*SIM, "--eta-m", "-1"], "--eta-m"),
    ([*SIM, "--m0", "nan"], "--m0"),
    ([*FIT, "{d}/missing.csv"], "missing.csv"),
    ([*FIT, "{d}/latin1.csv"], "latin1.csv"),
    ([*FIT, "{d}/array.npy"], "array.npy"),
    ([*FIT, "{d}/garbage.npz"], "garbage.npz"),
    ([*FIT, "{d}/truncated.npz"], "truncated.npz"),
    ([*FIT, "{d}/strings.npz"], "strings.npz"),
    ([*FIT, "{d}/zeit.csv"], "--time-column"),
    ([*FIT, "{d}/no-time.csv"], "--no-time-column"),
    ([*FIT, "{d}/good.csv", "--time-column", "tick"], "--time-column"),
    ([*FIT, "{d}/good.csv", "--no-time-column"], "--no-time-column"),
    ([*FIT, "{d}/good.csv", "--no-time-column", "--time-column", "epoch"], "--time-column"),
    ([*FIT, "{d}/backwards.csv"], "backwards.csv"),
    ([*FIT, "{d}/negative-h.csv"], "negative-h.csv"),
    ([*FIT, "{d}/nan.csv"], "nan.csv"),
    ([*FIT, "{d}/ragged.csv"], "ragged.csv"),
    ([*FIT, "{d}/extra-column.csv"], "speed"),
    ([*FIT, "{d}/good.csv", "--objective", "plain"], "--objective"),
    (["theory", "fit", "{d}/good.csv", "--dx2", "0", "--dy2", "0.5"], "--dx2"),
    ([*FIT, "{d}/good.csv", "--plot", "{d}"], "--plot"),
    ([*PRED, "--h0", "0"], "--h0"),
    ([*PRED, "--eta-y", "nan"], "--eta-y"),
    ([*RUN_OUT, "--executor", "bogus"], "--executor"),
    ([*RUN_OUT, "--workers", "0"], "--workers"),
    ([*RUN_OUT, "--executor", "dask", "--scheduler", DEAD], "--scheduler"),
    ([*RUN_OUT, "--executor", "process", "--scheduler", DEAD], "--scheduler"),
    ([*RUN_OUT, "--cluster", "slurm"], "--executor dask"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "slurmm"], "--cluster"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "slurm", "--memory", "lots"], "--memory"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "pbs", "--walltime", "1h"], "--walltime"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "pbs", "--cores", "0"], "--cores"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "pbs", "--jobs", "0"], "--jobs"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "pbs", "--scheduler", DEAD], "--scheduler"),
    ([*RUN_OUT, "--executor", "dask", "--cluster", "pbs", "--workers", "2"], "--workers"),
    ([*RUN_OUT, "--queue", "gpu"], "--cluster"),
    (["reproduce", "fig5", "--out", "{fresh}", "--executor", "dask", "--walltime", "01:00:00"], "--cluster"),
    ([*RUN, "--out", "{d}/afile"], "--out"),
    ([*RUN_OUT, "--cache", "{d}/afile"], "--cache"),
    ([*RUN, "--out", "{d}/afile/run"], "--out"),
    ([*RUN_OUT, "--dy2", "inf"], "--dy2"),
    ([*RUN_OUT, "--dx2", "-1"], "--dx2"),
    ([*RUN_OUT, "--epochs", "1000000000"], "--epochs"),
    ([*RUN_OUT, "--units", "10000000"], "--units"),
    ([*RUN_OUT, "--units", "0"], "--units"),
    ([*RUN_OUT, "--arch", "bogus"], "--model"),  # --arch is --model's other name
    ([*RUN_OUT, "--layer", "99"], "--layer"),
    ([*RUN_OUT, "--optimizer", "rmsprop"], "--optimizer"),
    ([*RUN_OUT, "--arch", "tanh", "--optimizer", "adam"], "--lr"),
    ([*RUN_OUT, "--lr", "-1"], "--lr"),
    ([*RUN_OUT, "--gain", "0"], "--gain"),
    ([*RUN_OUT, "--device", "tpu"], "--device"),
    ([*RUN_OUT, "--trials", "0"], "--trials"),
    (["predict", "--dataset", "{d}/nan-points.npz", "--out", "{fresh}"], "nan-points.npz"),
    (["predict", "--dataset", "{d}/empty-points.npz", "--out", "{fresh}"], "empty-points.npz"),
    (["predict", "--dataset", "{d}/truncated.npz", "--out", "{fresh}"], "truncated.npz"),
    (["predict", "--dataset", "{d}/missing.npz", "--out", "{fresh}"], "missing.npz"),
    (["predict", "--dataset", "cifar", "--out", "{fresh}"], "--dataset"),
    (["predict", "--dataset", "xor", "--tau", "inf", "--out", "{fresh}"], "--tau"),
    (["predict", "--dataset", "xor", "--eta-ratio", "0", "--out", "{fresh}"], "--eta-ratio"),
    (["predict", "--dataset", "xor", "--out", "{d}/afile"], "--out"),
    (["predict", "--dataset", "xor", "--rates-from", "{d}", "--out", "{fresh}"], "--rates-from"),
    (["predict", "--dataset", "xor", "--rates-from", "{d}/bad-json", "--out", "{fresh}"], "--rates-from"),
    (["predict", "--compare", "{d}/array.npy", "--out", "{fresh}"], "--compare"),
    (["reproduce", "no-such-figure", "--out", "{fresh}"], "no-such-figure"),
    (["reproduce", "fig2", "--profile", "huge", "--out", "{fresh}"], "--profile"),
    (["reproduce", "fig2", "--executor", "threads", "--out", "{fresh}"], "--executor"),
    (["reproduce", "fig2", "--out", "{d}/afile"], "--out"),
    (["demo", "--out", "{d}/afile/demo"], "--out"),
    ([*ATLAS, "--pairs", "0"], "--pairs"),
    ([*ATLAS, "--gain", "0"], "--gain"),
    ([*ATLAS, "--gain", "nan"], "--gain"),
    ([*ATLAS, "--lr", "-1"], "--lr"),
    ([*ATLAS, "--epochs", "0"], "--epochs"),
    ([*ATLAS, "--record-every", "10"], "--record-every"),
    ([*ATLAS, "--record-every", "0"], "--record-every"),
    ([*ATLAS, "--model", "bogus"], "--model"),
    ([*ATLAS, "--model", "cnn"], "--model"),
    ([*ATLAS, "--model", "{d}/missing.py:make"], "--model"),
    ([*ATLAS, "--model", "{d}/model.py:nothing"], "--model"),
    ([*ATLAS, "--model", "{d}/model.py:not_a_model", "--lr", "0.1"], "--model"),
    ([*ATLAS, "--model", "{d}/model.py:make"], "--lr"),
    ([*ATLAS, "--model", "{d}/model.py:make", "--lr", "0.1", "--gain", "2"], "--gain"),
    ([*ATLAS, "--dataset", "cifar"], "--dataset"),
    ([*ATLAS, "--dataset", "{d}/missing.npz"], "--dataset"),
    ([*ATLAS, "--dataset", "{d}/nan-points.npz"], "--dataset"),
    ([*ATLAS, "--dataset", "{d}/truncated.npz"], "--dataset"),
    ([*ATLAS, "--layers", "hidden.7"], "--layers"),
    ([*ATLAS, "--batch-size", "100"], "--batch-size"),
    ([*ATLAS, "--batch-size", "2", "--full-batch"], "--batch-size"),
    ([*ATLAS, "--optimizer", "rmsprop"], "--optimizer"),
    ([*ATLAS, "--device", "tpu"], "--device"),
    ([*ATLAS, "--out", "{d}/afile"], "--out"),
    ([*ATLAS, "--cache", "{d}/afile"], "--cache"),
    (["atlas", "--dataset", "blobs", "--pairs", "1000000", "--epochs", "1000000", "--out", "{fresh}"], "--pairs"),
    ([*SEQ, "--epochs", "0"], "--epochs"),
    ([*SEQ, "--task", "cnt"], "--task"),
    ([*SEQ, "--modulus", "1", "--task", "count"], "--modulus"),
    ([*SEQ, "--model", "lstm"], "--model"),
    ([*SEQ, "--model", "transformer", "--hidden", "15"], "--hidden"),
    ([*SEQ, "--nonlinearity", "gelu"], "--nonlinearity"),
    ([*SEQ, "--fraction", "1.5"], "--fraction"),
    ([*SEQ, "--fraction", "0"], "--fraction"),
    ([*SEQ, "--gain", "nan"], "--gain"),
    ([*SEQ, "--lr", "0"], "--lr"),
    ([*SEQ, "--loss", "hinge"], "--loss"),
    ([*SEQ, "--test-length", "0"], "--test-length"),
    ([*SEQ, "--eps-factor", "0"], "--eps-factor"),
    ([*SEQ, "--eps-records", "first"], "--eps-records"),
    ([*SEQ, "--clustering", "kmeans"], "--clustering"),
    ([*SEQ, "--pairs", "-1"], "--pairs"),
    ([*SEQ, "--seed", "-1"], "--seed"),
    ([*SEQ, "--data", "{d}/missing.txt"], "missing.txt"),
    ([*SEQ, "--data", "{d}/bad-sequences.txt"], "bad-sequences.txt"),
    ([*SEQ, "--data", "{d}/sequences.txt", "--task", "parity"], "--task"),
    ([*SEQ, "--data", "{d}/sequences.txt", "--test-length", "20"], "--test-length"),
    ([*SEQ, "--max-length", "12", "--hidden", "100", "--epochs", "1000", "--record-every", "1"], "--record-every"),
    (["sequences", "--out", "{d}/afile"], "--out"),
]


def make_bad_files(d: Path) -> Path:
    """Write the corpus's bad files into the directory ``d``; return it."""
    (d / "afile").write_text("a file, not a directory\n")
    good = "epoch,h,y,w\n" + "".join(f"{t},{1 + 0.01 * t},{0.1 + 0.001 * t},{0.1}\n" for t in range(5))
    (d / "good.csv").write_text(good)
    (d / "zeit.csv").write_text(good.replace("epoch", "Zeit", 1))
    (d / "no-time.csv").write_text("h,y,w\n1,0.1,0.1\n1.1,0.2,0.1\n1.2,0.3,0.1\n")
    (d / "backwards.csv").write_text("epoch,h,y,w\n0,1,0.1,0.1\n2,1.1,0.2,0.1\n1,1.2,0.3,0.1\n")
    (d / "negative-h.csv").write_text("epoch,h,y,w\n0,-1,0.1,0.1\n1,1.1,0.2,0.1\n2,1.2,0.3,0.1\n")
    (d / "nan.csv").write_text("epoch,h,y,w\n0,1,0.1,0.1\n1,nan,0.2,0.1\n2,1.2,0.3,0.1\n")
    (d / "ragged.csv").write_text("epoch,h,y,w\n0,1,0.1,0.1\n1,1.1,0.2\n2,1.2,0.3,0.1\n")
    (d / "extra-column.csv").write_text(good.replace("w\n", "w,speed\n", 1).replace(",0.1\n", ",0.1,1\n"))
    (d / "latin1.csv").write_bytes("epoch,h,y,w\n0,1,0.1,0.1 \xe9\n".encode("latin-1"))
    np.save(d / "array.npy", np.zeros((3, 4)))
    (d / "garbage.npz").write_bytes(b"garbage" * 20)
    np.savez(d / "strings.npz", epoch=np.arange(3), h=np.array(["a", "b", "c"]), y=np.ones(3), w=np.ones(3))
    whole = (d / "strings.npz").read_bytes()
    (d / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    np.savez(d / "nan-points.npz", x=np.array([[0.0, 1.0], [1.0, np.nan]]), y=np.array([0.0, 1.0]))
    np.savez(d / "empty-points.npz", x=np.zeros((0, 2)), y=np.zeros(0))
    (d / "model.py").write_text(
        "import torch\n\n\ndef make(in_dim, out_dim, seed):\n    torch.manual_seed(seed)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(in_dim, 8), torch.nn.Tanh(), torch.nn.Linear(8, out_dim))\n"
        "\n\ndef not_a_model(in_dim, out_dim, seed):\n    return 'a model'\n"
    )
    (d / "sequences.txt").write_text("# parity to length 2\n0 0\n1 1\n00 0\n01 1\n10 1\n11 0\n")
    (d / "bad-sequences.txt").write_text("0 0\n1 one\n")
    (d / "bad-json").mkdir()
    (d / "bad-json" / "summary.json").write_text("{not json")
    return d


def fill(args: list[str], d: Path, fresh: Path) -> list[str]:
    """The command line with its path templates filled in."""
    return [a.format(d=d, fresh=fresh) for a in args]
