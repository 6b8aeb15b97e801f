"""Reading a study folder back: its rows as a pandas DataFrame, its parameters beside them.

Every command that writes a folder writes a table and a JSON record of how it was made:

    ``reslimit scaling``, ``reslimit phase``   results.csv, manifest.json (its "study": "scaling" or "phase")
    ``reslimit bounds``                         results.csv, manifest.json (its params' "study": "bounds")
    ``reslimit converge``                       results.csv, manifest.json (the params and the fitted rates)
    ``reslimit demo``                           demo.csv, demo.json (its "settings")

:func:`load` reads any of them. The cells are typed back by :func:`reslimit.store.read_rows`, exactly (floats
were written with repr): a column of ints is int64, one of floats float64, one of True / False bool, one of
text pandas' string dtype; an empty cell (a None when written) is missing (NaN, or pandas' nullable Int64 /
boolean for a column of ints / bools with gaps); a column mixing kinds (bounds' depth: an int, or the list of
depths a slope was fitted on) is object, each cell typed as read_rows types it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from . import store
from ._types import Folder

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("scaling", "phase", "bounds", "converge", "demo")
# What writes a folder of each kind (named in the errors).
WRITERS = {
    "scaling": "`reslimit scaling --out DIR` (reslimit.studies.scaling.scaling)",
    "phase": "`reslimit phase --out DIR` (reslimit.studies.phase.phase)",
    "bounds": "`reslimit bounds --out DIR` (reslimit.studies.bounds.bounds)",
    "converge": "`reslimit converge --out DIR` (reslimit.converge(..., out=DIR))",
    "demo": "`reslimit demo --out DIR`",
}
TABLES = {"demo": "demo.csv"}  # the others: results.csv
ANY_WRITER = ("`reslimit scaling`, `phase`, `bounds` or `converge` (manifest.json and results.csv) or "
              "`reslimit demo` (demo.json and demo.csv)")


def load(out: Folder) -> pd.DataFrame:
    """The results of the study folder ``out`` as a pandas DataFrame, its parameters in ``.attrs``.

    Args:
        out: a folder written by ``reslimit scaling``, ``phase``, ``bounds``, ``converge`` or ``demo``.

    Returns:
        A DataFrame with one row per row of the folder's table (results.csv, or demo.csv for a demo folder)
        and its columns in the file's order (a sweep's ``point`` first), typed as described in the module
        docstring. ``attrs["study"]`` is the folder's kind ("scaling", "phase", "bounds", "converge" or
        "demo"), ``attrs["params"]`` the parameters it was run with (the manifest's "params"; a demo's
        "settings") and ``attrs["manifest"]`` the whole manifest (demo.json for a demo) as a dict. A sweep
        interrupted before its end loads the points it finished; its manifest then says ``"complete": false``.

    Raises:
        ValueError: naming the folder if it does not exist, is not a study folder (no manifest.json nor
            demo.json), has no table, or holds an unreadable manifest or table.
    """
    import pandas as pd

    folder, kind, manifest = _identify(out)
    table = folder / TABLES.get(kind, "results.csv")
    if not table.is_file():
        raise ValueError(f"{str(folder)!r} holds a {kind} study's {_manifest_name(kind)} but no {table.name}; "
                         f"rerun {WRITERS[kind]} with this folder to write it")
    header, rows = _read(table, kind)
    frame = pd.DataFrame({name: _column(pd, [row[name] for row in rows]) for name in header},
                         index=pd.RangeIndex(len(rows)))
    frame.attrs.update(study=kind, params=manifest["settings" if kind == "demo" else "params"], manifest=manifest)
    return frame


def _identify(out) -> tuple[Path, str, dict]:
    """(the folder, its kind, its manifest); ValueError naming the folder and what is missing."""
    folder = Path(out)
    if not folder.exists():
        raise ValueError(f"{str(folder)!r} does not exist; a study folder is written by {ANY_WRITER}")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a study folder (written by {ANY_WRITER})")
    if (folder / store.MANIFEST).is_file():
        manifest = store.read_manifest(folder)  # ValueError naming the file if it is not a JSON object
        params = manifest.get("params")
        kind = manifest.get("study") if manifest.get("study") in ("scaling", "phase") else None
        if isinstance(params, dict) and kind is None:
            if params.get("study") == "bounds":
                kind = "bounds"
            elif "limit" in params and "slope" in manifest:
                kind = "converge"
        if kind is None or not isinstance(params, dict):
            raise ValueError(f"{str(folder / store.MANIFEST)!r} is not the manifest of a study reslimit.load reads "
                             f"(scaling, phase, bounds or converge: written by {ANY_WRITER})")
        return folder, kind, manifest
    if (folder / "demo.json").is_file():
        manifest = store.read_json(folder / "demo.json", f"rerun {WRITERS['demo']} into a new folder")
        if not isinstance(manifest.get("settings"), dict):
            raise ValueError(f"{str(folder / 'demo.json')!r} has no \"settings\": not written by "
                             f"{WRITERS['demo']}; rerun it into this folder")
        return folder, "demo", manifest
    found = [name for name in ("results.csv", "demo.csv") if (folder / name).is_file()]
    has = f"holds {found[0]} but " if found else ""
    raise ValueError(f"{str(folder)!r} {has}has no manifest.json (nor demo.json): not a study folder, or one whose "
                     f"manifest was deleted; such folders are written by {ANY_WRITER} (rerun the command with "
                     f"this folder: a sweep rebuilds its manifest from its ledger points.jsonl)")


def _manifest_name(kind: str) -> str:
    return "demo.json" if kind == "demo" else store.MANIFEST


def _read(table: Path, kind: str) -> tuple[list[str], list[dict]]:
    """(the header, the rows typed by store.read_rows); ValueError naming the file if it is not such a CSV."""
    bad = (f"{str(table)!r} is unreadable (not a CSV of rows under one header); rerun {WRITERS[kind]} "
           + ("with this folder (a sweep repairs its results from its ledger)" if kind in ("scaling", "phase")
              else "into a new folder"))
    try:
        with open(table, newline="") as f:
            header = next(csv.reader(f), [])
        rows = store.read_rows(table)
    except (UnicodeDecodeError, csv.Error):  # csv.Error: also a row with fewer or more cells than the header
        raise ValueError(bad) from None
    if len(set(header)) != len(header) or any(None in row for row in rows):
        raise ValueError(bad)
    return header, rows


def _column(pd, cells: list):
    """A Series of the typed cells: int64, float64, bool, string, or object if kinds mix; '' is missing."""
    present = [c for c in cells if c != ""]
    missing = len(present) < len(cells)
    kinds = {type(c) for c in present}
    values = [None if c == "" else c for c in cells]
    if kinds == {int}:
        try:
            return pd.Series(values, dtype="Int64" if missing else "int64")
        except (OverflowError, TypeError, ValueError):  # beyond int64: kept as Python ints
            return pd.Series(values, dtype=object)
    if kinds <= {float}:  # all floats, or no cell at all
        return pd.Series([float("nan") if c is None else c for c in values], dtype="float64")
    if kinds == {str} and set(present) <= {"True", "False"}:
        return pd.Series([None if c is None else c == "True" for c in values], dtype="boolean" if missing else "bool")
    if kinds == {str}:
        return pd.Series(values)  # pandas' string dtype (object before pandas 3), None missing
    return pd.Series(values, dtype=object)
