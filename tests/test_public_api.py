"""The public Python API: the experiment registry, experiments.run, and light imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import repdyn
from repdyn import experiments

CLI_DIR = Path(repdyn.__file__).parent / "cli"
EXPERIMENTS_DIR = Path(experiments.__file__).parent


def _modules_after(code: str) -> set[str]:
    """The modules loaded by ``code`` in a fresh interpreter."""
    script = f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_listing_the_registry_imports_no_torch():
    loaded = _modules_after(
        "from repdyn.experiments import EXPERIMENTS\n"
        "assert all(e.figure and e.description for e in EXPERIMENTS.values())"
    )
    assert "torch" not in loaded and "matplotlib" not in loaded


def test_command_line_and_theory_load_only_what_they_need():
    cli = _modules_after("import repdyn.cli")
    assert not {"torch", "matplotlib", "xarray", "pandas", "dask"} & cli
    theory = _modules_after("import repdyn.theory")
    assert not {"torch", "scipy.integrate", "scipy.optimize"} & theory


def test_every_registered_experiment_has_a_runnable_module():
    assert list(experiments.EXPERIMENTS)[:2] == ["fig2", "fig3"]
    for exp in experiments.EXPERIMENTS.values():
        module = exp._module()
        assert callable(getattr(module, exp.function)), exp.name
        assert exp.estimate_seconds("smoke") > 0, exp.name
    with pytest.raises(ValueError, match="unknown experiment 'fig99'; choose from: fig2"):
        experiments.run("fig99", profile="smoke")


def _imported_modules(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (``from pkg import _mod`` counts as ``pkg._mod``)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names if alias.name.startswith("_")]
    return modules


def _private_imports_of_other_packages(path: Path, own: str) -> list[str]:
    """Modules ``path`` imports from a repdyn package other than ``own`` through a private name."""
    found = []
    for module in _imported_modules(path):
        parts = module.split(".")
        if parts[0] == "repdyn" and len(parts) > 1 and parts[1] != own and any(p.startswith("_") for p in parts[1:]):
            found.append(f"{path.name}: {module}")
    return found


def test_the_command_line_uses_public_names_only():
    private = [hit for path in sorted(CLI_DIR.glob("*.py")) for hit in _private_imports_of_other_packages(path, "cli")]
    assert not private, private


def test_figure_modules_import_shared_modules_and_public_names_only():
    figures = sorted((EXPERIMENTS_DIR / "figures").glob("_*.py"))
    assert len(figures) >= len({e.module for e in experiments.EXPERIMENTS.values()})
    for path in figures:
        others = [m for m in _imported_modules(path) if m.startswith("repdyn.experiments.figures")]
        assert not others, f"{path.name} imports another figure module: {others}"
    shared = figures + sorted((EXPERIMENTS_DIR / "studies").glob("_*.py"))
    private = [hit for path in shared for hit in _private_imports_of_other_packages(path, "experiments")]
    assert not private, private


def test_the_checks_see_a_private_import(tmp_path):
    # The two tests above must be able to fail.
    probe = tmp_path / "_probe.py"
    probe.write_text("def f():\n    from repdyn.theory._fit import fit\n    from repdyn.experiments.figures import _fig2\n")
    assert _private_imports_of_other_packages(probe, "experiments") == ["_probe.py: repdyn.theory._fit"]
    assert "repdyn.experiments.figures._fig2" in _imported_modules(probe)


def test_run_one_experiment_from_python(tmp_path):
    output = experiments.run("fig6", profile="smoke", out=tmp_path / "fig6", executor="local")
    assert output.claims and all(isinstance(c.holds, bool) for c in output.claims)
    assert all(p.is_file() for p in output.figures)
    summary = json.loads((tmp_path / "fig6" / "summary.json").read_text())
    assert summary["experiment"] == "fig6" and summary["note"] == experiments.SMOKE_NOTE
    assert len(summary["claims"]) == len(output.claims)
    assert (tmp_path / "fig6" / "cache").is_dir()  # the default cache sits beside the outputs
    assert repdyn.load_run(tmp_path / "fig6").summary["figure"] == "Fig 6"
