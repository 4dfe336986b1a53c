"""Research probe: where does a network's step move h and y, term by term, and which rates would the theory need?

Run: ``python benchmarks/probe_kernel_decomposition.py [--networks default ...] [--width 100]
[--every 25] [--out results/kernel-decomposition]``.

Trains a Table 1 network (width ``min(table, --width)``, SGD, float32, the
default two points, tracked layer ``L // 2``) in segments of ``--every``
epochs with :func:`repdyn.track.track_pair` (SGD keeps no state, so the
segments are one run), and at the start of each segment splits the first-order
change of one SGD step into four parts: encoder or decoder parameters
(:func:`repdyn.track.split_parameters`), driven by the error difference
``e = e_1 - e_2`` or by the mean error ``e_bar`` (the gradient of
``L = 1/4 (|e_1|^2 + |e_2|^2)`` is exactly the sum of the gradients of
``-1/4 e . (yhat_1 - yhat_2)`` and ``-1/2 e_bar . (yhat_1 + yhat_2)`` at fixed
errors). Each part's change of ``dh`` and ``dyhat`` is a forward-mode product
(``torch.func.jvp``). From them:

- ``dh/dt`` and ``dy/dt`` per part, the first-order total against the observed
  change of the next step;
- the rates the theory's own equations need to reproduce the differential
  terms, measured with no fit:
  ``eta_h_w = -(dh/dt)_enc,diff / (dx2 w)`` (theory: ``dh/dt = -eta_h dx2 w``),
  ``eta_y_w = -(dy/dt)_dec,diff / (w h)`` (theory's decoder term of ``dy/dt``), and
  ``eta_h_y = -(dy/dt)_enc,diff h / (w dx2 y)`` (the encoder term of ``dy/dt``,
  the same ``eta_h`` in the theory);
- the zero-fit trajectory (``solve_varying``) with ``eta_h_w``, ``eta_y_w``
  where both are positive, and its worst R^2, beside the fitted theory's.

Writes ``<network>.npz`` and ``summary.json`` to ``--out``. Exploratory, for
docs/kernel-rates.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import time


def main() -> None:
    import numpy as np
    import torch
    from torch.func import functional_call, jvp

    from repdyn.data import two_point
    from repdyn.fast import limit_threads
    from repdyn.nets import build_network, get_architecture
    from repdyn.theory import fit, r2, solve_varying
    from repdyn.track import split_parameters, track_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", default=["default"])
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/kernel-decomposition"))
    args = parser.parse_args()
    limit_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    data = two_point()
    x, y = data.x, data.y
    dx2 = float(((x[0] - x[1]) ** 2).sum())
    summary = []
    for name in args.networks:
        spec = get_architecture(name)
        spec = dataclasses.replace(spec, units=min(spec.units, args.width))
        epochs = args.epochs or spec.epochs
        model = build_network(spec, 1, 1, seed=0)
        layer = model.tracked_layer
        split = split_parameters(model, layer, x)
        captured: list[torch.Tensor] = []
        hook = model.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.append(o))
        opt = torch.optim.SGD(model.parameters(), lr=spec.lr)
        parts = [(side, drive) for side in ("enc", "dec") for drive in ("diff", "cm")]

        def decompose():
            params = dict(model.named_parameters())
            captured.clear()
            pred = model(x)
            hidden = captured[-1]
            err = (y - pred).detach()
            e, e_bar = err[0] - err[1], 0.5 * (err[0] + err[1])
            drives = {
                "diff": -0.25 * (e * (pred[0] - pred[1])).sum(),
                "cm": -0.5 * (e_bar * (pred[0] + pred[1])).sum(),
            }
            grads = {k: torch.autograd.grad(v, list(params.values()), retain_graph=True) for k, v in drives.items()}
            dh = (hidden[0] - hidden[1]).detach()
            dyhat = (pred[0] - pred[1]).detach()
            primals = {k: p.detach() for k, p in params.items()}

            def both(theta):
                captured.clear()
                out = functional_call(model, theta, (x,))
                return captured[-1], out

            rates = {}
            for side, drive in parts:
                keep = set(split.encoder if side == "enc" else split.decoder)
                tangent = {k: (-spec.lr * g if k in keep else torch.zeros_like(g))
                           for k, g in zip(params, grads[drive], strict=True)}  # fmt: skip
                d_hidden, d_out = jvp(both, (primals,), (tangent,))[1]
                rates[f"hdot_{side}_{drive}"] = float(2 * torch.dot(dh.double(), (d_hidden[0] - d_hidden[1]).double()))
                rates[f"ydot_{side}_{drive}"] = float(2 * torch.dot(dyhat.double().reshape(-1), (d_out[0] - d_out[1]).double().reshape(-1)))
            return rates

        rows, trajectory = [], []
        start = time.perf_counter()
        done = 0
        while done < epochs:
            span = min(args.every, epochs - done)
            rates = decompose()
            run = track_pair(model, layer, x, y, optimizer=opt, epochs=span)
            z = run.z()
            rates.update(epoch=done, h=z[0, 0], y=z[0, 1], w=z[0, 2], hdot_obs=z[1, 0] - z[0, 0], ydot_obs=z[1, 1] - z[0, 1])
            rows.append(rates)
            trajectory.append(z[:-1] if done + span < epochs else z)
            done += span
        hook.remove()
        seconds = time.perf_counter() - start
        traj = np.concatenate(trajectory)
        t = np.arange(len(traj), dtype=float)
        table = {k: np.array([r[k] for r in rows]) for k in rows[0]}
        h, yy, w = table["h"], table["y"], table["w"]
        table["eta_h_w"] = -table["hdot_enc_diff"] / (dx2 * w)
        table["eta_y_w"] = -table["ydot_dec_diff"] / (w * h)
        table["eta_h_y"] = -table["ydot_enc_diff"] * h / (w * dx2 * yy)
        np.savez(args.out / f"{spec.name.replace(' ', '_')}.npz", trajectory=traj, **table)
        fitted = fit(traj, t, dx2=dx2, dy2=0.5)
        ok = (table["eta_h_w"] > 0) & (table["eta_y_w"] > 0)
        times = table["epoch"].astype(float)
        zero = solve_varying(traj[0], t, eta_h=table["eta_h_w"][ok], eta_y=table["eta_y_w"][ok],
                             rate_times=times[ok], dx2=dx2, dy2=0.5)  # fmt: skip
        magnitude = np.abs(traj).max(axis=0)
        magnitude[2] = max(magnitude[2], magnitude[1])
        zero_r2 = {v: float(r2(traj[:, i], zero[:, i], atol=1e-6 * magnitude[i])) for i, v in enumerate("hyw")}
        pos = lambda a: a[np.isfinite(a) & (a > 0)]  # noqa: E731
        entry = {
            "network": spec.name, "units": spec.units, "seconds": seconds, "fitted_eta_h": float(fitted.eta_h),
            "fitted_eta_y": float(fitted.eta_y), "fitted_r2": fitted.r2, "zero_fit_w_r2": zero_r2,
            "positive_fraction": float(ok.mean()),
            **{f"{k}_{stat}": float(f(pos(table[k]))) for k in ("eta_h_w", "eta_y_w", "eta_h_y")
               for stat, f in (("mean", np.mean), ("median", np.median),
                               ("gmean", lambda a: np.exp(np.log(a).mean())))},
        }  # fmt: skip
        summary.append(entry)
        print(json.dumps(entry), flush=True)
        np.set_printoptions(precision=3, linewidth=220)
        show = np.unique(np.r_[np.arange(0, min(12, len(rows))), np.linspace(0, len(rows) - 1, 25).astype(int)])
        print("epoch      h        y         w      | hdot: enc,diff enc,cm dec,* obs      | ydot: enc,diff enc,cm dec,diff dec,cm obs"
              "          | eta_h_w  eta_y_w  eta_h_y")
        for i in show:
            r = {k: v[i] for k, v in table.items()}
            print(f"{int(r['epoch']):5d} {r['h']:.3e} {r['y']:.3e} {r['w']:+.3e} | {r['hdot_enc_diff']:+.2e} {r['hdot_enc_cm']:+.2e} "
                  f"{r['hdot_dec_diff'] + r['hdot_dec_cm']:+.1e} {r['hdot_obs']:+.2e} | {r['ydot_enc_diff']:+.2e} {r['ydot_enc_cm']:+.2e} "
                  f"{r['ydot_dec_diff']:+.2e} {r['ydot_dec_cm']:+.2e} {r['ydot_obs']:+.2e} | {r['eta_h_w']:+.2e} {r['eta_y_w']:+.2e} {r['eta_h_y']:+.2e}")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
