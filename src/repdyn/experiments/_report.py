"""The report of a reproduction run: ``report.md`` and ``report.html``, a table of every claim and the figures."""

from __future__ import annotations

from pathlib import Path

from repdyn.experiments._registry import EXPERIMENTS, ExperimentOutput

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
    "XOR low: gain 0.85, lr 0.015, 3000 epochs (the authors' settings file); Table 2's printed gain 0.7, "
    "lr 0.015, 1000 epochs does not train.",
)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(out: Path, outputs: dict[str, ExperimentOutput], profile: str) -> list[Path]:
    """``report.md`` and ``report.html``: a table of every claim, then each experiment's figures."""
    import html

    registry = EXPERIMENTS
    held = sum(c.holds for o in outputs.values() for c in o.claims)
    total = sum(len(o.claims) for o in outputs.values())
    md = [
        f"# repdyn reproduction report (profile: {profile})",
        "",
        f"{held} of {total} claims hold.",
        "",
        *([f"> **{SMOKE_NOTE}**", ""] if profile == "smoke" else []),
        "Protocol (see docs/architectures.md):",
        "",
        *[f"- {note}" for note in PROTOCOL_NOTES],
        "",
        "## Claims",
        "",
        "| experiment | claim | metric | measured | threshold | holds |",
        "|---|---|---|---|---|---|",
    ]
    for name, output in outputs.items():
        for c in output.claims:
            md.append(
                f"| {name} | {_cell(c.claim)} | {_cell(c.metric)} | {c.measured:.4g} | {c.relation} {c.threshold:.4g} | "
                f"{'yes' if c.holds else '**no**'} |"
            )
    md += ["", "## Trials", "", "| experiment | counts |", "|---|---|"]
    for name, output in outputs.items():
        md.append(f"| {name} | {', '.join(f'{k}: {v}' for k, v in output.counts.items())} |")
    for name, output in outputs.items():
        exp = registry[name]
        md += ["", f"## {name}: {exp.figure}", "", exp.description, ""]
        md += [f"![{name}]({p.relative_to(out)})" for p in output.figures if p.suffix == ".png"]
    md_path = out / "report.md"
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text("\n".join(md) + "\n")

    body = [
        f"<h1>repdyn reproduction report (profile: {html.escape(profile)})</h1>",
        f"<p>{held} of {total} claims hold.</p>",
        *(
            [f"<p style='background:#ffd;padding:6px'><b>{html.escape(SMOKE_NOTE)}</b></p>"]
            if profile == "smoke"
            else []
        ),
        "<p>Protocol (see docs/architectures.md):</p><ul>"
        + "".join(f"<li>{html.escape(note)}</li>" for note in PROTOCOL_NOTES) + "</ul>",
        "<table border=1 cellpadding=4>",
        "<tr><th>experiment</th><th>claim</th><th>metric</th><th>measured</th><th>threshold</th><th>holds</th></tr>",
    ]
    for name, output in outputs.items():
        for c in output.claims:
            colour = "#dfd" if c.holds else "#fdd"
            body.append(
                f"<tr style='background:{colour}'><td>{name}</td><td>{html.escape(c.claim)}</td>"
                f"<td>{html.escape(c.metric)}</td><td>{c.measured:.4g}</td>"
                f"<td>{c.relation} {c.threshold:.4g}</td><td>{'yes' if c.holds else 'no'}</td></tr>"
            )
    body.append("</table>")
    for name, output in outputs.items():
        exp = registry[name]
        body.append(
            f"<h2>{name}: {html.escape(exp.figure)}</h2><p>{html.escape(exp.description)}</p>"
        )
        body += [
            f"<img src='{p.relative_to(out)}' style='max-width:100%'>"
            for p in output.figures
            if p.suffix == ".png"
        ]
    html_path = out / "report.html"
    html_path.write_text(
        "<!doctype html><meta charset=utf-8><title>repdyn report</title>\n" + "\n".join(body)
    )
    return [md_path, html_path]
