"""The report of a reproduction run: ``report.md`` and ``report.html``, a table of every claim and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repdyn.experiments._registry import EXPERIMENTS, ExperimentOutput
from repdyn.runs import png_data_uri, write_text

#: What a smoke run's report and summaries say first.
SMOKE_NOTE = (
    "Smoke profile: tiny networks and few epochs that test the code end to end. Its numbers "
    "test the code, not the theory: claims that fail here say nothing about the paper."
)


#: What every experiment's protocol takes from the authors' public code where
#: the paper's text is silent or wrong; printed in every report.
PROTOCOL_NOTES = (
    "Tracked layer: hidden layer L // 2 counted from 0, as the authors' code (11 of 20, 6 of 10, 3 of 4, "
    "2 of 2, 1 of 1).",
    "Measurement: h, y, w and the loss in eval mode (no dropout), training in train mode, as the authors' code.",
    "Loss: each data set's convention in the authors' code, 0.5 * F.mse_loss (a mean over points and outputs) "
    "for two points, depth, the context task and MNIST, nn.MSELoss() for XOR. Recorded losses are the theory's "
    "1/2 mean_i ||e_i||^2; fitted rates are per epoch of the run as trained, in its convention (loss_convention "
    "in every trial's config, loss_scale in its record; under SGD, rate / loss_scale is the rate in the theory's "
    "convention, docs/theory.md).",
    "Minibatches of 64 for MNIST and the context task, as the authors' notebooks.",
    "XOR low: gain 0.85, lr 0.015, 3000 epochs (the authors' settings file); Table 2's printed gain 0.7, "
    "lr 0.015, 1000 epochs does not train.",
)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


#: How the report reads the interval column.
INTERVAL_NOTE = (
    "95 % interval: a seeded bootstrap over the unit named in the cell (docs/claims.md); a claim whose "
    "interval straddles its threshold is marked inconclusive (holds / fails still reads the point estimate). "
    "\"1 seed\": one trained network per condition, no interval over seeds."
)


def tally(outputs: dict[str, ExperimentOutput]) -> str:
    """``"32 of 41 claims hold (5 of the 41 inconclusive)."``"""
    claims = [c for o in outputs.values() for c in o.claims]
    held = sum(c.holds for c in claims)
    unsure = sum(c.inconclusive for c in claims)
    return f"{held} of {len(claims)} claims hold ({unsure} of the {len(claims)} inconclusive)."


def _verdict(claim: Any, *, bold: bool) -> str:
    word = "yes" if claim.holds else ("**no**" if bold else "no")
    return word + (" (inconclusive)" if claim.inconclusive else "")


def write_report(out: Path, outputs: dict[str, ExperimentOutput], profile: str) -> list[Path]:
    """``report.md`` and ``report.html``: a table of every claim, then each experiment's figures."""
    import html

    registry = EXPERIMENTS
    # The protocol notes are the paper's: a report of the follow-up's experiments alone leaves them out.
    notes = PROTOCOL_NOTES if any(registry[name].group == "paper" for name in outputs) else ()
    md = [
        f"# repdyn reproduction report (profile: {profile})",
        "",
        tally(outputs),
        "",
        *([f"> **{SMOKE_NOTE}**", ""] if profile == "smoke" else []),
        *(["Protocol (see docs/architectures.md):", "", *[f"- {note}" for note in notes], ""] if notes else []),
        "## Claims",
        "",
        INTERVAL_NOTE,
        "",
        "| experiment | claim | metric | measured | 95 % interval | threshold | holds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, output in outputs.items():
        for c in output.claims:
            md.append(
                f"| {name} | {_cell(c.claim)} | {_cell(c.metric)} | {c.measured:.4g} | {_cell(c.uncertainty())} | "
                f"{c.relation} {c.threshold:.4g} | {_verdict(c, bold=True)} |"
            )
    md += ["", "## Trials", "", "| experiment | counts |", "|---|---|"]
    for name, output in outputs.items():
        md.append(f"| {name} | {', '.join(f'{k}: {v}' for k, v in output.counts.items())} |")
    for name, output in outputs.items():
        exp = registry[name]
        md += ["", f"## {name}: {exp.figure}", "", exp.description, ""]
        md += [f"![{name}]({p.relative_to(out)})" for p in output.figures if p.suffix == ".png"]
    md_path = write_text(out / "report.md", "\n".join(md) + "\n")

    body = [
        f"<h1>repdyn reproduction report (profile: {html.escape(profile)})</h1>",
        f"<p>{html.escape(tally(outputs))}</p>",
        *(
            [f"<p style='background:#ffd;padding:6px'><b>{html.escape(SMOKE_NOTE)}</b></p>"]
            if profile == "smoke"
            else []
        ),
        *(["<p>Protocol (see docs/architectures.md):</p><ul>"
           + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul>"] if notes else []),
        f"<p>{html.escape(INTERVAL_NOTE)}</p>",
        "<table border=1 cellpadding=4>",
        "<tr><th>experiment</th><th>claim</th><th>metric</th><th>measured</th><th>95 % interval</th>"
        "<th>threshold</th><th>holds</th></tr>",
    ]
    for name, output in outputs.items():
        for c in output.claims:
            colour = "#ffd" if c.inconclusive else ("#dfd" if c.holds else "#fdd")
            body.append(
                f"<tr style='background:{colour}'><td>{name}</td><td>{html.escape(c.claim)}</td>"
                f"<td>{html.escape(c.metric)}</td><td>{c.measured:.4g}</td><td>{html.escape(c.uncertainty())}</td>"
                f"<td>{c.relation} {c.threshold:.4g}</td><td>{_verdict(c, bold=False)}</td></tr>"
            )
    body.append("</table>")
    for name, output in outputs.items():
        exp = registry[name]
        body.append(
            f"<h2>{name}: {html.escape(exp.figure)}</h2><p>{html.escape(exp.description)}</p>"
        )
        body += [
            f"<img src='{png_data_uri(p)}' alt='{html.escape(p.name)}' style='max-width:100%'>"
            for p in output.figures
            if p.suffix == ".png"
        ]
    html_path = write_text(
        out / "report.html", "<!doctype html><meta charset=utf-8><title>repdyn report</title>\n" + "\n".join(body)
    )
    return [md_path, html_path]
