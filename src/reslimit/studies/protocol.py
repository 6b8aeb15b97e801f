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
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _checks, store
from .._types import Folder

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

Rows = list[dict]
# Entries of a manifest that say how a folder was made rather than what it found (left out of a summary).
BOOKKEEPING = frozenset({"params", "settings", "study", "version", "versions", "net", "path", "points", "grid",
                         "engine", "threads", "results", "ledger", "complete", "figure", "command", "reslimit", "torch",
                         "numpy"})
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
        files: the other names its writer writes in the folder (figures: :func:`figures`; a sweep's ledger), which
            :func:`claimed` refuses to overwrite in a folder without a record.
    """

    name: str
    writer: str
    plot: Callable[[Rows, dict], Figure]
    summary: Callable[[Rows, dict], dict] | None = None
    version: int = 1
    table: str = "results.csv"
    manifest: str = store.MANIFEST
    params: str = "params"
    files: tuple[str, ...] = ()

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
            ValueError: before writing anything, if :func:`claimed` refuses ``out``.
        """
        with claimed(out, self, params) as folder:
            store.write_rows(folder / self.table, rows)
            store.write_manifest(folder, params, study=self, **entries)
        return folder


def figures(*names: str) -> tuple[str, ...]:
    """The files of the figures ``names``: NAME.png and NAME.pdf (:mod:`reslimit.plots` saves both)."""
    return tuple(f"{name}.{ext}" for name in names for ext in ("png", "pdf"))


def study_of(manifest: dict, record: str) -> str | None:
    """The study a record (``record`` the file's name, ``manifest`` its JSON) names: its "study"; for an earlier
    reslimit's manifest naming none, the only kind that writes such a file, or bounds and converge told by their
    keys; None where nothing tells."""
    name, params = manifest.get("study"), manifest.get("params")
    owners = [k.name for k in KINDS.values() if k.manifest == record]
    if name is None and len(owners) == 1:
        return owners[0]
    if name is None and isinstance(params, dict):
        return "bounds" if params.get("study") == "bounds" else "converge" if "slope" in manifest else None
    return name


@contextmanager
def claimed(out: Folder, kind: Kind | str, params: dict, *, files: Iterable[str] = ()) -> Iterator[Path]:
    """Hold ``out``'s lock (:func:`reslimit.store.writing`) for a writer of ``kind``: the one guard of every command
    that writes a folder, so that none overwrites another's. Yields ``out`` as a Path.

    ``out`` is refused, before anything is made in it (and again once its lock is held), when it holds
    - the record of another command: a manifest (any kind's, e.g. manifest.json, demo.json) naming another study
      (:func:`study_of`), or a record of another name than ``kind``'s;
    - the record of ``kind`` with other ``params`` (the parameters that differ are named);
    - no record but files the writer would overwrite: ``kind``'s table, record and ``files`` and the ``files``
      given (a user's own files); a sweep's (a writer of the ledger points.jsonl) whose ledger is there is left to
      the ledger's own check (:func:`reslimit.studies.sweep.run_study` keeps rows only of a ledger naming its study).
    The same writer with the same params is let in: it resumes.

    Args:
        out: the folder.  kind: its :class:`Kind`, or the name of a writer no kind declares (a sweep of its own, the
            report: its record manifest.json).  params: the settings its record holds.
        files: more names it writes (a report's claim folders' logs).

    Raises:
        ValueError: in one line, naming ``out`` and what holds it, "nothing was overwritten"; those of
            :func:`reslimit.store.writing` (a file, an empty path, :class:`reslimit.store.Busy`).
    """
    folder = _checks.folder("out", out)
    if isinstance(kind, str):
        name, record, key, writes = kind, store.MANIFEST, "params", [store.MANIFEST, *files]
    else:
        name, record, key, writes = kind.name, kind.manifest, kind.params, [kind.table, kind.manifest, *kind.files,
                                                                            *files]
    settings = json.loads(json.dumps(params))
    for file in writes if folder.is_dir() else ():
        store.unlinked(folder / file)  # a link among its files is named as such, before it is read as a record
    _refuse(folder, name, record, key, settings, writes)
    with store.writing(folder, *writes) as held:  # a link among its files refused too
        _refuse(held, name, record, key, settings, writes)
        yield held


def _refuse(folder: Path, name: str, record: str, key: str, params: dict, writes: list[str]) -> None:
    """:func:`claimed`'s checks of ``folder`` for the writer ``name`` of ``record``: a ValueError saying what holds
    it."""
    if not folder.is_dir():
        return  # absent (made by store.writing), or a file (refused there)
    why = _holder(folder, name, record, key, params)
    if why is None and not (folder / record).is_file() and not (LEDGER in writes and (folder / LEDGER).exists()):
        present = sorted(w for w in {*writes, LEDGER} if (folder / w).exists())  # another's ledger: its rows
        if present:
            why = (f"files it would overwrite ({', '.join(present)}) and no {record} of a {name} study; move them "
                   f"or choose another directory")
    if why is not None:
        raise ValueError(f"out {str(folder)!r} holds {why}, nothing was overwritten")


def _holder(folder: Path, name: str, record: str, key: str, params: dict) -> str | None:
    """What in ``folder``'s records keeps the writer ``name`` out (another study, other params), None if nothing."""
    records = sorted({store.MANIFEST, record} | {k.manifest for k in KINDS.values()})
    for found in (r for r in records if (folder / r).is_file()):
        manifest = store.read_record(folder / found)
        other = study_of(manifest, found)
        if found != record or other not in (None, name):
            writer = f", written by {KINDS[other].writer}" if isinstance(other, str) and other in KINDS else ""
            return (f"a different study: a {other or 'unnamed'} study ({found}{writer}), not a {name} one; choose "
                    f"another directory")
        old = manifest.get(key) if isinstance(manifest.get(key), dict) else {}
        if old != params:
            diff = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
            return f"a different study (parameters differ: {', '.join(diff)}); choose another directory"
    return None


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
