"""Reading a study folder back: its rows as a pandas DataFrame, its parameters beside them.

Every command that writes a folder writes a table and a JSON record of how it was made, whose "study" and
"version" name the study that wrote it: a :class:`reslimit.store.Kind`, registered in the study's own module
(``store.register(name, writer, table=..., ...)``), e.g.

    ``reslimit scaling``, ``phase``, ``trainability``, ``converge``, ``bounds``, ``propagation``
                                        results.csv, manifest.json
    ``reslimit train``                  history.csv, manifest.json
    ``reslimit demo``                   demo.csv, demo.json (its "settings")

:func:`load` reads any of them (:data:`reslimit.store.KINDS` lists them), and the folders of earlier versions
of reslimit whose manifest names no study (scaling, phase, bounds, converge, demo). The cells are typed back by
:func:`reslimit.store.read_rows`, exactly (floats were written with repr): a column of ints is int64, one of
floats float64, one of True / False bool, one of text pandas' string dtype; an empty cell (a None when written)
is missing (NaN, or pandas' nullable Int64 / boolean for a column of ints / bools with gaps); a column mixing
kinds (bounds' depth: an int, or the list of depths a slope was fitted on) is object, each cell typed as
read_rows types it.
"""

from __future__ import annotations

import csv
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from . import store
from ._types import Folder

if TYPE_CHECKING:
    import pandas as pd

# The modules that register a kind of folder outside reslimit.studies (whose every module is imported).
OUTSIDE = ("reslimit.train", "reslimit.demo")


def kinds() -> dict[str, store.Kind]:
    """Every kind of study folder: the modules of reslimit.studies and :data:`OUTSIDE` imported, each having
    registered its own (:func:`reslimit.store.register`)."""
    from . import studies

    for info in pkgutil.iter_modules(studies.__path__):
        importlib.import_module(f"{studies.__name__}.{info.name}")
    for name in OUTSIDE:
        importlib.import_module(name)
    return store.KINDS


def _any_writer() -> str:
    return "; ".join(f"{k.name} by {k.writer}" for k in kinds().values())


def load(out: Folder) -> pd.DataFrame:
    """The results of the study folder ``out`` as a pandas DataFrame, its parameters in ``.attrs``.

    Args:
        out: a folder written by a study (:func:`kinds`: ``reslimit scaling``, ``phase``, ``bounds``,
            ``converge``, ``demo``, ``train``, ``trainability``, ``propagation``...).

    Returns:
        A DataFrame with one row per row of the folder's table (results.csv, or demo.csv for a demo folder)
        and its columns in the file's order (a sweep's ``point`` first), typed as described in the module
        docstring. ``attrs["study"]`` is the folder's kind (its manifest's "study"), ``attrs["version"]`` the
        version of its layout, ``attrs["params"]`` the parameters it was run with (the manifest's "params"; a demo's
        "settings") and ``attrs["manifest"]`` the whole manifest (demo.json for a demo) as a dict. A sweep
        interrupted before its end loads the points it finished; its manifest then says ``"complete": false``.

    Raises:
        ValueError: naming the folder if it does not exist, is not a study folder (no manifest.json nor
            demo.json), has no table, or holds an unreadable manifest or table.
    """
    import pandas as pd

    folder, kind, manifest = _identify(out)
    table = folder / kind.table
    if not table.is_file():
        raise ValueError(f"{str(folder)!r} holds a {kind.name} study's {kind.manifest} but no {table.name}; "
                         f"rerun {kind.writer} with this folder to write it")
    header, rows = _read(table, kind)
    frame = pd.DataFrame({name: _column(pd, [row[name] for row in rows]) for name in header},
                         index=pd.RangeIndex(len(rows)))
    frame.attrs.update(study=kind.name, version=manifest.get("version", 1), params=manifest[kind.params],
                       manifest=manifest)
    return frame


def _identify(out) -> tuple[Path, store.Kind, dict]:
    """(the folder, its kind, its manifest); ValueError naming the folder and what it is not."""
    folder = Path(out)
    known = kinds()
    if not folder.exists():
        raise ValueError(f"{str(folder)!r} does not exist; a study folder is written by a command: {_any_writer()}")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a study folder (written by a command: {_any_writer()})")
    if (folder / store.MANIFEST).is_file():
        manifest = store.read_manifest(folder)  # ValueError naming the file if it is not a JSON object
        kind = _kind_of(folder / store.MANIFEST, manifest, known)
    elif (folder / "demo.json").is_file():
        kind = known["demo"]
        manifest = store.read_json(folder / "demo.json", f"rerun {kind.writer} into a new folder")
    else:
        found = [k.table for k in known.values() if (folder / k.table).is_file()]
        has = f"holds {found[0]} but " if found else ""
        raise ValueError(f"{str(folder)!r} {has}has no manifest.json (nor demo.json): not a study folder, or one "
                         f"whose manifest was deleted (rerun the command with this folder: a sweep rebuilds its "
                         f"manifest from its ledger points.jsonl); study folders are written by {_any_writer()}")
    if not isinstance(manifest.get(kind.params), dict):
        raise ValueError(f"{str(folder / kind.manifest)!r} has no \"{kind.params}\": not written by {kind.writer}; "
                         f"rerun it into this folder")
    return folder, kind, manifest


def _kind_of(path: Path, manifest: dict, known: dict[str, store.Kind]) -> store.Kind:
    """The kind a manifest names (its "study", at a version this reslimit reads), or that its keys show for a
    manifest of an earlier reslimit naming none (bounds, converge); ValueError saying what it is not."""
    name, params = manifest.get("study"), manifest.get("params")
    if name is None and isinstance(params, dict):  # written before manifests named their study
        name = "bounds" if params.get("study") == "bounds" else "converge" if "slope" in manifest else None
    if name is None:
        raise ValueError(f"{str(path)!r} names no study: not the manifest of a study folder (written by a command: "
                         f"{_any_writer()})")
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"{str(path)!r} names the study {name!r}, which this reslimit does not know (it knows "
                         f"{', '.join(known)}); a newer reslimit may have written it")
    kind, version = known[name], manifest.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= kind.version:
        raise ValueError(f"{str(path)!r} holds a {name} study of version {version!r}; this reslimit reads versions "
                         f"1 to {kind.version}: upgrade reslimit to read it")
    return kind


def _read(table: Path, kind: store.Kind) -> tuple[list[str], list[dict]]:
    """(the header, the rows typed by store.read_rows); ValueError naming the file if it is not such a CSV."""
    bad = (f"{str(table)!r} is unreadable (not a CSV of rows under one header); rerun {kind.writer} "
           + ("with this folder (a sweep repairs its results from its ledger)" if kind.name in ("scaling", "phase")
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
