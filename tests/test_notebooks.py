"""Execute every tutorial notebook in notebooks/ at its small sizes and check one number each.

Each notebook's last cell assigns ``CHECK``; the test appends a cell printing it as JSON and asserts on it.
The kernel is this interpreter (sys.executable), through a kernelspec written to a temporary JUPYTER_PATH,
so a fresh virtual environment needs no `ipykernel install` step.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MARK = "RESLIMIT_CHECK="
TIMEOUT = 300  # seconds per cell; each notebook takes well under a minute at its small sizes


def _check_quickstart(c):
    errors = c["errors"]
    assert len(errors) >= 3
    assert all(a > b for a, b in itertools.pairwise(errors)), f"error does not decrease with depth: {errors}"


def _check_ode(c):
    assert abs(c["slope"] - (-1.0)) <= 0.1, c


def _check_sde(c):
    assert abs(c["slope"] - (-0.5)) <= 0.15, c


def _check_scaling(c):
    assert 0.5 <= c["growth_half"] <= 2.0, f"beta = 1/2 median ratio not roughly flat: {c}"
    assert c["growth_one"] < 0.3, f"beta = 1 median ratio does not decrease: {c}"


def _check_training(c):
    assert all(a > 0.5 for a in c["accuracy"].values()), f"a network did not learn the digits: {c}"
    assert c["smooth_after"] == 1.0, f"the smooth initialization did not stay smooth: {c}"
    assert abs(c["iid_after"] - 0.5) < 0.1, f"the i.i.d. initialization did not stay at exponent 1/2: {c}"


def _check_initialization(c):
    assert abs(c["he_factor"] - 1.0) < 0.1, f"He with ReLU does not keep E[x^2]: {c}"
    assert abs(c["glorot_factor"] - 0.5) < 0.05, f"Glorot with ReLU does not halve E[x^2] per layer: {c}"
    assert abs(c["depth_measured"] - c["depth_theory"]) < 4 * c["depth_se"], f"expected depth off: {c}"
    assert all(abs(z) < 4 for z in c["z"].values()), f"stochastic depth's second moment off its identity: {c}"


def _check_transfer(c):
    assert abs(c["none"] - c["gamma"]) <= 0.2, f"without the rule the best lr0 does not move as L^gamma: {c}"
    assert abs(c["depth"]) <= 0.2, f"under the rule the best lr0 moves with depth: {c}"
    assert all(abs(s) <= 0.1 for s in c["coord_depth"]), f"coordinate check not flat under the rule: {c}"
    assert abs(c["coord_none"] - 0.5) <= 0.1, f"coordinate check without the rule not L^1/2 at t = 1: {c}"
    assert abs(c["mlp_none"] - c["gamma"]) <= 0.2 and abs(c["mlp_depth"]) <= 0.2, f"the user block's transfer: {c}"


CHECKS = {"quickstart": _check_quickstart, "ode_limit": _check_ode, "sde_limit": _check_sde,
          "scaling_regimes": _check_scaling, "training": _check_training, "initialization": _check_initialization,
          "transfer": _check_transfer}


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "reslimit-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reslimit test kernel", "language": "python"}))
    monkeypatch_module.setenv("JUPYTER_PATH", str(root))
    return "reslimit-test"


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_every_notebook_has_a_check():
    names = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert names >= set(CHECKS), f"missing notebooks: {set(CHECKS) - names}"
    assert names <= set(CHECKS), f"notebooks without a check in this test: {names - set(CHECKS)}"


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_is_stripped(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
    assert any("SMALL = True" in c.source for c in nb.cells), f"{name}: no SMALL = True size switch"


@pytest.mark.slow  # a Jupyter kernel runs the whole notebook
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs(name, kernel_env, tmp_path):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"import json as _j; print({MARK!r} + _j.dumps(CHECK))"))
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name=kernel_env,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first cell that errors
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{name}: {out.get('ename')}: {out.get('evalue')}"
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    lines = [ln for ln in text.splitlines() if ln.startswith(MARK)]
    assert lines, f"{name}: no CHECK printed; last cell output: {text!r}"
    CHECKS[name](json.loads(lines[-1][len(MARK):]))
