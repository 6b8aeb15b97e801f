"""The package's import graph has no cycle, function-local imports included; plots is a leaf.

Every module of src/reslimit is parsed with ``ast``: each ``import`` and ``from ... import`` anywhere in it
(module level, in functions, under ``if``) is an edge to the reslimit module it loads. Relative imports
are resolved against the importing module's package. ``import reslimit.x`` and ``from reslimit import x``
with x a module are edges to reslimit.x itself, not to reslimit/__init__ (so that __init__ re-exporting
names does not put every module that does ``from . import _checks`` on a cycle through it);
``from . import name`` with name not a module is an edge to the package's __init__.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

def modules(root: Path, package: str = "reslimit") -> dict[str, Path]:
    """{dotted module name: file} for every .py file under root/package (a package is its __init__.py)."""
    found = {}
    for file in sorted((root / package).rglob("*.py")):
        parts = file.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = file
    return found


def _known(name: str, mods) -> str | None:
    """The longest prefix of ``name`` that is a module of ``mods`` (None outside the package)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in mods:
            return ".".join(parts[:n])
    return None


def imports(name: str, file: Path, mods) -> set[str]:
    """The package modules that module ``name`` imports anywhere in its source."""
    is_package = file.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                if node.level - 1 > len(package) - 1:
                    raise ValueError(f"{file}:{node.lineno}: relative import beyond the top-level package")
                base = ".".join(package[:len(package) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module
            # from base import x: the submodule base.x where it is one, else base (its __init__) itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        else:
            continue
        out |= {t for t in map(lambda t: _known(t, mods), targets) if t is not None and t != name}
    return out


def graph(root: Path = SRC, package: str = "reslimit") -> dict[str, set[str]]:
    mods = modules(root, package)
    return {name: imports(name, file, mods) for name, file in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The cycles a depth-first search closes (one per back edge, rotated to start at its least module)."""
    state: dict[str, int] = {}  # 1 on the DFS stack, 2 done
    stack: list[str] = []
    found = set()

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                i = cycle.index(min(cycle))
                found.add(tuple(cycle[i:] + cycle[:i]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return [list(c) for c in sorted(found)]


def _show(cycle) -> str:
    return " -> ".join(cycle + cycle[:1])


def test_import_graph_has_no_cycle():
    found = cycles(graph())
    assert not found, "import cycles in reslimit:\n" + "\n".join(_show(c) for c in found)


def _package(tmp_path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_the_graph_resolves_relative_function_local_and_package_imports(tmp_path):
    """A deliberately introduced cycle through a function-local relative import is found and named."""
    root = _package(tmp_path, {
        "__init__.py": "from .a import f\nfrom . import b\n__version__ = '1'\n",
        "a.py": "from . import _c\n\ndef f():\n    from .sub.d import g\n    return g\n",
        "b.py": "import pkg._c\nfrom pkg import __version__\n",
        "_c.py": "",
        "sub/__init__.py": "",
        "sub/d.py": "from .. import _c\nfrom ..b import x\n\ndef g():\n    if True:\n        from ..a import f\n",
    })
    edges = graph(root, "pkg")
    assert edges == {
        "pkg": {"pkg.a", "pkg.b"},
        "pkg.a": {"pkg._c", "pkg.sub.d"},
        "pkg.b": {"pkg._c", "pkg"},  # __version__ is not a module: the package's __init__
        "pkg._c": set(),
        "pkg.sub": set(),
        "pkg.sub.d": {"pkg._c", "pkg.b", "pkg.a"},
    }
    assert cycles(edges) == [["pkg", "pkg.a", "pkg.sub.d", "pkg.b"], ["pkg.a", "pkg.sub.d"]]
    # without the two offending imports, __init__ re-exporting does not make a cycle of `from . import _c`
    (root / "pkg" / "sub" / "d.py").write_text("from .. import _c\n")
    (root / "pkg" / "b.py").write_text("import pkg._c\n")
    assert cycles(graph(root, "pkg")) == []


def test_plots_imports_only_theory_and_store():
    """plots draws results it is given: it may use theory's closed forms and store's safe writes of its files,
    never studies, compare or cli."""
    assert graph()["reslimit.plots"] <= {"reslimit.theory", "reslimit.store"}


def test_nothing_in_the_library_chooses_a_matplotlib_backend():
    """No matplotlib.use / switch_backend in src (scripts, tests and the CLI choose), checked by importing."""
    for name, file in modules(SRC).items():
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("use", "switch_backend"):
                assert not (node.attr == "switch_backend" or ast.unparse(node.value) == "matplotlib"), \
                    f"{name}:{node.lineno} sets matplotlib's backend"
    code = ("import importlib, matplotlib\n"
            f"for m in {sorted(modules(SRC))!r}:\n"
            "    if m != 'reslimit.__main__':\n"
            "        importlib.import_module(m)\n"
            "print(matplotlib.get_backend())\n")
    env = {**os.environ, "MPLBACKEND": "svg"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().lower() == "svg"


@pytest.fixture
def scaling_rows():
    params = {"init": "iid", "block": "res3", "activation": "relu", "betas": [0.25, 0.5, 1.0], "depths": [4, 16],
              "width": 8, "hurst": None}
    rows = [{"beta": b, "depth": L, "hidden_ratio": 0.1 * (i + 1) * L ** (0.5 - b), "grad_ratio": 0.2 * (i + 1),
             "status": "ok" if i else "diverged"}
            for b in params["betas"] for L in params["depths"] for i in range(4)]
    return rows, params


def test_figures_are_returned_and_saved_only_when_asked(tmp_path, scaling_rows):
    from matplotlib.figure import Figure

    from reslimit import plots
    from reslimit.studies.phase import medians
    from reslimit.studies.scaling import theory_params

    rows, params = scaling_rows
    params = theory_params(params)
    figs = plots.scaling_figures(rows, params)
    assert len(figs) == 2 and all(isinstance(f, Figure) for f in figs)
    assert list(tmp_path.iterdir()) == []
    assert isinstance(plots.scaling_figures(rows, params, tmp_path)[0], Figure)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "histograms.pdf", "histograms.png", "scaling.pdf", "scaling.png"]

    phase_params = params | {"init": "fbm", "hursts": [0.25, 0.75]}
    phase_rows = [r | {"hurst": h} for h in phase_params["hursts"] for r in rows]
    grids = {ratio: medians(phase_rows, phase_params, ratio) for ratio in plots.RATIOS}
    found = {"critical_beta": {0.25: 0.3, 0.75: None}, "critical_beta_grad": {0.25: None, 0.75: 0.7}}
    fig = plots.phase_figure(grids, phase_params, found, tmp_path)
    assert isinstance(fig, Figure) and (tmp_path / "phase.png").exists() and (tmp_path / "phase.pdf").exists()
    assert fig._repr_png_().startswith(b"\x89PNG")  # how Jupyter shows a returned figure, pyplot or not
