"""Help texts render as written, and the package has one version number."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import typer.main
from typer.testing import CliRunner

import repdyn
from repdyn.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    if hasattr(command, "commands"):  # a group (typer may bring its own copy of click)
        for name, sub in command.commands.items():
            found += _commands(sub, (*path, name))
    return found


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_help_text_keeps_its_square_brackets():
    commands = _commands(typer.main.get_command(app))
    assert len(commands) > 10  # the root, its groups and every command
    checked = 0
    for path, command in commands:
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        bracketed = [b for text in texts for b in re.findall(r"\[[^\[\]]*\]", text)]
        result = runner.invoke(app, [*path, "--help"], terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        for text in bracketed:
            assert _flat(text) in _flat(result.output), (path, text)
            checked += 1
    assert checked >= 4  # repdyn[cluster] twice, [,loss], [, gain=] at least


def test_command_lists_give_each_command_its_whole_first_paragraph():
    for path, group in _commands(typer.main.get_command(app)):
        if not hasattr(group, "commands"):
            continue
        shown = _flat(runner.invoke(app, [*path, "--help"], terminal_width=80).output)
        for command in group.commands.values():
            first = _flat((command.help or "").split("\n\n")[0])
            assert first and first in shown, (path, command.name)
        assert "..." not in shown.split("Commands:")[1]


def test_the_cluster_extra_is_printed_as_written():
    result = runner.invoke(app, ["run", "two-point", "--help"], terminal_width=100)
    assert "pip install 'repdyn[cluster]'" in _flat(result.output)


def test_version_is_the_one_of_pyproject_and_the_changelog():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert repdyn.__version__ == pyproject
    heading = re.search(r"^## (\d+\.\d+\.\d+)\b", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert heading, "CHANGELOG.md has no '## X.Y.Z' heading"
    # A development or pre-release number (0.4.0.dev0, 0.4.0rc1) belongs to the changelog's top version.
    assert re.fullmatch(re.escape(heading.group(1)) + r"((\.dev|a|b|rc)\d+)?", pyproject), (pyproject, heading[1])
    proc = subprocess.run([sys.executable, "-c", "from repdyn.cli import main; main()", "--version"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout == f"repdyn {pyproject}\n"
