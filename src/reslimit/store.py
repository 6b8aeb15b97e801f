"""Writing a study to disk: a tidy CSV, a JSON manifest beside it, and a guard against mixing studies.

A study directory holds ``manifest.json`` with a "params" entry and the "study" and "version" that wrote it
(:func:`stamp`: a study's kind, :class:`reslimit.studies.protocol.Kind`). Writing into a directory of another
command, of other parameters or of a user's files is refused with a ValueError before anything is written
(:func:`reslimit.studies.protocol.claimed`, the guard every writer goes through). One process at a time writes a
directory: :func:`writing` holds its ``.lock``.

Every file the package writes goes through :func:`replacing`: a fresh temporary name in the target's folder,
created with O_CREAT|O_EXCL|O_NOFOLLOW (never an existing file, never through a link), renamed over the target
once whole; a target that is a symbolic link is refused, so no write follows a link out of its folder.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from . import _checks
from ._types import Folder

MANIFEST = "manifest.json"
LOCK = ".lock"
_CREATE = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)  # never via a link


class Busy(ValueError):
    """A study directory is being written by another process."""


@contextmanager
def writing(out, *names: str) -> Iterator[Path]:
    """Hold ``out``/.lock (``out`` created if needed) while the block writes ``out``; yields ``out`` as a Path.
    ``names``: files the block will write in ``out``, refused at once, before any work, if one is a symbolic link
    (:func:`unlinked`), as the lock is.

    The lock is the operating system's (flock on POSIX), so the kernel releases it when its holder exits or
    is killed: a killed writer leaves no stale lock. Reentrant within a process (a study that holds it may
    call run_study, which takes it again).

    Raises:
        Busy (a ValueError) at once if another process holds the lock; ValueError if ``out`` is empty or a file,
        or naming the lock or one of ``names`` that is a symbolic link.
    """
    out = _checks.folder("out", out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a directory; {str(out)!r} is a file")
    out.mkdir(parents=True, exist_ok=True)
    for name in (LOCK, *names):  # the lock too: filelock opens it with O_TRUNC, which would empty a link's target
        unlinked(out / name)
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


def unlinked(path: Folder) -> Path:
    """``path`` as a Path, if it is not a symbolic link (it need not exist); ValueError naming it otherwise."""
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link (to {os.readlink(path)!r}); reslimit writes no file through a "
                         f"link: remove it or choose another folder")
    return path


@contextmanager
def replacing(path: Folder, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file opened in ``mode`` ("wb" or "w") whose bytes replace ``path`` atomically when the block ends.

    The file is ``.<name>.<random>.tmp`` in ``path``'s folder, created with O_CREAT|O_EXCL|O_NOFOLLOW (a fresh
    file: nothing planted under that name is opened, no link followed), flushed to disk and renamed over
    ``path`` (os.replace, which replaces a name, never writes through it); an error in the block removes it
    and leaves ``path`` as it was. ValueError naming ``path`` if it is a symbolic link (:func:`unlinked`).
    """
    path = unlinked(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, _CREATE | os.O_EXCL, 0o666)  # the umask applies, as to any file the user creates
    try:
        with open(fd, mode, **({} if "b" in mode else {"newline": "", "encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Folder, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, through no link (:func:`replacing`)."""
    with replacing(path) as f:
        f.write(data)


def append_bytes(path: Folder, data: bytes) -> None:
    """Append ``data`` to ``path`` (created if missing) and flush it to disk; ValueError naming ``path`` if it is a
    symbolic link (:func:`unlinked`; opened with O_NOFOLLOW besides, so a link planted meanwhile is not followed)."""
    with open(os.open(unlinked(path), _CREATE | os.O_APPEND, 0o666), "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_text(path: Folder, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically, through no link (:func:`replacing`)."""
    write_bytes(path, text.encode("utf-8"))


def versions() -> dict:
    """Versions of Python and of the packages that produce the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("reslimit", "torch", "torchdiffeq", "torchsde", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def write_rows(path, rows: list[dict]) -> None:
    """Write tidy rows to a CSV file atomically, through no link (:func:`replacing`)."""
    with replacing(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def stamp(study) -> dict:
    """The entries that say which study wrote a manifest: {"study": name, "version": version} of a study's kind (an
    object with ``name`` and ``version``), {"study": name} of a bare name (a sweep no kind declares), {} of None."""
    if study is None:
        return {}
    if isinstance(study, str):
        return {"study": study}
    return {"study": study.name, "version": study.version}


def write_manifest(out, params: dict, *, study=None, **entries) -> None:
    """manifest.json: the parameters, the study that wrote it (:func:`stamp` of ``study``), the entries given
    (results, verdicts) and the package versions."""
    _write_json(Path(out) / MANIFEST, {"params": params, **stamp(study), **entries, "versions": versions()})


def _write_json(path: Path, value: dict) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")


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
    return read_record(Path(out) / MANIFEST)


def read_record(path) -> dict:
    """A study's record ``path`` (a manifest) as a dict; a ValueError naming the file if it is not a JSON object,
    with the advice of its folder: a sweep's ledger or train's checkpoint rebuilds it, else the same command."""
    path = Path(path)
    ledger, checkpoint = path.parent / "points.jsonl", path.parent / "checkpoint.pt"
    source = (f"a sweep rebuilds it from its ledger {ledger}" if ledger.exists() else
              f"train rebuilds it from its checkpoint {checkpoint}" if checkpoint.exists() else
              "the same command writes it anew")
    return read_json(path, f"delete it ({source}) or choose another directory")


def update_manifest(out, **entries) -> None:
    """Add ``entries`` (results of a finished study: critical betas, verdicts) to manifest.json, keeping the rest."""
    manifest = read_manifest(out)
    kept = {k: v for k, v in manifest.items() if k != "versions"}
    _write_json(Path(out) / MANIFEST, kept | entries | {"versions": versions()})


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
