"""The built wheel works outside the checkout: ``reslimit report`` checks a claim from the installed package.

The wheel is built offline from a copy of the sources (pip wheel --no-build-isolation --no-index), installed
without its dependencies into a fresh virtual environment outside the checkout, whose .pth file points at this
environment's site-packages for torch and the rest (the editable install's own .pth there is not read: only a
site directory's .pth files are). Then ``reslimit report --quick --only prop2`` runs from an empty folder.
About 20 s on 2 cores.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reslimit.claims import CLAIMS
from reslimit.studies import bounds

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds, installs and runs the wheel: integration


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, **kwargs)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp / "dist"), str(source)])
    wheel, = (tmp / "dist").glob("reslimit-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)])
    return wheel, venv


def test_the_wheel_holds_every_claim(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"reslimit/claims/__init__.py", "reslimit/claims/__main__.py", "reslimit/claims/_common.py",
            "reslimit/native.c", "reslimit/random.c"} <= names
    assert {f"reslimit/claims/{name}.py" for name in CLAIMS} <= names
    assert not any(n.startswith(("validation/", "tests/")) for n in names)


def test_report_runs_a_claim_from_the_installed_wheel(installed, tmp_path):
    _, venv = installed
    where = _run([str(venv / "bin" / "python"), "-c", "import reslimit.claims; print(reslimit.claims.__file__)"],
                 cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT)
    proc = _run([str(venv / "bin" / "reslimit"), "report", "--quick", "--only", "prop2", "--out", "report"],
                cwd=tmp_path)
    assert "4 of 4 claims pass" in proc.stdout
    claims = json.loads((tmp_path / "report" / "claims.json").read_text())
    assert [c["script"] for c in claims] == ["prop2"] * 4 and all(c["passed"] for c in claims)
    # the exceedance frequencies of the quick plan (beta 1/2, 3/4; delta 0.1, 0.5; seeds 200-203 of bounds.plan):
    # the installed package gives the checkout's numbers exactly
    here = [row["measured"] for check in bounds.plan(quick=True)["prop2"] for row in bounds.run_check(check, 0)]
    assert [c["measured"] for c in claims] == here and any(here)
    # one claim runs with the environment's torch threads, which its command states where they are set (an earlier
    # test's Dask nanny can leave OMP_NUM_THREADS=1 in this process's environment)
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if os.environ.get("OMP_NUM_THREADS") else ""
    assert claims[0]["command"].startswith(f"{threads}python -m reslimit.claims prop2 --quick --out ")
    page = (tmp_path / "report" / "index.html").read_text()
    assert "4/4 claims pass" in page and page.count('<td class="PASS">PASS</td>') == 4
    assert (tmp_path / "report" / "figures" / "prop2_prop2.png").is_file()
