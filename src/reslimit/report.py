"""``reslimit report``: check every claim of the theory and gather the verdicts into one self-contained page.

Each claim of :data:`reslimit.claims.CLAIMS` runs in its own process, as
``python -P -m reslimit.claims NAME --quick|--full --out OUT/NAME``, which writes ``OUT/NAME/claims.json``; so the
report needs the installed package only, not the source checkout. A folder of scripts can be run instead
(``validation_dir``: each ``NAME.py`` as ``python -P DIR/NAME.py --quick|--full --out OUT/NAME``, by absolute
paths). Each process starts in a fresh empty folder of its own (``tempfile.mkdtemp``, removed after), and
``-P`` (Python 3.11+) keeps that folder and the script's own off ``sys.path``: a ``numpy.py`` or ``reslimit/``
planted in OUT or beside the scripts is never imported. The report writes
``OUT/claims.json`` (every claim), copies each figure (PNG, and the PDF beside it when there is one) into
``OUT/figures/``, and writes ``OUT/index.html``: the table of claims, then one section per claim with its figure
(embedded as a base64 data URI) and the command that reproduces it. The page makes no external request, so it
can be mailed or opened offline.

The claims run ``workers`` at a time (default: one per core), each process then given ``OMP_NUM_THREADS`` =
cores // workers torch threads (at least one), so that they share the cores instead of contending for them (most
claims are small passes, imports and figures, which one thread runs as fast as two); the recorded command
carries that setting, so it reproduces the numbers exactly.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from . import _checks, store
from .claims import CLAIMS, Verdict
from .studies.protocol import claimed

VERSIONED = ("reslimit", "torch", "numpy", "scipy", "matplotlib", "torchdiffeq", "torchsde")
TAIL_CHARS = 3000  # how much of a crashed claim's output goes into its failing verdict
SAFE_PATH = ["-P"] if sys.version_info >= (3, 11) else []  # no script folder or working folder on sys.path


def report(out, *, quick=True, scripts=None, progress=True, validation_dir=None, workers=None) -> list[dict]:
    """Check the claims and write ``out/claims.json``, ``out/index.html`` and ``out/figures/``.

    Args:
        out: the output folder (created; locked while the report runs: another process writing it is
            refused with store.Busy). Its manifest.json (written first) records the params: quick, the claims,
            validation_dir; a folder of another command, of a report of other params or of a user's files it
            would overwrite is refused before anything is written (:func:`reslimit.studies.protocol.claimed`).
        quick: the claims' quick sizes (``False``: the full, acceptance sizes).
        scripts: names of the claims to check (``"ode_rate"`` or ``"ode_rate.py"``; ``reslimit report --only``);
            default every claim of :data:`reslimit.claims.CLAIMS` (or every ``*.py`` of ``validation_dir``).
        progress: echo each claim's output to stderr (as it runs with one worker, when it ends with more).
        workers: claims run at a time, >= 1 (default: the number of cores; module docstring), at most the number
            of claims (one claim alone runs with torch's own threads and no OMP_NUM_THREADS).
        validation_dir: a folder of scripts to run instead of the package's claims, each as
            ``python -P DIR/NAME.py --quick|--full --out OUT/NAME`` (absolute paths; module docstring).

    Returns:
        Every claim, each a dict: :meth:`reslimit.claims.Verdict.to_dict` (claim, source, theory, measured,
        tolerance, passed, figure, note where set, command), then ``script`` (the claim's name) and
        ``figure_copy`` (its figure in ``out/figures``, where there is one). A claim whose process crashes or
        writes no readable claims.json gives one failing claim that says so (with ``error``, its output's tail).

    Raises:
        ValueError: ``validation_dir`` does not exist, ``scripts`` names no claim (no script of it), or workers
            is not an integer >= 1.
    """
    cores = os.cpu_count() or 1
    workers = cores if workers is None else _checks.positive_int("workers", workers)
    if validation_dir is None:
        available = {name: [sys.executable, *SAFE_PATH, "-m", "reslimit.claims", name] for name in CLAIMS}
        where = "reslimit.claims"
    else:
        folder = Path(validation_dir)
        if not folder.is_dir():
            raise ValueError(f"validation_dir must be a folder of scripts; there is no folder {str(folder)!r}")
        available = {p.stem: [sys.executable, *SAFE_PATH, str(p.resolve())] for p in sorted(folder.glob("*.py"))}
        where = str(folder)
    names = list(available) if scripts is None else list(dict.fromkeys(Path(s).stem for s in scripts))  # once each
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"scripts (--only) must name claims of {where}; there is no {', '.join(missing)} "
                         f"(there are: {', '.join(available)})")
    workers = min(workers, len(names))  # no more at a time than there are claims: one claim gets every core
    threads = {} if workers == 1 else {"OMP_NUM_THREADS": str(max(1, cores // workers))}
    params = {"quick": bool(quick), "claims": names, "validation_dir": None if validation_dir is None else
              str(Path(validation_dir).resolve())}
    files = ["claims.json", "index.html", "figures", *(f"{n}/{f}" for n in names for f in ("claims.json",
                                                                                      "output.log"))]
    with claimed(out, "report", params, files=files) as out:  # one report at a time, in a folder of its own
        store.write_manifest(out, params, study="report")  # first: a rerun of a killed report finds its folder
        out = out.resolve()
        def one(i: int, name: str) -> list[dict]:
            if progress:
                print(f"[{i}/{len(names)}] {name}", file=sys.stderr, flush=True)
            return _run(name, available[name], out / name, quick, progress, threads, stream=workers == 1)

        with ThreadPoolExecutor(workers) as pool:
            runs = [pool.submit(one, i, name) for i, name in enumerate(names, 1)]
            try:
                claims = [c for run in runs for c in run.result()]
            except KeyboardInterrupt:  # Ctrl-C reached the running claims too: start no other, write no report
                pool.shutdown(cancel_futures=True)
                raise KeyboardInterrupt(f"interrupted: no report written in {out}; rerun the same command") from None
        _copy_figures(claims, out / "figures")
        store.write_text(out / "claims.json", json.dumps(claims, indent=2, default=str) + "\n")
        store.write_text(out / "index.html", _html(claims, quick))
    return claims


def _run(name: str, argv: list[str], out: Path, quick: bool, progress: bool, env: dict, stream: bool) -> list[dict]:
    """Run one claim's process (``argv`` + size + --out ``out``, absolute, in a fresh empty folder of its own, with
    ``env`` added to the environment), its output logged to ``out/output.log`` and echoed to stderr with
    ``progress`` (as it comes with ``stream``, else at the end); return its claims, a relative figure read as
    relative to ``out``."""
    store.unlinked(out).mkdir(parents=True, exist_ok=True)  # a link planted as OUT/NAME would lead the claim out
    (out / "claims.json").unlink(missing_ok=True)  # a crash must not leave an earlier run's verdicts to be read
    argv = [*argv, "--quick" if quick else "--full", "--out", str(out)]
    chunks = []
    with tempfile.TemporaryDirectory(prefix="reslimit-claim-") as cwd, subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ | env) as proc:
        while chunk := os.read(proc.stdout.fileno(), 65536):
            chunks.append(chunk)
            if progress and stream:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
    text = b"".join(chunks).decode(errors="replace")
    if proc.returncode in (130, -signal.SIGINT):  # Ctrl-C: its log kept, its output not echoed after the fact
        store.write_text(out / "output.log", text)
        raise KeyboardInterrupt(name)
    if progress and not stream:
        sys.stderr.write(f"{name}:\n{text}")
        sys.stderr.flush()
    store.write_text(out / "output.log", text)
    command = " ".join([*(f"{k}={v}" for k, v in env.items()), shlex.join(["python", *argv[1:]])])
    try:
        verdicts = [Verdict.from_dict(c) for c in json.loads((out / "claims.json").read_text())]
    except (OSError, ValueError, TypeError) as err:  # none written, not JSON, or not a list of verdicts
        crash = Verdict(claim=f"{name} ran to completion and wrote its claims", source=name,
                        theory="claims.json written", measured=f"exit status {proc.returncode}; {err}",
                        tolerance=None, passed=False, figure=None, command=command)
        return [crash.to_dict() | {"script": name, "error": text[-TAIL_CHARS:]}]
    claims = []
    for v in verdicts:
        if v.figure and not Path(v.figure).is_absolute():
            v = replace(v, figure=str(out / v.figure))
        claims.append((v if v.command is not None else replace(v, command=command)).to_dict() | {"script": name})
    return claims


def _copy_figures(claims: list[dict], folder: Path) -> None:
    """Copy each claim's PNG (and the PDF beside it) into ``folder``; set the claim's ``figure_copy``."""
    copies = {}
    for c in claims:
        png = Path(c["figure"]) if c.get("figure") else None
        if png is None or not png.is_file():
            continue
        if png not in copies:
            store.unlinked(folder).mkdir(parents=True, exist_ok=True)
            run_dir = folder.parent / c["script"]
            stem = "_".join(png.relative_to(run_dir).with_suffix("").parts) if png.is_relative_to(run_dir) \
                else png.stem
            copies[png] = folder / f"{c['script']}_{stem}.png"
            store.write_bytes(copies[png], png.read_bytes())
            if png.with_suffix(".pdf").is_file():
                store.write_bytes(copies[png].with_suffix(".pdf"), png.with_suffix(".pdf").read_bytes())
        c["figure_copy"] = str(copies[png])


def _fmt(value) -> str:
    """A claim's value as short text: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _versions() -> str:
    found = []
    for name in VERSIONED:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join([f"Python {platform.python_version()}"] + found)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:72rem;
padding:1rem;line-height:1.45;color:#1b1b1b}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#555;font-size:.9rem}
.note{border-left:3px solid #c90;padding-left:.6rem;color:#333}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;min-width:40rem;width:100%;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3}
.PASS,.FAIL{white-space:nowrap}
.PASS{background:#dff3e0;color:#14591b;font-weight:600}.FAIL{background:#fbe0e0;color:#8a1010;font-weight:600}
img{max-width:100%;height:auto;border:1px solid #eee}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
code{font-size:.85rem}
@media (max-width:40rem){.wide{display:none}table{min-width:0;font-size:.8rem}th,td{padding:.25rem .3rem}}
"""

# Marks the page once every figure has decoded: <body data-figures-loaded="N/M"> (read by the browser test).
LOADED_SCRIPT = """window.addEventListener("load",function(){var i=document.images,n=0;
for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}
document.body.setAttribute("data-figures-loaded",n+"/"+i.length);});"""


def _html(claims: list[dict], quick: bool) -> str:
    """The page: header, table of claims, then one section per claim; every figure embedded once."""
    e = html.escape
    passed = sum(bool(c.get("passed")) for c in claims)
    rows, sections, shown = [], [], {}
    for i, c in enumerate(claims, 1):
        verdict = "PASS" if c.get("passed") else "FAIL"
        rows.append(f'<tr><td><a href="#claim-{i}">{i}</a></td><td class="{verdict}">{verdict}</td>'
                    f'<td>{e(_fmt(c.get("claim")))}</td><td class="wide">{e(_fmt(c.get("source")))}</td>'
                    f'<td>{e(_fmt(c.get("theory")))}</td><td>{e(_fmt(c.get("measured")))}</td>'
                    f'<td class="wide">{e(_fmt(c.get("tolerance")))}</td></tr>')
        copy = c.get("figure_copy")
        if copy is None:
            figure = "<p>No figure.</p>"
        elif copy in shown:
            figure = f'<p>Figure: as for <a href="#claim-{shown[copy]}">claim {shown[copy]}</a>.</p>'
        else:
            shown[copy] = i
            data = base64.b64encode(Path(copy).read_bytes()).decode("ascii")
            figure = (f'<img src="data:image/png;base64,{data}" alt="{e(_fmt(c.get("claim")))}">'
                      f'<p class="meta">figures/{e(Path(copy).name)}</p>')
        note = f'<p class="note">{e(c["note"])}</p>' if c.get("note") else ""
        error = f"<p>Output (tail):</p><pre><code>{e(c['error'])}</code></pre>" if c.get("error") else ""
        sections.append(f'<section id="claim-{i}"><h2>{i}. {e(_fmt(c.get("claim")))} '
                        f'<span class="{verdict}">{verdict}</span></h2>'
                        f'<p>{e(_fmt(c.get("source")))}: theory {e(_fmt(c.get("theory")))}, measured '
                        f'{e(_fmt(c.get("measured")))}, tolerance {e(_fmt(c.get("tolerance")))}.</p>'
                        f'{note}{figure}<p>Reproduce:</p>'
                        f'<pre><code>{e(_fmt(c.get("command")))}</code></pre>{error}</section>')
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = ("<div class=\"scroll\"><table><thead><tr><th>#</th><th>Verdict</th><th>Claim</th>"
             "<th class=\"wide\">Source</th><th>Theory</th><th>Measured</th><th class=\"wide\">Tolerance</th>"
             "</tr></thead><tbody>"
             + "".join(rows) + "</tbody></table></div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>reslimit validation report</title><style>{CSS}</style></head><body>"
            f"<header><h1>reslimit validation report</h1><p class=\"meta\">{e(date)}; "
            f"{'quick' if quick else 'full'} sizes; {passed}/{len(claims)} claims pass.<br>"
            f"{e(_versions())}</p></header>{table}{''.join(sections)}"
            f"<script>{LOADED_SCRIPT}</script></body></html>\n")
