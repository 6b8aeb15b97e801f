"""Reading a study folder back: :func:`load` finds the study that wrote it and hands the folder to its kind.

Every command that writes a folder writes a table and a JSON record of how it was made, whose "study" and
"version" name the :class:`~reslimit.studies.protocol.Kind` that wrote it (declared in the study's own module):

    ``reslimit scaling``, ``phase``, ``trainability``, ``converge``, ``bounds``, ``propagation``
                                        results.csv, manifest.json
    ``reslimit train``                  history.csv, manifest.json
    ``reslimit demo``                   demo.csv, demo.json (its "settings")

:func:`load` reads any of them (:func:`reslimit.studies.discover` lists the kinds), and the folders of earlier
versions of reslimit whose manifest names no study (bounds and converge, told by their manifests' keys; a demo
by its demo.json).
"""

from __future__ import annotations

from pathlib import Path

from . import store
from ._types import Folder
from .studies import discover
from .studies.protocol import Kind, Result, study_of


def load(out: Folder) -> Result:
    """The study folder ``out`` read back by the study that wrote it.

    Args:
        out: a folder written by a study (``reslimit scaling``, ``phase``, ``bounds``, ``converge``, ``demo``,
            ``train``, ``trainability``, ``propagation``; :func:`reslimit.studies.discover` lists them all).

    Returns:
        A :class:`~reslimit.studies.protocol.Result`: ``frame()`` (the rows as a pandas DataFrame, typed exactly,
        with "study", "version", "params" and "manifest" in its ``attrs``), ``rows()``, ``summary()``, ``plot()``
        (a matplotlib Figure), ``save(out)``; ``study``, ``version``, ``params``, ``manifest``. A sweep interrupted
        before its end loads the points it finished; its manifest then says ``"complete": false``.

    Raises:
        ValueError: in one line, naming the folder and what it is not: it does not exist, is a file, holds no
            manifest, an unreadable one, one of a study this reslimit does not know or of a newer version, or no
            readable table.
    """
    folder, kind, manifest = _identify(out)
    return kind.load(folder, manifest)


def _any_writer(known: dict[str, Kind]) -> str:
    return "; ".join(f"{k.name} by {k.writer}" for k in sorted(known.values(), key=lambda k: k.name))


def _identify(out) -> tuple[Path, Kind, dict]:
    """(the folder, its kind, its manifest); ValueError naming the folder and what it is not."""
    folder = Path(out)
    known = discover()
    if not folder.exists():
        raise ValueError(f"{str(folder)!r} does not exist; a study folder is written by a command: "
                         f"{_any_writer(known)}")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a study folder (written by a command: "
                         f"{_any_writer(known)})")
    names = sorted({k.manifest for k in known.values()}, key=lambda name: (name != store.MANIFEST, name))
    found = [name for name in names if (folder / name).is_file()]
    if not found:
        tables = [k.table for k in known.values() if (folder / k.table).is_file()]
        has = f"holds {tables[0]} but " if tables else ""
        nor = f" (nor {', '.join(names[1:])})" if names[1:] else ""
        raise ValueError(f"{str(folder)!r} {has}has no {names[0]}{nor}: not a study folder, or one whose manifest "
                         f"was deleted (rerun the command with this folder: a sweep rebuilds its manifest from its "
                         f"ledger points.jsonl); study folders are written by {_any_writer(known)}")
    path = folder / found[0]
    owners = [k for k in known.values() if k.manifest == found[0]]
    advice = (f"rerun {owners[0].writer} into a new folder" if len(owners) == 1 else  # a file only one kind writes
              f"delete it (a sweep rebuilds it from its ledger {folder / 'points.jsonl'}) or choose another directory")
    manifest = store.read_json(path, advice)
    return folder, _kind_of(path, manifest, known), manifest


def _kind_of(path: Path, manifest: dict, known: dict[str, Kind]) -> Kind:
    """The kind a manifest names (its "study", at a version this reslimit reads), or that an earlier reslimit's
    manifest naming none shows (its keys: bounds, converge; its file: demo.json); ValueError saying what it is not."""
    name = study_of(manifest, path.name)
    if name is None:
        raise ValueError(f"{str(path)!r} names no study: not the manifest of a study folder (written by a command: "
                         f"{_any_writer(known)})")
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"{str(path)!r} names the study {name!r}, which this reslimit does not know (it knows "
                         f"{', '.join(known)}); a newer reslimit may have written it")
    kind, version = known[name], manifest.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= kind.version:
        raise ValueError(f"{str(path)!r} holds a {name} study of version {version!r}; this reslimit reads versions "
                         f"1 to {kind.version}: upgrade reslimit to read it")
    return kind
