"""The API reference (mkdocs.yml, docs/): built from the docstrings by mkdocstrings, in strict mode.

A docstring mkdocstrings cannot parse, a page missing from the nav or a broken cross-reference is a warning,
and strict mode turns it into a failed build, so these tests fail on it.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[dev]' (the dev extra has it)")
pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed: pip install -e '.[dev]'")
yaml = pytest.importorskip("yaml", reason="PyYAML (a dependency of mkdocs) is not installed")

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # each test runs a strict mkdocs build: integration

# page of docs/api -> module it documents, and a name its page must show
API = {
    "resnet": ("reslimit.resnet", "ScaledResNet"),
    "blocks": ("reslimit.blocks", "get_block"),
    "paths": ("reslimit.paths", "check_limit_paths"),
    "native": ("reslimit.native", "run_pass"),
    "limits": ("reslimit.limits", "get_limit"),
    "ode": ("reslimit.ode", "NeuralODE"),
    "sde": ("reslimit.sde", "NeuralSDE"),
    "compare": ("reslimit.compare", "measure"),
    "converge": ("reslimit.studies.converge", "converge"),
    "specs": ("reslimit.specs", "NetSpec"),
    "custom": ("reslimit.custom", "CustomBlock"),
    "sweep": ("reslimit.studies.sweep", "run_study"),
    "scaling": ("reslimit.studies.scaling", "critical_betas"),
    "phase": ("reslimit.studies.phase", "phase"),
    "bounds": ("reslimit.studies.bounds", "bounds"),
    "theory": ("reslimit.theory", "second_moment"),
    "plots": ("reslimit.plots", "scaling_figures"),
    "results": ("reslimit.results", "load"),
    "train": ("reslimit.train", "History"),
    "regularity": ("reslimit.regularity", "regularity"),
    "data": ("reslimit.data", "digits"),
    "simulate": ("reslimit.simulate", "Simulation"),
    "claims": ("reslimit.claims", "run"),
    "init": ("reslimit.init", "variance"),
    "propagation": ("reslimit.studies.propagation", "propagation"),
    "stochastic_depth": ("reslimit.studies.stochastic_depth", "expected_depth"),
    "dropout": ("reslimit.studies.dropout", "train_digits"),
    "critical_periods": ("reslimit.studies.critical_periods", "critical_periods"),
    "sde_scaling": ("reslimit.studies.sde_scaling", "sde_scaling"),
}


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_docs_build_strict(tmp_path):
    """mkdocs build --strict succeeds, and each API page holds its module's reference."""
    proc = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    for page, (module, name) in API.items():
        source = (ROOT / "docs" / "api" / f"{page}.md").read_text()
        assert f"::: {module}" in source, f"docs/api/{page}.md does not document {module}"
        built = tmp_path / "site" / "api" / page / "index.html"
        assert built.is_file(), f"no page built for docs/api/{page}.md"
        html = built.read_text()
        assert f'id="{module}.{name}"' in html, f"{module}.{name} is missing from the built page {page}"
    for page in ("architecture", ""):
        assert (tmp_path / "site" / page / "index.html").is_file()


def test_docs_broken_reference_fails(tmp_path):
    """A cross-reference to a name that does not exist makes the strict build fail, naming the reference."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    (docs / "api" / "compare.md").write_text((docs / "api" / "compare.md").read_text()
                                             + "\nSee [the rate][reslimit.compare.no_such_function].\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    config["site_dir"] = str(tmp_path / "unused")
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            python = plugin["mkdocstrings"]["handlers"]["python"]
            python["paths"] = [str(ROOT / p) for p in python["paths"]]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0, "a broken cross-reference did not fail the strict build"
    assert "reslimit.compare.no_such_function" in proc.stdout + proc.stderr
