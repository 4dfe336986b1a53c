"""``repdyn sequences``: train a sequence model on a task or your sequences, and see the automaton it learns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repdyn.cli import _errors as check
from repdyn.cli._errors import EXIT_FAILED, write_errors

DEFAULT_OUT = Path("results/sequences")


@check.checked({"test_lengths": "--test-length"})
def sequences(
    task: Annotated[
        str | None,
        typer.Option(help="parity (streaming parity), count (ones mod --modulus) or random (a random regular "
                          "language, --task-seed, --max-states). Default parity; not with --data."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Your sequences instead of a task: a text file, one per line, symbols as digits, a "
                          "space, the target class ('0110 1'); '#' starts a comment."),
    ] = None,
    modulus: Annotated[int, typer.Option(help="count: the output is the number of ones mod this.")] = 3,
    task_seed: Annotated[int, typer.Option(help="random: the seed of the random machine.")] = 0,
    max_states: Annotated[int, typer.Option(help="random: the most states of the random machine.")] = 7,
    max_length: Annotated[int, typer.Option(help="Train on sequences of length 1 to this (a task).")] = 8,
    fraction: Annotated[
        float, typer.Option(help="Expected share of each length's sequences kept (a task; 1 = complete data).")
    ] = 1.0,
    model: Annotated[str, typer.Option(help="elman (the follow-up's RNN), gru or transformer (last token).")] = "elman",
    hidden: Annotated[int, typer.Option(help="Hidden units (the transformer's width).")] = 100,
    gain: Annotated[
        float | None, typer.Option(help="Initial weight scale (default: elman 0.1, the follow-up's; gru and "
                                        "transformer 1.0).")
    ] = None,
    nonlinearity: Annotated[str, typer.Option(help="elman: relu or tanh.")] = "relu",
    heads: Annotated[int, typer.Option(help="transformer: attention heads.")] = 2,
    layers: Annotated[int, typer.Option(help="transformer: blocks.")] = 1,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.02,
    optimizer: Annotated[str, typer.Option(help="sgd or adam.")] = "sgd",
    loss: Annotated[str, typer.Option(help="mse (the follow-up's) or cross_entropy.")] = "mse",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Minibatch size (a batch never mixes lengths).")] = 128,
    record_every: Annotated[int, typer.Option(help="Record every prefix's state every this many epochs.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the weights, the minibatch order and the test sets.")] = 0,
    test_lengths: Annotated[
        list[int] | None,
        typer.Option("--test-length", help="A test length (repeat the option for several; default 50 and 1000 "
                                           "with a task, none with --data)."),
    ] = None,
    test_count: Annotated[int, typer.Option(help="Random sequences per test length.")] = 10,
    eps_factor: Annotated[
        float, typer.Option(help="Two hidden states are one automaton state when closer than this x the "
                                 "per-unit spread of the states.")
    ] = 0.01,
    eps_records: Annotated[
        str, typer.Option(help="The spread of the final record's states (final) or of the whole run's (all).")
    ] = "final",
    clustering: Annotated[
        str, typer.Option(help="leader (the authors' greedy rule) or single_linkage (order-independent).")
    ] = "leader",
    pairs: Annotated[
        int, typer.Option(help="Pairs of prefixes (half agreeing) to fit the theory to and predict mergers for "
                               "(pairs.csv); 0 fits none.")
    ] = 0,
    max_record_mb: Annotated[
        float, typer.Option(help="Largest record of states allowed, in MB (refused before training).")
    ] = 500.0,
    out: Annotated[Path, typer.Option(help="Output directory.")] = DEFAULT_OUT,
) -> None:
    """Train a sequence model with every prefix tracked; write the automaton it learns, its mergers and the theory.

    The follow-up to the theory (van Rossem & Saxe 2025): the hidden state
    after a prefix is its representation; prefixes whose states come closer
    than eps merge into the states of an automaton. Writes history.csv (per
    record: losses, states, closure, conflicts, minimal states), automaton.json,
    summary.json, history.png and, with --pairs, pairs.csv (the theory's
    predicted final distance and merger per pair against the network's).
    """
    from repdyn.runs import SequenceRunConfig, run_sequences

    if task is None and data is None:
        task = "parity"
    check.output_dir("--out", out)
    config = SequenceRunConfig(
        task=task, data=data, modulus=modulus, task_seed=task_seed, max_states=max_states, max_length=max_length,
        fraction=fraction, model=model, hidden=hidden, gain=gain, nonlinearity=nonlinearity, heads=heads,
        layers=layers, lr=lr, optimizer=optimizer, loss=loss, epochs=epochs, batch_size=batch_size,
        record_every=record_every, seed=seed, test_lengths=None if test_lengths is None else tuple(test_lengths),
        test_count=test_count, eps_factor=eps_factor, eps_records=eps_records, clustering=clustering, pairs=pairs,
        max_record_mb=max_record_mb,
    )
    data_set = config.training_data()  # a bad file is bad input: reported before any training
    typer.echo(f"training {config.model} on {data_set.n_items} sequences for {config.epochs} epochs ...")
    with write_errors({"--out": out}):
        output = run_sequences(config, out)
    s = output.summary
    states = s["states"]
    typer.echo(f"final training loss {s['final_loss']['train']:.3g}"
               + "".join(f", length {k} {v:.3g}" for k, v in s["final_loss"].items() if k != "train"))
    typer.echo(f"automaton (eps {s['eps']:.3g}): {states['start']} states at the start, peak {states['peak']}, "
               f"{states['final']} at the end ({'closed' if s['closed_final'] else 'open'}, "
               f"{s['conflicts_final']} conflicts), minimal {states['minimal_final']}"
               + ("" if s["equivalent_to_task_final"] is None else
                  f", {'equivalent' if s['equivalent_to_task_final'] else 'not equivalent'} to the task up to "
                  f"length {s['check_length']}"))
    first = s["first_correct_closed_epoch"]
    typer.echo(("never closed and right on the training set" if first is None else
                f"first closed and right on the training set at epoch {first}") + "; "
               f"{s['merged_pairs']} merged pairs of prefixes, {s['merged_pairs_agreeing']} of them agreeing")
    if "theory" in s:
        t = s["theory"]
        quality = ", ".join(f"{n} {q}" for q, n in t["quality"].items())
        typer.echo(f"theory: {t['fitted']} of {t['pairs']} pairs fitted ({quality}); mergers observed "
                   f"{t['mergers_observed']}, predicted {t['mergers_predicted']}, predictions right for "
                   f"{t['merger_predictions_right']}")
    typer.echo(f"written to {out}")
    if s["status"] == "diverged":
        typer.echo("Error: the training loss became non-finite (diverged); lower --lr or --gain", err=True)
        raise typer.Exit(EXIT_FAILED)
