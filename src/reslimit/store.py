"""Writing a study to disk: a tidy CSV, a JSON manifest beside it, and a guard against mixing studies.

A study directory holds ``manifest.json`` with a "params" entry and the "study" (a registered :class:`Kind`)
and "version" that wrote it. Writing into a directory whose manifest
has other parameters is refused with a ValueError before anything is written. One process at a time
writes a directory: :func:`writing` holds its ``.lock``.
"""

from __future__ import annotations

import csv
import json
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from filelock import FileLock, Timeout

from . import _checks

MANIFEST = "manifest.json"
LOCK = ".lock"


class Busy(ValueError):
    """A study directory is being written by another process."""


@dataclass(frozen=True)
class Kind:
    """A kind of study folder, as :func:`reslimit.load` reads it back.

    Attributes:
        name: the manifest's "study" (a study's own name: "scaling", "train"...).
        version: the version of its folder's layout; a manifest of a newer one is refused by load.
        writer: what writes such a folder (named in errors), e.g. "`reslimit train --out DIR`".
        table: the CSV of its rows.  manifest: its JSON record.  params: the record's entry of the settings.
    """

    name: str
    version: int
    writer: str
    table: str = "results.csv"
    manifest: str = MANIFEST
    params: str = "params"


KINDS: dict[str, Kind] = {}  # name -> Kind, filled by register in each study's module


def register(name: str, writer: str, *, version: int = 1, table: str = "results.csv", manifest: str = MANIFEST,
             params: str = "params") -> Kind:
    """Declare a kind of study folder (one line in the study's module): what ``reslimit.load`` reads back.

    Its manifests get "study": name and "version" from :func:`write_manifest` (given ``study=name``).
    """
    if name in KINDS and KINDS[name] != Kind(name, version, writer, table, manifest, params):
        raise ValueError(f"a study named {name!r} is registered already ({KINDS[name].writer})")
    KINDS[name] = Kind(name, version, writer, table, manifest, params)
    return KINDS[name]


@contextmanager
def writing(out) -> Iterator[Path]:
    """Hold ``out``/.lock (``out`` created if needed) while the block writes ``out``; yields ``out`` as a Path.

    The lock is the operating system's (flock on POSIX), so the kernel releases it when its holder exits or
    is killed: a killed writer leaves no stale lock. Reentrant within a process (a study that holds it may
    call run_study, which takes it again).

    Raises:
        Busy (a ValueError) at once if another process holds the lock; ValueError if ``out`` is empty or a file.
    """
    out = _checks.folder("out", out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory; {str(out)!r} is a file")
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out.resolve() / LOCK, timeout=0, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise Busy(f"out {str(out)!r} is being written by another reslimit process (lock {out / LOCK} held); "
                   f"wait for it to finish or choose another directory") from None
    try:
        yield out
    finally:
        lock.release()


def versions() -> dict:
    """Versions of Python and of the packages that produce the numbers."""
    out = {"python": platform.python_version()}
    for pkg in ("reslimit", "torch", "torchdiffeq", "torchsde", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def prepare(out, params: dict) -> Path:
    """Create ``out`` if needed; refuse it if it holds a study with other parameters."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory; {str(out)!r} is a file")
    if (out / MANIFEST).exists():
        old = read_manifest(out).get("params")
        if old != json.loads(json.dumps(params)):
            diff = sorted(k for k in set(old or {}) | set(params) if (old or {}).get(k) != params.get(k))
            raise ValueError(f"out {str(out)!r} holds a different study (parameters differ: {', '.join(diff)}); "
                             f"choose another directory, nothing was overwritten")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_rows(path, rows: list[dict]) -> None:
    """Write tidy rows to a CSV file atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def write_manifest(out, params: dict, **entries) -> None:
    """manifest.json: the parameters, the entries given (results, verdicts) and the package versions.

    With ``study=NAME`` (a registered :class:`Kind`) it also says the version of that study's layout.
    """
    path = Path(out) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    if entries.get("study") in KINDS:
        entries = {"study": entries["study"], "version": KINDS[entries["study"]].version} | entries
    tmp.write_text(json.dumps({"params": params, **entries, "versions": versions()}, indent=2) + "\n")
    os.replace(tmp, path)


def read_json(path, advice: str) -> dict:
    """The JSON object in ``path``; ValueError "<path> is unreadable (not a JSON object); <advice>" otherwise
    (garbage, a file cut short, another JSON value)."""
    path = Path(path)
    try:
        value = json.loads(path.read_bytes().decode())
    except (UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{path} is unreadable (not a JSON object); {advice}")
    return value


def read_manifest(out) -> dict:
    """``out``/manifest.json as a dict; ValueError naming the file if it is not a JSON object."""
    path = Path(out) / MANIFEST
    return read_json(path, f"delete it (a sweep rebuilds it from its ledger {path.parent / 'points.jsonl'}) or "
                           "choose another directory")


def update_manifest(out, **entries) -> None:
    """Add ``entries`` (results of a finished study: critical betas, verdicts) to manifest.json, keeping the rest."""
    manifest = read_manifest(out)
    kept = {k: v for k, v in manifest.items() if k not in ("params", "versions")}
    write_manifest(out, manifest["params"], **(kept | entries))


def read_rows(path) -> list[dict]:
    """The rows of a CSV written by write_rows or by a sweep, typed back.

    A cell that is the str() of an int comes back as that int, one that is the repr() of a float as that
    float (exactly: floats are written with repr), anything else as its string. Typed column by column, each
    distinct cell once (the columns repeat their names, betas and seeds): a Figure 7 grid has 5 M cells.
    csv.Error for a row with more or fewer cells than the header.
    """
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    if not lines:
        return []
    header, body = lines[0], [line for line in lines[1:] if line]  # blank lines skipped, as csv.DictReader does
    for number, line in enumerate(body, 2):
        if len(line) != len(header):
            raise csv.Error(f"{path}: row {number} has {len(line)} cells under a header of {len(header)}")
    typed: dict[str, object] = {}
    columns = []
    for cells in zip(*body) if body else ():
        for cell in set(cells).difference(typed):
            typed[cell] = _typed(cell)
        columns.append(list(map(typed.__getitem__, cells)))
    return [dict(zip(header, values)) for values in zip(*columns)]


def _typed(cell: str):
    # int() is tried only on decimal digits (any other cell would fail its round trip): its ValueError on every
    # float cell cost more than the conversion
    for kind, text in ((int, str), (float, repr)) if cell.lstrip("-").isdecimal() else ((float, repr),):
        try:
            value = kind(cell)
        except ValueError:
            continue
        if text(value) == cell:
            return value
    return cell
