"""The validation report: on a folder of tiny fake scripts (one passing, one failing, one crashing), and on the
package's claims (the registry reslimit.claims.CLAIMS), which the thin scripts of validation/ run too."""

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from reslimit.claims import CLAIMS, Verdict, run
from reslimit.cli import main
from reslimit.report import report

ROOT = Path(__file__).resolve().parents[1]


def _png(width=3, height=2) -> bytes:
    """A valid RGB PNG of the given size (grey), without matplotlib."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\x80" * 3 * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


SCRIPT = """import argparse, base64, json, sys
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--out", type=Path)
p.add_argument("--quick", action="store_true")
p.add_argument("--full", action="store_true")
a = p.parse_args()
a.out.mkdir(parents=True, exist_ok=True)
(a.out / "sub").mkdir(exist_ok=True)
(a.out / "sub" / "fig.png").write_bytes(base64.b64decode({png!r}))
(a.out / "sub" / "fig.pdf").write_bytes(b"%PDF-1.4 fake")
claims = [dict(claim={claim!r}, source="Prop. <1>", theory=-1.0, measured={measured!r}, tolerance=0.05,
               passed={passed!r}, figure=str(a.out / "sub" / "fig.png"), command="python x.py --quick")]
if {second!r}:
    claims.append(dict(claim="same figure", source="Lemma 1", theory="[0, 1]", measured=None, tolerance="rule",
                       passed=True, figure=str(a.out / "sub" / "fig.png"), command="python x.py --quick",
                       note="why <this> fails at full size"))
(a.out / "claims.json").write_text(json.dumps(claims))
print("quick" if a.quick else "full")
sys.exit(0 if {passed!r} else 1)
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    folder = root / "validation"
    folder.mkdir()
    png = base64.b64encode(_png()).decode()
    (folder / "good.py").write_text(SCRIPT.format(png=png, claim="slope <b>&</b>", measured=-1.01, passed=True,
                                                  second=True))
    (folder / "bad.py").write_text(SCRIPT.format(png=png, claim="bad slope", measured=-0.5, passed=False,
                                                 second=False))
    (folder / "crash.py").write_text("raise RuntimeError('boom <script>alert(1)</script>')\n")
    out = root / "out"
    claims = report(out, quick=True, progress=False, validation_dir=folder)
    return out, claims


def test_claims_json(made):
    out, claims = made
    assert json.loads((out / "claims.json").read_text()) == claims
    assert [c["script"] for c in claims] == ["bad", "crash", "good", "good"]
    assert [c["passed"] for c in claims] == [False, False, True, True]
    assert claims[0]["measured"] == -0.5 and claims[2]["claim"] == "slope <b>&</b>"
    crash = claims[1]
    assert "boom" in crash["error"] and "RuntimeError" in crash["error"]
    assert "--quick" in crash["command"] and "crash.py" in crash["command"]
    assert (out / "good" / "output.log").read_text().strip() == "quick"
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["bad_sub_fig.pdf", "bad_sub_fig.png", "good_sub_fig.pdf", "good_sub_fig.png"]
    assert (out / "figures" / "good_sub_fig.png").read_bytes() == _png()


def test_index_html(made):
    out, _ = made
    page = (out / "index.html").read_text()
    assert '<meta name="viewport"' in page and "<table>" in page and "http" not in page.replace(
        "http-equiv", "")
    assert page.count('<img src="data:image/png;base64,') == 2  # two distinct figures, each embedded once
    assert base64.b64encode(_png()).decode() in page
    assert page.count('<td class="PASS">PASS</td>') == 2 and page.count('<td class="FAIL">FAIL</td>') == 2
    assert page.count("<code>python x.py --quick</code>") == 3
    assert "slope &lt;b&gt;&amp;&lt;/b&gt;" in page and "<b>&</b>" not in page
    assert "Prop. &lt;1&gt;" in page
    assert page.count('<p class="note">why &lt;this&gt; fails at full size</p>') == 1
    assert "boom &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "reslimit " in page and "torch " in page


def test_quick_or_full_and_selection(tmp_path, made):
    folder = made[0].parent / "validation"
    claims = report(tmp_path, quick=False, scripts=["good.py"], progress=False, validation_dir=folder)
    assert [c["claim"] for c in claims] == ["slope <b>&</b>", "same figure"]
    assert (tmp_path / "good" / "output.log").read_text().strip() == "full"
    with pytest.raises(ValueError, match="scripts .* there is no nope"):
        report(tmp_path, scripts=["nope"], progress=False, validation_dir=folder)
    with pytest.raises(ValueError, match="scripts .* claims of reslimit.claims; there is no nope"):
        report(tmp_path, scripts=["nope"], progress=False)
    with pytest.raises(ValueError, match="validation_dir must be a folder"):
        report(tmp_path, progress=False, validation_dir=tmp_path / "missing")


def test_a_crash_is_not_hidden_by_an_earlier_runs_claims(tmp_path, made):
    """OUT/NAME/claims.json left by an earlier report is removed before the claim runs again."""
    folder = made[0].parent / "validation"
    report(tmp_path, scripts=["crash"], progress=False, validation_dir=folder)  # the earlier report
    (tmp_path / "crash" / "claims.json").write_text(json.dumps([{"claim": "old", "passed": True}]))
    claims = report(tmp_path, scripts=["crash"], progress=False, validation_dir=folder)
    assert [(c["claim"], c["passed"]) for c in claims] == [("crash ran to completion and wrote its claims", False)]


def test_a_claim_named_twice_runs_once(tmp_path, made):
    folder = made[0].parent / "validation"
    claims = report(tmp_path, scripts=["crash", "crash.py", "crash"], progress=False, validation_dir=folder)
    assert [c["script"] for c in claims] == ["crash"]


def test_a_claims_json_of_no_verdicts_fails_its_claim(tmp_path):
    """A claims.json whose entries are not verdicts (a key missing) is read as a failing claim that says why."""
    folder = tmp_path / "validation"
    folder.mkdir()
    (folder / "odd.py").write_text("import json, sys\nfrom pathlib import Path\nout = Path(sys.argv[-1])\n"
                                   "(out / 'claims.json').write_text(json.dumps([{'claim': 'x', 'passed': True}]))\n")
    claims = report(tmp_path / "out", scripts=["odd"], progress=False, validation_dir=folder)
    assert [(c["claim"], c["passed"], c["script"]) for c in claims] == [("odd ran to completion and wrote its claims",
                                                                         False, "odd")]
    assert claims[0]["measured"] == ("exit status 0; a verdict must have the keys claim, source, theory, measured, "
                                     "tolerance, passed, figure (and may have note, command); it lacks source, "
                                     "theory, measured, tolerance, figure")


def test_cli_only_names_claims(tmp_path, capsys):
    assert main(["report", "--quick", "--only", "prop2,nope", "--out", str(tmp_path / "r")]) == 2
    assert "there is no nope (there are: adjoint_rate, " in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_claims_empty_out_is_refused_in_one_line(tmp_path, capsys):
    from reslimit.claims import main as claims_main

    with pytest.raises(SystemExit) as exit_:
        claims_main(["prop2", "--quick", "--out", ""])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().endswith("error: --out must be a folder path; got an empty one")


SLOW = """import sys, time
from pathlib import Path
Path(sys.argv[0]).with_suffix(".started").touch()
time.sleep(60)
"""


@pytest.mark.slow  # Ctrl-C sent to a report in a subprocess
def test_ctrl_c_stops_the_report_starts_no_other_claim_and_writes_no_report(tmp_path):
    import signal
    import time

    folder = tmp_path / "validation"
    folder.mkdir()
    for name in ("a_slow", "b_slow"):
        (folder / f"{name}.py").write_text(SLOW)
    out = tmp_path / "out"
    code = (f"from reslimit.report import report; report({str(out)!r}, workers=1, progress=False, "
            f"validation_dir={str(folder)!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (folder / "a_slow.started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the report and its running claim
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and "interrupted: no report written in" in err
    assert not (folder / "b_slow.started").exists()  # the next claim was never started
    assert not (out / "claims.json").exists() and not (out / "index.html").exists()


def test_claims_refuse_an_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="name must be a claim of reslimit.claims"):
        run("nope", tmp_path)
    for name, claim in CLAIMS.items():
        assert "Claim" in claim.doc, name  # the statement, shown by --help
        assert f'main(name="{name}")' in (ROOT / "validation" / f"{name}.py").read_text()


@pytest.mark.slow  # a headless browser
def test_browser_loads_every_figure(made):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium or chromium-browser executable on PATH (apt-get install chromium)")
    out, _ = made
    dom = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=5000",
                          "--dump-dom", (out / "index.html").as_uri()],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    assert re.search(r'data-figures-loaded="2/2"', dom), dom[:2000]
    assert "<table>" in dom and dom.count("<tr>") == 5  # the header row and four claims


_WORKERS = os.cpu_count() or 1  # the report's default
THREADS = "" if _WORKERS == 1 else f"OMP_NUM_THREADS={max(1, (os.cpu_count() or 1) // _WORKERS)} "


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, report(out, quick=True, progress=False)


@pytest.mark.slow  # every claim at quick sizes: minutes
def test_the_real_quick_report_passes_every_claim(real):
    """What `make report` runs: every claim of the registry at quick sizes (about 3 minutes on 2 cores), in the
    registry's order."""
    out, claims = real
    assert list(dict.fromkeys(c["script"] for c in claims)) == list(CLAIMS)
    assert len(claims) >= 12
    failed = [(c["script"], c["claim"], c["measured"], c["theory"]) for c in claims if not c["passed"]]
    assert failed == []
    for c in claims:
        assert set(c) >= {"claim", "source", "theory", "measured", "tolerance", "passed", "command"}
        assert Verdict.from_dict({k: v for k, v in c.items() if k not in ("script", "figure_copy")}).to_dict() \
            == {k: v for k, v in c.items() if k not in ("script", "figure_copy")}  # each entry is a Verdict's
        # one claim per core at a time, each with one torch thread: the command says so
        assert c["command"].startswith(f"{THREADS}python -m reslimit.claims {c['script']} --quick --out ")
        copy = Path(c["figure_copy"])
        assert copy.suffix == ".png" and copy.is_file() and copy.with_suffix(".pdf").is_file(), c["claim"]
    assert json.loads((out / "claims.json").read_text()) == claims


@pytest.mark.slow  # needs the real report
def test_a_validation_script_gives_the_reports_numbers(real, tmp_path):
    """python validation/prop2.py is a thin entry point: the same check, sizes and seeds as the report's claim."""
    out, claims = real
    env = os.environ | ({"OMP_NUM_THREADS": THREADS.split("=")[1].strip()} if THREADS else {})  # as the report ran
    proc = subprocess.run([sys.executable, "validation/prop2.py", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mine = json.loads((tmp_path / "claims.json").read_text())
    theirs = [c for c in claims if c["script"] == "prop2"]
    assert [c["measured"] for c in mine] == [c["measured"] for c in theirs] and len(mine) == 4
    assert mine[0]["command"] == f"{THREADS}python validation/prop2.py --quick --out {tmp_path}"


@pytest.mark.slow  # needs the real report; a headless browser
def test_the_real_report_opens_in_a_browser(real):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium or chromium-browser executable on PATH (apt-get install chromium)")
    out, claims = real
    figures = len({c["figure_copy"] for c in claims})
    dom = subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--virtual-time-budget=10000",
                          "--dump-dom", (out / "index.html").as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert f'data-figures-loaded="{figures}/{figures}"' in dom
    assert "<table>" in dom and dom.count("<tr>") >= len(claims) + 1
