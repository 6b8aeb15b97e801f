"""The claims of the theory, one module each, found by discovery, each checked at its quick or full sizes.

A claim is a module ``reslimit/claims/NAME.py`` (a module whose name starts with ``_`` is a helper, not a claim)
that holds:

- its docstring: the claim's statement and its source;
- ``check(out, **sizes) -> list[Verdict]``: runs the studies under ``out`` and returns the claim's verdicts
  (:class:`Verdict`);
- ``QUICK`` and ``FULL``: the sizes, keyword arguments of ``check``, of ``reslimit report --quick`` (minutes on
  2 cores) and of the acceptance run; the bound claims take theirs from :func:`reslimit.studies.bounds.plan`, the
  plan that ``reslimit bounds`` runs too;
- ``THEORY`` and ``TOLERANCE``: the claim and its tolerance in one line each, for the table of claims.

:data:`CLAIMS` (name -> :class:`Claim`, sorted by name) is :func:`discover` of this package: a new claim is one new
module, and ``python -m reslimit.claims --write-scripts validation --write-table docs/claims.md`` then writes its
script and its row of the table (the tests fail until both are current).

One claim runs as ``python -m reslimit.claims NAME [--quick|--full] [--out DIR]`` (:func:`main`) or from the
checkout as ``python validation/NAME.py ...``; ``reslimit report`` runs each in its own process.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import pkgutil
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Callable

from .. import store
from ._generate import write_scripts, write_table
from ._verdict import Verdict

REQUIRED = ("check", "QUICK", "FULL", "THEORY", "TOLERANCE")  # what a claim module defines


@dataclass(frozen=True)
class Claim:
    """A claim: its module's check, sizes, statement and table entries.

    ``check(out, **quick)`` or ``check(out, **full)`` returns its verdicts; ``doc`` is the module's docstring
    (the statement, shown by ``--help``), ``theory`` and ``tolerance`` its ``THEORY`` and ``TOLERANCE``.
    """

    name: str
    module: ModuleType
    check: Callable[..., list[Verdict]]
    quick: dict
    full: dict
    doc: str
    theory: str
    tolerance: str


def discover(package: ModuleType | str) -> dict[str, Claim]:
    """The claims of ``package`` (a package, or its importable name): each module of it whose name does not start
    with ``_``, imported, keyed and sorted by its name.

    Raises:
        ValueError: ``package`` is not a package, or a claim module lacks a docstring or one of ``check``,
            ``QUICK``, ``FULL``, ``THEORY``, ``TOLERANCE`` (the message names the module).
    """
    if isinstance(package, str):
        package = importlib.import_module(package)
    if not hasattr(package, "__path__"):
        raise ValueError(f"package must be a package (a folder of modules); {package.__name__} is a module")
    claims = {}
    for name in sorted(info.name for info in pkgutil.iter_modules(package.__path__)):
        if name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{name}")
        doc = inspect.getdoc(module)
        missing = [a for a in REQUIRED if not hasattr(module, a)] + ([] if doc else ["a docstring"])
        if missing:
            raise ValueError(f"the claim module {module.__name__} ({module.__file__}) must define a docstring and "
                             f"{', '.join(REQUIRED)}; it lacks {', '.join(missing)} (a helper module's name starts "
                             f"with '_')")
        claims[name] = Claim(name=name, module=module, check=module.check, quick=module.QUICK, full=module.FULL,
                             doc=doc, theory=module.THEORY, tolerance=module.TOLERANCE)
    return claims


CLAIMS: dict[str, Claim] = discover(__name__)


def run(name: str, out, *, quick: bool = True, command: str | None = None) -> list[Verdict]:
    """Check claim ``name`` at its quick or full sizes and write ``out/claims.json``; return the verdicts.

    Each verdict gets ``command`` (default ``python -m reslimit.claims NAME --quick|--full --out OUT``), the
    line that reproduces it; claims.json is the list of :meth:`Verdict.to_dict`.

    Raises:
        ValueError: ``name`` is not a key of :data:`CLAIMS`, or ``out`` holds a symbolic link (a claim's studies
            write in folders of ``out`` it names, which a link would lead out of ``out``), before any work.
        TypeError: the claim's check returned something other than a list of :class:`Verdict`.
    """
    if name not in CLAIMS:
        raise ValueError(f"name must be a claim of reslimit.claims ({', '.join(CLAIMS)}); got {name!r}")
    out = Path(out)
    links = sorted(p.name for p in out.iterdir() if p.is_symlink()) if out.is_dir() else []
    if links:
        raise ValueError(f"out {str(out)!r} holds symbolic links ({', '.join(links)}); a claim writes no file through "
                         f"a link: remove them or choose another folder")
    claim = CLAIMS[name]
    verdicts = claim.check(out, **(claim.quick if quick else claim.full))
    wrong = [type(v).__name__ for v in verdicts if not isinstance(v, Verdict)]
    if wrong:
        raise TypeError(f"the check of claim {name} must return a list of Verdict; it returned {', '.join(wrong)}")
    if command is None:
        command = shlex.join(["python", "-m", "reslimit.claims", name, "--quick" if quick else "--full", "--out",
                              str(out)])
    verdicts = [v if v.command is not None else replace(v, command=command) for v in verdicts]
    out.mkdir(parents=True, exist_ok=True)
    store.write_text(out / "claims.json", json.dumps([v.to_dict() for v in verdicts], indent=2) + "\n")
    return verdicts


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``PROG: error: MESSAGE``, with exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None, *, name: str | None = None) -> int:
    """The command line of one claim; exit status 0 if every verdict passed, else 1 (2: bad arguments).

    ``python -m reslimit.claims NAME [--quick|--full] [--out DIR]``; with ``name`` given (the scripts
    ``validation/NAME.py``) the claim is not an argument. ``--out`` defaults to results/validation/NAME; full
    sizes are the default. The recorded command is the line typed (``python validation/NAME.py ...`` for a
    script). ``python -m reslimit.claims [--write-scripts DIR] [--write-table FILE]`` writes the scripts
    (validation/) and the table of claims (docs/claims.md) from :data:`CLAIMS` instead.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    doc = CLAIMS[name].doc if name in CLAIMS else __doc__
    parser = _Parser(prog=f"python {sys.argv[0]}" if name else "python -m reslimit.claims",
                     description=doc.strip().splitlines()[0])
    if name is None:
        parser.add_argument("name", nargs="?", metavar="NAME", help=f"the claim to check: {', '.join(CLAIMS)}")
        parser.add_argument("--write-scripts", metavar="DIR",
                            help="write the script NAME.py of every claim into DIR (validation), and remove the "
                                 "scripts it wrote there for claims that are gone")
        parser.add_argument("--write-table", metavar="FILE", help="write the table of claims to FILE (docs/claims.md)")
    parser.add_argument("--out", default=None, help="output folder (default results/validation/NAME)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (minutes on 2 cores)")
    size.add_argument("--full", action="store_true", help="the acceptance sizes (default)")
    args = parser.parse_args(argv)
    if name is None and (args.write_scripts is not None or args.write_table is not None):
        return _write(parser, args)
    prefix = ["python", sys.argv[0]] if name else ["python", "-m", "reslimit.claims"]
    if name is None:
        if args.name is None:
            parser.error(f"give the NAME of a claim ({', '.join(CLAIMS)}), or --write-scripts DIR or --write-table "
                         f"FILE")
        if args.name not in CLAIMS:
            parser.error(f"NAME must be a claim of reslimit.claims ({', '.join(CLAIMS)}); got {args.name!r}")
        name = args.name
    if args.out is not None and not args.out.strip():
        parser.error("--out must be a folder path; got an empty one")
    out = Path(args.out) if args.out is not None else Path("results/validation") / name
    # the torch threads, where set (reslimit report sets them): with them the command gives the same numbers
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if os.environ.get("OMP_NUM_THREADS") else ""
    try:
        verdicts = run(name, out, quick=args.quick, command=threads + shlex.join(prefix + argv))
    except ValueError as error:  # a size this machine cannot hold, say: the message says what to change
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"{parser.prog}: interrupted: {out / 'claims.json'} not written\n")
    return 0 if all(v.passed for v in verdicts) else 1


def _write(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``--write-scripts DIR`` and ``--write-table FILE`` of :func:`main`: one line each on what was written."""
    if args.name is not None or args.out is not None or args.quick or args.full:
        parser.error("--write-scripts and --write-table take no NAME, --out, --quick or --full")
    for option, value in (("--write-scripts", args.write_scripts), ("--write-table", args.write_table)):
        if value is not None and not value.strip():
            parser.error(f"{option} must be a path; got an empty one")
    if args.write_scripts is not None:
        written, removed = write_scripts(args.write_scripts, CLAIMS)
        print(f"wrote {len(written)} scripts in {args.write_scripts}; removed "
              f"{', '.join(p.name for p in removed) if removed else 'none'}")
    if args.write_table is not None:
        print(f"wrote the table of {len(CLAIMS)} claims to {write_table(args.write_table, CLAIMS)}")
    return 0
