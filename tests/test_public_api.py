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

PACKAGE_DIR = Path(repdyn.__file__).parent
CLI_DIR = PACKAGE_DIR / "cli"
EXPERIMENTS_DIR = Path(experiments.__file__).parent

#: The layer of every package (docs/extending.md): a package imports packages of
#: lower layers only, and in the library layer (2) also its peers; never a
#: higher layer, and never another package's private module.
LAYERS = {
    "checks": 0, "version": 0, "vocabulary": 0,
    "theory": 1, "stats": 1,
    "data": 2, "nets": 2, "track": 2, "fast": 2, "rsa": 2, "sweep": 2, "sequences": 2,
    "runs": 3,
    "experiments": 4, "atlas": 4,
    "cli": 5,
}  # fmt: skip
#: The layer whose packages may use each other's public names.
LIBRARY_LAYER = 2


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
    # Nothing of the layers above the theory loads with it (the package root loads no subpackage).
    above = {m for m in theory if m.split(".")[:2][-1] in {p for p, level in LAYERS.items() if level > 1}}
    assert not above, sorted(above)


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
            modules += [f"{node.module}.{alias.name}" for alias in node.names
                        if alias.name.startswith("_") and not alias.name.startswith("__")]
            if node.module == "repdyn":  # from repdyn import theory: the package itself
                modules += [f"repdyn.{alias.name}" for alias in node.names]
    return modules


def _package_of(path: Path) -> str:
    first = path.relative_to(PACKAGE_DIR).parts[0]
    return first[:-3] if first.endswith(".py") else first


def _imported_packages(path: Path) -> set[str]:
    """The repdyn packages that ``path`` imports, other than its own."""
    own = _package_of(path)
    found = set()
    for module in _imported_modules(path):
        parts = module.split(".")
        if parts[0] == "repdyn" and len(parts) > 1 and parts[1] != own and not parts[1].startswith("__"):
            found.add(parts[1])
    return found


def _layer_violations(path: Path) -> list[str]:
    own = _package_of(path)
    bad = []
    for package in sorted(_imported_packages(path)):
        if package not in LAYERS:
            bad.append(f"{path.name}: {package} has no layer")
        elif LAYERS[package] > LAYERS[own] or (LAYERS[package] == LAYERS[own] != LIBRARY_LAYER):
            bad.append(f"{own}/{path.name} (layer {LAYERS[own]}) imports {package} (layer {LAYERS[package]})")
    return bad


def _source_files() -> list[Path]:
    """Every module of the packages (the package root's own ``__init__`` and ``__main__`` stand above them)."""
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if not (p.parent == PACKAGE_DIR and p.name.startswith("__")))


def test_every_package_has_a_layer():
    packages = {_package_of(p) for p in _source_files()}
    assert packages == set(LAYERS), packages ^ set(LAYERS)


def test_every_package_imports_only_lower_layers():
    violations = [v for path in _source_files() for v in _layer_violations(path)]
    assert not violations, violations


def test_no_package_imports_another_packages_private_module():
    private = [hit for path in _source_files() for hit in _private_imports_of_other_packages(path, _package_of(path))]
    assert not private, private


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


def test_the_checks_see_a_private_import_and_a_higher_layer(tmp_path, monkeypatch):
    # The tests above must be able to fail.
    probe = tmp_path / "_probe.py"
    probe.write_text("def f():\n    from repdyn.theory._fit import fit\n    from repdyn.experiments.figures import _fig2\n"
                     "    from repdyn.version import __version__\n")
    assert _private_imports_of_other_packages(probe, "experiments") == ["_probe.py: repdyn.theory._fit"]
    assert "repdyn.experiments.figures._fig2" in _imported_modules(probe)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_DIR", tmp_path)
    (tmp_path / "runs").mkdir()
    upward = tmp_path / "runs" / "_probe.py"
    upward.write_text("from repdyn.atlas import atlas\nfrom repdyn.runs._model import ModelSource\n"
                      "from repdyn import experiments\nfrom repdyn.track import track_pair\n")
    assert _layer_violations(upward) == ["runs/_probe.py (layer 3) imports atlas (layer 4)",
                                         "runs/_probe.py (layer 3) imports experiments (layer 4)"]


def test_run_one_experiment_from_python(tmp_path):
    output = experiments.run("fig6", profile="smoke", out=tmp_path / "fig6", executor="local")
    assert output.claims and all(isinstance(c.holds, bool) for c in output.claims)
    assert all(p.is_file() for p in output.figures)
    summary = json.loads((tmp_path / "fig6" / "summary.json").read_text())
    assert summary["experiment"] == "fig6" and summary["note"] == experiments.SMOKE_NOTE
    assert len(summary["claims"]) == len(output.claims)
    assert (tmp_path / "fig6" / "cache").is_dir()  # the default cache sits beside the outputs
    assert repdyn.load_run(tmp_path / "fig6").summary["figure"] == "Fig 6"
