"""Sweeps: compute a study's grid of points in-process, on a local process pool or on a Dask cluster, and keep
each point's rows on disk as soon as it finishes, so that an interrupted sweep resumes where it stopped.

A study directory DIR holds
- ``manifest.json``: the params, the study's name and version (``store.stamp`` of its declared kind), its grid,
  the engine that computes the rows ("compiled" kernel or "torch" loop), the package versions and whether it is
  complete (see store.py);
- ``results.csv``: the rows, a ``point`` column first (the point's index in the grid), in the order the
  points finished while the sweep runs, in grid order once it is complete (the ledger too), whatever the executor
  and the interruptions;
- ``points.jsonl``: the ledger, one line ``{"point": i, "rows": n, "sha256": ..., "study": ...}`` per finished
  point, written after its rows (sha256 of the CSV header line and the point's lines as written; "study" the
  sha256 of what the rows depend on: the study's name, params, grid, engine and torch version);
- ``.lock``: held by the one process that writes DIR (store.writing); another is refused (store.Busy).

A point counts as done only when its ledger line and its rows agree; on resume anything else (a line cut
short, a garbled line, a line of another study, rows missing or altered, rows of a point that never reached
the ledger) is reported, dropped, and its points are computed again. A directory whose manifest is missing is
resumed only if its ledger names this study; one computed with another engine or torch version is refused
(their rows differ by rounding).
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import json
import multiprocessing
import numbers
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from .. import store
from .._checks import positive_int
from ..specs import recorded
from .protocol import KINDS, LEDGER, claimed

RESULTS = "results.csv"
MAX_WORKERS_PER_CORE = 4  # a pool larger than this only adds processes that wait
ENGINES = {"compiled": "the compiled kernel", "torch": "the torch loop (RESLIMIT_NATIVE=0 or no C compiler)"}


class Interrupted(KeyboardInterrupt):
    """A sweep stopped by Ctrl-C: ``done`` of its ``total`` points are on disk in ``out``; a rerun resumes it."""

    def __init__(self, done: int, total: int, out):
        super().__init__(done, total, str(out))
        self.done, self.total, self.out = done, total, str(out)

    def __str__(self) -> str:
        return (f"interrupted: {self.done} of {self.total} points kept in {self.out}; rerun the same command to "
                f"resume")


@dataclass(frozen=True)
class Study:
    """A grid of points and what to compute at each.

    Attributes:
        name: e.g. "scaling"; stored in the manifest.
        params: JSON-able parameters that define the study; stored as manifest["params"].
        points: the grid, a non-empty list of JSON-able dicts of coordinates.
        compute: ``compute(params, point) -> rows``, a list of dicts with identical keys (not "point").
            A module-level function, so that worker processes can import it; deterministic, its randomness
            derived only from params["seed"] and the point, and independent of process-wide state such as
            torch's default dtype, so that every executor gives the same numbers.
        engine: what computes the rows, "compiled" (the kernel of native.py) or "torch" (the torch loop);
            stored in the manifest, and a resume with another engine is refused.
        threaded: its rows depend in their last digits on torch's thread count (a point that trains in batched
            ensembles on torch's GEMMs: transfer, coord-check). The manifest records the threads each run's points
            computed with, and a resume with another count says so on stderr (the rows then differ from an
            uninterrupted run's in the last digits; a point on one thread, :func:`one_thread`, does not).
    """

    name: str
    params: dict
    points: list[dict]
    compute: Callable[[dict, dict], list[dict]]
    engine: str = "torch"
    threaded: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not isinstance(self.params, dict) or not callable(self.compute) \
                or not isinstance(self.points, (list, tuple)) or not all(isinstance(p, dict) for p in self.points):
            raise TypeError("Study needs a name (str), params (dict), points (a list of dicts) and compute (callable)")
        if not self.name:
            raise ValueError("name must be a non-empty string")
        if not self.points:
            raise ValueError("points: the grid must hold at least one point; got none")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {self.engine!r}")
        for what, value in (("params", self.params), ("points", self.points)):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{what} must be JSON-able (finite numbers, strings, lists, dicts): {err}") from None


def run_study(study: Study, out, *, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> list[dict]:
    """Compute the points of ``study`` not yet in ``out``/results.csv and return all its rows.

    Each point's rows are appended (and fsync'd) as soon as the point finishes, then its ledger line, so a
    killed sweep loses no finished point, and a rerun computes only the missing ones and ends with the same
    numbers as an uninterrupted run. Damage found on resume is reported (a warning and a line on stderr),
    the damaged points' rows dropped and those points recomputed. Ctrl-C raises :class:`Interrupted`, with
    the finished points on disk.

    Args:
        study: what to compute.
        out: the study directory, locked for the run; refused (ValueError, nothing overwritten) if another
            process is writing it (store.Busy), if it holds another command's folder, a study with other params
            or a user's files (:func:`reslimit.studies.protocol.claimed`), another grid, another engine or torch
            version, or rows without a manifest that its ledger does not prove to be this study's.
        workers: compute on a local pool of this many processes (spawned, each with cpu_count // workers
            torch threads, ignoring Ctrl-C and killed with their parent). A script that uses it needs the
            usual ``if __name__ == "__main__":`` guard.
        scheduler: compute on the Dask cluster at "tcp://HOST:PORT" (needs ``pip install "reslimit[dask]"``).
            Neither: in this process.
        progress: show a progress bar over points, with the time left.

    Returns:
        Every row of every point, in grid order and, within a point, in the order compute returned them,
        each with its ``point`` index first, typed back from the file (see store.read_rows).
    """
    check_executor(workers, scheduler)
    grid = json.loads(json.dumps(study.points))
    kind = KINDS.get(study.name, study.name)  # the study's declared kind stamps its version too
    with claimed(out, kind, study.params, files=(LEDGER,)) as out:
        key = _key(study, grid)
        kept = _kept_entries(out, study, grid, key)
        claim = {**kept, **recorded(study.params), "points": len(grid), "grid": grid, "engine": study.engine,
                 "results": RESULTS, "ledger": LEDGER}
        results = _Results(out, len(grid), key)
        todo = [i for i in range(len(grid)) if i not in results.done]
        if study.threaded and todo:
            claim["threads"] = _threads_note(out, kept.get("threads"), _point_threads(workers, scheduler),
                                             bool(results.done))
        store.write_manifest(out, study.params, study=kind, **claim, complete=False)
        try:
            with tqdm(total=len(grid), initial=len(grid) - len(todo), unit="point", desc=study.name,
                      disable=not progress) as bar, \
                    closing(_execute(study.compute, study.params, study.points, todo, workers, scheduler)) as finished:
                for i, rows in finished:
                    with _sigint_deferred():  # the point is kept and counted, or neither
                        results.add(i, rows)
                    bar.update()
            with _sigint_deferred():
                results.sort()
        except KeyboardInterrupt as err:  # every finished point was fsync'd by results.add
            raise Interrupted(len(results.done), len(grid), out) from err
        store.write_manifest(out, study.params, study=kind, **claim, complete=True)
        rows = store.read_rows(out / RESULTS) if results.header else []
    return sorted(rows, key=lambda row: row["point"])


@contextmanager
def finishing(study: Study, out):
    """Around a sweep and the work after its last point (the summary, the manifest, the figures): a Ctrl-C after
    the last point raises :class:`Interrupted` too, saying that every point is kept and a rerun finishes."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt as err:
        raise Interrupted(len(study.points), len(study.points), out) from err


def _point_threads(workers: int | None, scheduler: str | None) -> int | None:
    """The torch threads a point computes with: this process's, a pool worker's (cores // workers), None on a
    cluster (its workers' own)."""
    if scheduler is not None:
        return None
    if workers is None:
        import torch

        return torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // workers)


def _threads_note(out: Path, was, now: int | None, resumed: bool) -> list:
    """The thread counts of a threaded study's runs that finished points (``was``, the manifest's, if ``resumed``)
    and this one's; on a resume under a count not among them, one line on stderr saying the last digits may
    differ."""
    was = [t for t in was if t is None or isinstance(t, int)] if isinstance(was, list) and resumed else []
    if was and now not in was:
        print(f"reslimit: note: {out}'s finished points were computed with {' and '.join(map(_count, was))} torch "
              f"thread(s) a point, the rest will be with {_count(now)}: their last digits may differ from an "
              f"uninterrupted run's (the same --workers as before keeps them equal)", file=sys.stderr)
    return was + ([now] if now not in was else [])


def _count(threads: int | None) -> str:
    return "a cluster's" if threads is None else str(threads)


def check_executor(workers, scheduler) -> None:
    """Refuse a pool size or a scheduler address that run_study could not use (before anything is written)."""
    if workers is not None:
        cores = os.cpu_count() or 1
        if positive_int("workers", workers) > MAX_WORKERS_PER_CORE * cores:
            raise ValueError(f"workers must be at most {MAX_WORKERS_PER_CORE} per core ({MAX_WORKERS_PER_CORE * cores} "
                             f"here: each is a process that imports torch); got {workers}")
        if scheduler is not None:
            raise ValueError("give workers (a local pool) or scheduler (a Dask cluster), not both")
    if scheduler is None:
        return
    parts = urlsplit(scheduler) if isinstance(scheduler, str) else None
    try:
        ok = (parts is not None and parts.scheme == "tcp" and bool(parts.hostname) and parts.port is not None
              and parts.path in ("", "/") and not parts.query)
    except ValueError:  # a port out of range
        ok = False
    if not ok:
        raise ValueError(f"scheduler must look like 'tcp://HOST:PORT'; got {scheduler!r}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError('scheduler needs the Dask distributed package: pip install "reslimit[dask]"') from None


def _key(study: Study, grid: list) -> str:
    """The sha256 of what a study's rows depend on: its name, params, grid, engine and torch version."""
    what = {"study": study.name, "params": study.params, "grid": grid, "engine": study.engine,
            "torch": store.versions()["torch"]}
    return hashlib.sha256(json.dumps(what, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _kept_entries(out: Path, study: Study, grid: list, key: str) -> dict:
    """The manifest's entries other than params and versions.

    Refuses another study's name or grid, rows of another engine or torch version, and rows without a
    manifest that the ledger does not prove to be this study's.
    """
    path = out / store.MANIFEST
    if not path.exists():
        _check_orphans(out, key)
        return {}
    old = store.read_manifest(out)
    name = study.name
    if old.get("study", name) != name or old.get("grid", grid) != grid:
        raise ValueError(f"out {str(out)!r} holds study {old.get('study')!r} of {len(old.get('grid', []))} points, "
                         f"not {name!r} on this grid of {len(grid)}; choose another directory, nothing was "
                         f"overwritten")
    was = (old.get("engine"), old.get("versions", {}).get("torch"))
    now = (study.engine, store.versions()["torch"])
    if was != now:
        raise ValueError(f"out {str(out)!r} was computed with {ENGINES.get(was[0], 'an unrecorded engine')} on "
                         f"torch {was[1]}; this run would use {ENGINES[now[0]]} on torch {now[1]}: its rows would "
                         f"differ by rounding. Rerun with the same engine and torch, or choose another directory")
    return {k: v for k, v in old.items() if k not in ("params", "versions", "complete", "study", "version")}


def _check_orphans(out: Path, key: str) -> None:
    """Without a manifest, rows on disk are kept only if every readable ledger line names this study."""
    results, ledger = out / RESULTS, out / LEDGER
    if not any(path.exists() and path.stat().st_size for path in (results, ledger)):
        return
    owners = set()
    for line in _lines(ledger)[0]:
        try:
            owners.add(json.loads(line).get("study"))
        except (ValueError, AttributeError):
            continue  # a damaged line: dropped by _recover if the rest proves the study
    if owners == {key}:
        return
    why = ("it records no finished point" if not owners else
           "it predates study hashes, so it cannot prove its parameters" if None in owners else
           "it does not match these parameters, grid, engine and torch version")
    raise ValueError(f"{results} holds rows of another study (its ledger {LEDGER}: {why}) and "
                     f"{out / store.MANIFEST} is missing; move or delete {results} and {ledger}, or choose another "
                     f"directory")


def _execute(compute, params, points, todo, workers, scheduler):
    """Yield (index, rows) for each point of ``todo`` as it finishes."""
    if not todo:
        return
    if workers is None and scheduler is None:
        for i in todo:
            yield i, compute(params, points[i])
        return
    if scheduler is not None:
        from distributed import Client
        from distributed import as_completed as finished

        with Client(scheduler) as client:
            futures = [client.submit(compute, params, points[i], pure=False) for i in todo]
            index = {future.key: i for future, i in zip(futures, todo)}
            for future in finished(futures):
                yield index[future.key], future.result()
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(max(1, (os.cpu_count() or 1) // workers), os.getpid()))
    try:
        with _sigint_ignored():  # the workers are spawned by submit: they start with Ctrl-C ignored
            futures = {pool.submit(compute, params, points[i]): i for i in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:  # Ctrl-C or an error: the points in flight are not waited for
        for process in list(pool._processes.values()):  # public only from Python 3.14 (kill_workers)
            process.kill()
        raise
    finally:
        pool.shutdown(cancel_futures=True)


@contextmanager
def one_thread() -> Iterator[None]:
    """One torch thread in the block, the count before restored after. A point whose numbers depend on how torch
    splits its reductions (training) computed so is the same in-process, on a pool (whose workers each have
    cores // workers threads) and on a cluster, so that a sweep resumed on another executor keeps its rows; small
    matrices also run faster so on a loaded machine, where OpenMP's workers spin against each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def _sigint_ignored():
    """Ignore SIGINT in the block (main thread only), so that a process started in it inherits the ignoring
    from its first instruction (Python keeps an ignored SIGINT ignored): a Ctrl-C that reaches the whole
    process group while a worker is still importing prints no traceback from it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _sigint_deferred():
    """Hold a Ctrl-C that arrives in the block until it ends, then raise it (main thread only): a point's rows,
    its ledger line and its place in the count of kept points are written as one step. (Masking the signal
    would not do: the kernel may deliver it to any of the process's threads.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)
        elif caught and previous != signal.SIG_IGN:
            raise KeyboardInterrupt


def _init_worker(threads: int, parent: int) -> None:
    """A pool worker: ignores Ctrl-C (its parent handles it) and exits when its parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _die_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    import torch

    torch.set_num_threads(threads)


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


class _Results:
    """results.csv and its ledger, as the parent process appends to them; recovered on creation."""

    def __init__(self, out: Path, n: int, key: str):
        self.csv, self.ledger, self.key = out / RESULTS, out / LEDGER, key
        self.header, self.done = _recover(self.csv, self.ledger, n, key)

    def add(self, i: int, rows) -> None:
        """Append point ``i``'s rows, then its ledger line, each flushed to disk."""
        rows = list(rows)
        columns = _columns(rows)
        prefix = b""
        if rows and self.header is None:
            prefix = self.header = _line(["point", *columns])
        elif rows and _fields(self.header) != ["point", *columns]:
            raise ValueError(f"rows: point {i} gives columns {columns}, results.csv has {_fields(self.header)[1:]}")
        lines = _csv_lines(zip([i] * len(rows), *(_column([row[key] for row in rows]) for key in columns)))
        entry = {"point": i, "rows": len(rows)}
        if rows:
            entry["sha256"] = _digest(self.header, lines)
            store.append_bytes(self.csv, prefix + lines)
        entry["study"] = self.key
        store.append_bytes(self.ledger, (json.dumps(entry) + "\n").encode())
        self.done.add(i)

    def sort(self) -> None:
        """Put the rows and the ledger in grid order (each file replaced atomically), where the points finished in
        another (a pool, a resume): the files of every run of the study are then the same, byte for byte."""
        lines, _ = _lines(self.csv)
        body = lines[1:]
        rows = sorted(body, key=lambda line: _index(_fields(line)[0]))  # stable: a point's rows keep their order
        if rows != body:
            store.write_bytes(self.csv, lines[0] + b"".join(rows))
        entries, _ = _lines(self.ledger)
        ledger = sorted(entries, key=lambda line: json.loads(line)["point"])
        if ledger != entries:
            store.write_bytes(self.ledger, b"".join(ledger))


def _columns(rows: list) -> list[str]:
    if not rows:
        return []
    if not all(isinstance(row, dict) for row in rows):
        raise ValueError("rows: compute must return a list of dicts")
    columns = list(rows[0])
    if any(set(row) != set(columns) for row in rows):
        raise ValueError("rows: the rows of a point must all have the same keys")
    if "point" in columns or not all(isinstance(key, str) for key in columns):
        raise ValueError(f"rows: keys must be strings other than 'point'; got {columns}")
    return columns


def _column(values: list) -> list:
    """A column's cells for csv.writer: ints, floats, bools and strings without line breaks as they are (the
    writer writes str() of a number, which for a float is its repr), the rest through :func:`_cell`."""
    kinds = set(map(type, values))
    if kinds <= {int, float, bool} or (kinds == {str} and not any("\n" in v or "\r" in v for v in values)):
        return values
    return list(map(_cell, values))


def _cell(value):
    """An int as an int, a float with repr (exact round trip), anything else with str (no line breaks)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy and torch scalars
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError(f"rows: values must not hold line breaks; got {text!r}")
    return text


def _line(cells: list) -> bytes:
    return _csv_lines([cells])


def _csv_lines(rows) -> bytes:
    """The CSV lines of ``rows`` (lists of cells), one writer for all."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _fields(line: bytes | None) -> list[str] | None:
    """The cells of one CSV line, or None if it is not one."""
    try:
        return next(csv.reader([line.decode().rstrip("\n")]))
    except (AttributeError, UnicodeDecodeError, csv.Error, StopIteration):
        return None


def _digest(header: bytes, lines: bytes) -> str:
    return hashlib.sha256(header + lines).hexdigest()


def _lines(path: Path) -> tuple[list[bytes], bool]:
    """The complete lines of a file (each with its newline) and whether it ends in a line cut short."""
    data = path.read_bytes() if path.exists() else b""
    lines = data.split(b"\n")
    cut = lines.pop() != b""
    return [line + b"\n" for line in lines], cut


def _recover(results: Path, ledger: Path, n: int, key: str) -> tuple[bytes | None, set[int]]:
    """The header and the finished points of a study directory of ``n`` points, ledger lines of study ``key``.

    Keeps the points whose rows match their ledger line (a line without "study", of an older reslimit, is
    vouched for by the manifest); if anything else is found, reports it and rewrites both files atomically
    with only what is kept.
    """
    entries, bad_entries, foreign = {}, 0, 0
    ledger_lines, ledger_cut = _lines(ledger)
    for line in ledger_lines:
        try:
            entry = json.loads(line)
            ok = (type(entry["point"]) is int and 0 <= entry["point"] < n and type(entry["rows"]) is int
                  and entry["rows"] >= 0 and (entry["rows"] == 0 or isinstance(entry["sha256"], str)))
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok and entry.get("study", key) != key:
            foreign += 1
        elif ok:
            entries[entry["point"]] = entry
        else:
            bad_entries += 1
    lines, cut = _lines(results)
    header, body = (lines[0], lines[1:]) if lines else (None, [])
    columns = _fields(header)
    bad_header = header is not None and (not columns or columns[0] != "point" or len(set(columns)) != len(columns))
    groups, owner, unreadable = {}, [], 0
    for line in body:
        fields = None if bad_header else _fields(line)
        i = _index(fields[0]) if fields and len(fields) == len(columns) else None
        if i is None or i >= n:
            unreadable, i = unreadable + 1, None
        else:
            groups.setdefault(i, []).append(line)
        owner.append(i)
    done = {i for i, e in entries.items() if len(groups.get(i, ())) == e["rows"]
            and (e["rows"] == 0 or _digest(header, b"".join(groups[i])) == e["sha256"])}
    lost = sorted((set(groups) | set(entries)) - done)
    if not (cut or ledger_cut or bad_header or unreadable or bad_entries or foreign or lost):
        return header, done
    kept = [line for line, i in zip(body, owner) if i in done]
    lost_rows = sum(len(groups.get(i, ())) for i in lost)
    header = header if kept else None
    store.write_bytes(results, header + b"".join(kept) if kept else b"")
    store.write_bytes(ledger, b"".join((json.dumps(entries[i]) + "\n").encode() for i in sorted(done)))
    dropped = [what for count, what in (
        (cut, "a line cut short at the end"),
        (bad_header, "an unreadable header"),
        (unreadable, f"{unreadable} unreadable line(s)"),
        (lost_rows, f"{lost_rows} row(s) of point(s) missing, altered or not recorded as finished"),
        (bad_entries + ledger_cut, f"{bad_entries + ledger_cut} unreadable line(s) of {LEDGER}"),
        (foreign, f"{foreign} line(s) of {LEDGER} of another study"),
    ) if count]
    if not dropped:  # ledger entries whose rows are all gone
        dropped = [f"the {LEDGER} entries of point(s) {', '.join(map(str, lost))}, whose rows are missing"]
    message = (f"{results} was damaged: dropped {'; '.join(dropped)}; kept {len(kept)} valid row(s) of "
               f"{len(done)} finished point(s); point(s) {', '.join(map(str, lost)) or 'none'} will be computed "
               f"again")
    print(message, file=sys.stderr)
    warnings.warn(message, stacklevel=4)  # at the caller of run_study
    return header, done


def _index(cell: str) -> int | None:
    try:
        i = int(cell)
    except ValueError:
        return None
    return i if str(i) == cell and i >= 0 else None
