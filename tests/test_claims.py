"""The registry of claims (reslimit.claims): every claim module keeps the contract, discovery finds a new one, the
verdicts' JSON, and the files generated from the registry (validation/, docs/claims.md) are current."""

import inspect
import json
import re
import runpy
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import reslimit.claims
from reslimit.claims import CLAIMS, Verdict, discover, main, run
from reslimit.claims._generate import COMMAND, MARKER, script, table, write_scripts

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(reslimit.claims.__file__).parent


def test_the_registry_is_every_claim_module_sorted_by_name():
    assert list(CLAIMS) == sorted(p.stem for p in PACKAGE.glob("*.py") if not p.name.startswith("_"))
    assert len(CLAIMS) >= 28 and "_common" not in CLAIMS and "_verdict" not in CLAIMS


@pytest.mark.parametrize("name", list(CLAIMS))
def test_a_claim_module_keeps_the_contract(name):
    claim = CLAIMS[name]
    module = claim.module
    assert module.__name__ == f"reslimit.claims.{name}" and claim.name == name
    assert claim.doc == inspect.getdoc(module) and claim.doc.strip()
    assert len(claim.doc.splitlines()[0]) <= 116  # the first line heads the script's docstring, in 120 columns
    assert isinstance(module.QUICK, dict) and isinstance(module.FULL, dict)
    assert set(module.QUICK) == set(module.FULL), "QUICK and FULL must size the same keywords"
    assert (claim.check, claim.quick, claim.full) == (module.check, module.QUICK, module.FULL)
    params = list(inspect.signature(module.check).parameters.values())[1:]  # after out
    assert all(p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params), "no *args or **kwargs"
    assert {p.name for p in params} == set(module.QUICK), "check's keywords must be QUICK's keys"
    for text in (module.THEORY, module.TOLERANCE):
        assert isinstance(text, str) and text.strip() and "\n" not in text
    assert (claim.theory, claim.tolerance) == (module.THEORY, module.TOLERANCE)


@pytest.mark.parametrize("name", list(CLAIMS))
def test_an_empty_out_is_refused_in_one_line(name, capsys):
    for argv, kw in (([name, "--quick", "--out", ""], {}), (["--quick", "--out", ""], {"name": name})):
        with pytest.raises(SystemExit) as exit_:
            main(argv, **kw)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.endswith("error: --out must be a folder path; got an empty one\n"), err


def test_the_command_line_refuses_in_one_line(capsys, monkeypatch):
    for argv, message in ((["prop2", "--quick", "--out", ""], "--out must be a folder path; got an empty one"),
                          (["nope", "--quick"], "NAME must be a claim of reslimit.claims (adjoint_rate, "),
                          ([], "give the NAME of a claim (adjoint_rate, "),
                          (["prop2", "--write-table", "x.md"], "--write-scripts and --write-table take no NAME")):
        monkeypatch.setattr(sys, "argv", ["-m", *argv])  # what python -m reslimit.claims hands its __main__
        with pytest.raises(SystemExit) as exit_:
            runpy.run_module("reslimit.claims", run_name="__main__")
        out, err = capsys.readouterr()
        assert exit_.value.code == 2 and out == "", (argv, out)
        assert err.count("\n") == 1 and err.startswith(f"python -m reslimit.claims: error: {message}"), err


def test_verdict_json_keys_and_order():
    v = Verdict(claim="c", source="s", theory=-1.0, measured=None, tolerance="rule", passed=True, figure=None)
    assert list(v.to_dict()) == ["claim", "source", "theory", "measured", "tolerance", "passed", "figure"]
    noted = replace(v, note="n", command="python x")
    assert list(noted.to_dict()) == [*v.to_dict(), "note", "command"]
    assert list(replace(v, command="python x").to_dict())[-1] == "command"  # no "note": None
    assert Verdict.from_dict(noted.to_dict()) == noted and Verdict.from_dict(v.to_dict()) == v


def test_verdict_refuses_bad_input():
    d = Verdict(claim="c", source="s", theory=1, measured=1, tolerance=0, passed=True, figure=None).to_dict()
    with pytest.raises(ValueError, match="it lacks passed, figure"):
        Verdict.from_dict({k: d[k] for k in ("claim", "source", "theory", "measured", "tolerance")})
    with pytest.raises(ValueError, match="script is not one"):
        Verdict.from_dict(d | {"script": "x"})
    with pytest.raises(ValueError, match="must be a dict"):
        Verdict.from_dict(["claim"])
    bad = r"passed must be a bool \(True or False\); got .*True_? \(numpy\.bool_?\) for the claim 'c'"
    with pytest.raises(ValueError, match=bad):
        Verdict(**(d | {"passed": np.True_}))


GAUSS = '''"""The sum 1 + 2 + ... + n is n (n + 1) / 2.

Claim (Gauss): summed term by term in floating point, the sum equals n (n + 1) / 2 exactly for n < 2^26.
"""

from reslimit.claims import Verdict

QUICK = dict(n=10)
FULL = dict(n=1000)
THEORY = "1 + 2 + ... + n = n(n + 1)/2"
TOLERANCE = "exact"


def check(out, *, n):
    """The sum at ``n``; one verdict."""
    measured = float(sum(range(1, n + 1)))
    print(f"sum to {n}: {measured}")
    return [Verdict(claim=f"1 + ... + {n} = n(n + 1)/2", source="Gauss", theory=n * (n + 1) / 2, measured=measured,
                    tolerance=0.0, passed=measured == n * (n + 1) / 2, figure=None)]
'''


def _package(root: Path, name: str, modules: dict) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for module, text in modules.items():
        (root / name / f"{module}.py").write_text(text)


@pytest.fixture
def imported(monkeypatch, tmp_path):
    """A folder on sys.path for temporary packages; the packages imported from it are forgotten after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_a_new_claim_module_is_discovered_and_runs(imported, monkeypatch):
    """The worked example of a new claim: one module, found by the registry's own discovery, run by run()."""
    _package(imported, "new_claims", {"gauss": GAUSS, "_helper": "X = 1\n",
                                      "legacy": GAUSS.replace("return [Verdict(", "return [dict(")})
    found = discover("new_claims")
    assert list(found) == ["gauss", "legacy"]  # _helper is a helper, not a claim
    gauss = found["gauss"]
    assert (gauss.quick, gauss.full, gauss.theory, gauss.tolerance) == ({"n": 10}, {"n": 1000},
                                                                        "1 + 2 + ... + n = n(n + 1)/2", "exact")
    assert gauss.doc.startswith("The sum 1 + 2 + ... + n is n (n + 1) / 2.\n\nClaim (Gauss)")
    monkeypatch.setitem(CLAIMS, "gauss", gauss)
    out = imported / "out"
    verdicts = run("gauss", out, quick=False)
    command = f"python -m reslimit.claims gauss --full --out {out}"
    expected = [{"claim": "1 + ... + 1000 = n(n + 1)/2", "source": "Gauss", "theory": 500500.0,
                 "measured": 500500.0, "tolerance": 0.0, "passed": True, "figure": None, "command": command}]
    assert (out / "claims.json").read_text() == json.dumps(expected, indent=2) + "\n"
    assert [v.to_dict() for v in verdicts] == expected
    assert 'main(name="gauss")' in script(gauss) and "src/new_claims/gauss.py" in script(gauss)
    monkeypatch.setitem(CLAIMS, "legacy", found["legacy"])
    with pytest.raises(TypeError, match="the check of claim legacy must return a list of Verdict; it returned dict"):
        run("legacy", out)


def test_a_claim_module_without_its_sizes_is_refused(imported):
    _package(imported, "broken_claims", {"fine": GAUSS, "sizeless": GAUSS.replace("QUICK = dict(n=10)\n", "")
                                         .replace("FULL = dict(n=1000)\n", "")})
    with pytest.raises(ValueError, match=r"the claim module broken_claims\.sizeless \(.*sizeless\.py\) must "
                                         r"define a docstring and check, QUICK, FULL, THEORY, TOLERANCE; it lacks "
                                         r"QUICK, FULL"):
        discover("broken_claims")
    with pytest.raises(ValueError, match="package must be a package .* reslimit.claims.prop2 is a module"):
        discover("reslimit.claims.prop2")


def test_validation_is_what_the_registry_writes(tmp_path):
    written, removed = write_scripts(tmp_path, CLAIMS)
    assert removed == [] and [p.stem for p in written] == list(CLAIMS)
    mine = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "validation").iterdir() if p.is_file()}
    theirs = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.iterdir()}
    stale = sorted(set(mine) ^ set(theirs)) + sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n])
    assert not stale, f"validation/ is not what the registry gives ({', '.join(stale)}): run {COMMAND}"
    assert MARKER in mine["prop2.py"] and 'sys.exit(main(name="prop2"))' in mine["prop2.py"]


def test_write_scripts_removes_only_the_scripts_it_wrote(tmp_path):
    gone = replace(CLAIMS["prop2"], name="gone")
    write_scripts(tmp_path, {"gone": gone})
    (tmp_path / "mine.py").write_text("print('not generated')\n")
    written, removed = write_scripts(tmp_path, {"prop2": CLAIMS["prop2"]})
    assert removed == [tmp_path / "gone.py"] and written == [tmp_path / "prop2.py"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.py", "prop2.py"]


def test_docs_claims_md_is_current():
    page = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    assert page == table(CLAIMS), f"docs/claims.md is not what the registry gives: run {COMMAND}"
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert [re.match(r"\| `(\w+)`", r)[1] for r in rows] == list(CLAIMS)
    for row, claim in zip(rows, CLAIMS.values()):  # four cells: the pipes of a statement escaped
        assert len(re.split(r"(?<!\\)\|", row)) == 6 and f"`validation/{claim.name}.py`" in row, row
    assert r"a\|x\| ≤ \|σ(x)\| ≤ b\|x\|" in page


def test_the_command_line_writes_scripts_and_table(tmp_path, capsys):
    assert main(["--write-scripts", str(tmp_path / "v"), "--write-table", str(tmp_path / "d" / "claims.md")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"wrote {len(CLAIMS)} scripts in {tmp_path / 'v'}; removed none",
                   f"wrote the table of {len(CLAIMS)} claims to {tmp_path / 'd' / 'claims.md'}"]
    assert sorted(p.stem for p in (tmp_path / "v").iterdir()) == list(CLAIMS)
    assert (tmp_path / "d" / "claims.md").read_text(encoding="utf-8") == table(CLAIMS)
