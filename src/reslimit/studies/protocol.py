"""The study protocol: a study declares its kind of folder once, in its own module, and :func:`reslimit.load`
reads every folder it writes back as a :class:`Result` (its rows as a DataFrame, a summary, ``plot()``, ``save``).

A declaration is one statement, which registers the kind in :data:`KINDS` (the modules of reslimit.studies are
discovered by :func:`reslimit.studies.discover`, so a new study is one new file):

    KIND = Kind("phase", "`reslimit phase --out DIR`", plot=lambda rows, params: PhaseResult(rows, params).plot())

Its folder holds a table (``table``, results.csv: one row per measurement) and a JSON record (``manifest``,
manifest.json) whose ``params`` entry holds the settings and whose "study" and "version" say which kind, at which
version of its layout, wrote it: :func:`reslimit.store.write_manifest` (``study=KIND``) writes them, and
:meth:`Kind.save` writes a whole folder. A study bumps ``version`` when its folder's layout changes; a folder of
a newer version than the package knows is refused.

The cells of a table are typed back by :func:`reslimit.store.read_rows`, exactly (floats were written with repr):
in :meth:`Result.frame` a column of ints is int64, one of floats float64, one of True / False bool, one of text
pandas' string dtype; an empty cell (a None when written) is missing (NaN, or pandas' nullable Int64 / boolean for
a column of ints / bools with gaps); a column mixing kinds (bounds' depth: an int, or the list of depths a slope
was fitted on) is object, each cell typed as read_rows types it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .. import store
from .._types import Folder

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

Rows = list[dict]
# Entries of a manifest that say how a folder was made rather than what it found (left out of a summary).
BOOKKEEPING = frozenset({"params", "settings", "study", "version", "versions", "net", "path", "points", "grid",
                         "engine", "results", "ledger", "complete", "figure", "command", "reslimit", "torch", "numpy"})
LEDGER = "points.jsonl"  # a sweep's ledger (reslimit.studies.sweep), copied by Result.save

KINDS: dict[str, Kind] = {}  # name -> Kind, filled by each declaration


@dataclass(frozen=True, eq=False)
class Kind:
    """A kind of study folder: the name and version its manifests carry, and how its rows are drawn and summed up.

    Attributes:
        name: the manifest's "study", e.g. "scaling", "train".
        writer: what writes such a folder (named in errors), e.g. "`reslimit train --out DIR`".
        plot: ``plot(rows, params) -> Figure`` of the rows (:meth:`Result.rows`) and the params (the study's own
            figure, from :mod:`reslimit.plots`).
        summary: ``summary(rows, params) -> dict``; None: the manifest's entries other than :data:`BOOKKEEPING`
            (the results the study wrote there: critical betas, slopes, verdicts...).
        version: the version of the folder's layout, >= 1.
        table: the CSV of its rows.  manifest: its JSON record.  params: the record's entry of the settings.
    """

    name: str
    writer: str
    plot: Callable[[Rows, dict], Figure]
    summary: Callable[[Rows, dict], dict] | None = None
    version: int = 1
    table: str = "results.csv"
    manifest: str = store.MANIFEST
    params: str = "params"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not callable(self.plot):
            raise ValueError(f"a Kind needs a non-empty name and a callable plot; got {self.name!r}, {self.plot!r}")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"version must be an integer >= 1; got {self.version!r}")
        old = KINDS.get(self.name)
        if old is not None and old._identity() != self._identity():  # the same one again: a module reloaded
            raise ValueError(f"a study named {self.name!r} is registered already ({old.writer})")
        KINDS[self.name] = self

    def _identity(self) -> tuple:
        return self.name, self.writer, self.version, self.table, self.manifest, self.params

    def load(self, out: Folder, manifest: dict) -> Result:
        """The :class:`Result` of the folder ``out`` whose manifest (already read) is ``manifest``.

        Raises:
            ValueError: naming the folder or the file, if the manifest has no params or the table lacks or is not
                a CSV of rows under one header.
        """
        folder = Path(out)
        if not isinstance(manifest.get(self.params), dict):
            raise ValueError(f"{str(folder / self.manifest)!r} has no \"{self.params}\": not written by "
                             f"{self.writer}; rerun it into this folder")
        table = folder / self.table
        if not table.is_file():
            raise ValueError(f"{str(folder)!r} holds a {self.name} study's {self.manifest} but no {table.name}; "
                             f"rerun {self.writer} with this folder to write it")
        return Result(self, folder, manifest, *_read(table, self.writer))

    def save(self, out: Folder, rows: Rows, params: dict, **entries) -> Path:
        """Write a folder of this kind: ``out``/TABLE (the rows) and manifest.json (``params``, the study and its
        version, ``entries``, the package versions), under the folder's lock; returns ``out`` as a Path.

        Raises:
            ValueError: before writing anything, if ``out`` is empty or a file, holds a study with other params, or
                is being written by another process (:class:`reslimit.store.Busy`).
        """
        with store.writing(out) as folder:
            store.prepare(folder, params)
            store.write_rows(folder / self.table, rows)
            store.write_manifest(folder, params, study=self, **entries)
        return folder


@dataclass(frozen=True, eq=False)
class Result:
    """A study folder read back (:func:`reslimit.load`): its kind, its manifest and its table.

    Attributes:
        kind: the :class:`Kind` that wrote it.  folder: where it is.  manifest: its JSON record, as a dict.
        header: the table's columns.  cells: its rows as :func:`reslimit.store.read_rows` types them.
    """

    kind: Kind
    folder: Path
    manifest: dict
    header: list[str]
    cells: Rows

    @property
    def study(self) -> str:
        """The study's name (the manifest's "study")."""
        return self.kind.name

    @property
    def version(self) -> int:
        """The version of the folder's layout (1 for a manifest of a reslimit that recorded none)."""
        return self.manifest.get("version", 1)

    @property
    def params(self) -> dict:
        """The settings the folder was written with (the manifest's params)."""
        return self.manifest[self.kind.params]

    @cached_property
    def _columns(self) -> dict[str, list]:
        """Each column's cells as the writer had them: '' -> None, a column of True / False as bools."""
        out = {}
        for name in self.header:
            cells = [None if row[name] == "" else row[name] for row in self.cells]
            present = {c for c in cells if c is not None}
            if present and present <= {"True", "False"}:
                cells = [None if c is None else c == "True" for c in cells]
            out[name] = cells
        return out

    def rows(self) -> Rows:
        """The rows as dicts, in the table's order; an empty cell None, a True / False column bools."""
        columns = self._columns
        return [dict(zip(columns, values)) for values in zip(*columns.values())] if self.cells else []

    def frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame, typed as the module docstring says, its columns in the file's order (a
        sweep's ``point`` first). ``attrs``: "study", "version", "params" and "manifest" (the whole manifest)."""
        import pandas as pd

        frame = pd.DataFrame({name: _column(pd, [row[name] for row in self.cells]) for name in self.header},
                             index=pd.RangeIndex(len(self.cells)))
        frame.attrs.update(study=self.study, version=self.version, params=self.params, manifest=self.manifest)
        return frame

    def summary(self) -> dict:
        """What the study found, in a dict: the kind's ``summary`` of the rows, or the manifest's results."""
        if self.kind.summary is not None:
            return self.kind.summary(self.rows(), self.params)
        return {k: v for k, v in self.manifest.items() if k not in BOOKKEEPING}

    def plot(self) -> Figure:
        """The study's figure of these rows (a matplotlib Figure; no backend is chosen)."""
        return self.kind.plot(self.rows(), self.params)

    def save(self, out: Folder) -> Path:
        """Copy the folder's table, manifest and (a sweep's) ledger into ``out``, under its lock, byte for byte:
        ``reslimit.load(out)`` reads the same result. Returns ``out`` as a Path.

        Raises:
            ValueError: before writing anything, if ``out`` is empty or a file, holds files other than these, or is
                being written by another process (:class:`reslimit.store.Busy`).
        """
        names = [n for n in (self.kind.table, LEDGER, self.kind.manifest) if (self.folder / n).is_file()]
        with store.writing(out) as folder:
            if folder.resolve() == self.folder.resolve():
                return folder
            other = sorted(p.name for p in folder.iterdir() if p.name != store.LOCK and not (
                p.name in names and p.is_file() and p.read_bytes() == (self.folder / p.name).read_bytes()))
            if other:
                raise ValueError(f"out {str(folder)!r} holds other files ({', '.join(other)}); choose an empty "
                                 f"directory, nothing was overwritten")
            for name in names:  # the manifest last: it makes the folder a study's
                store.write_bytes(folder / name, (self.folder / name).read_bytes())  # through no link
        return folder

    def __repr__(self) -> str:
        return (f"<Result of a {self.study} study (version {self.version}) in {str(self.folder)!r}: "
                f"{len(self.cells)} rows>")


def _read(table: Path, writer: str) -> tuple[list[str], Rows]:
    """(the header, the rows typed by store.read_rows); ValueError naming the file if it is not such a CSV."""
    advice = ("with this folder (a sweep repairs its results from its ledger)" if (table.parent / LEDGER).is_file()
              else "into a new folder")
    bad = f"{str(table)!r} is unreadable (not a CSV of rows under one header); rerun {writer} {advice}"
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
