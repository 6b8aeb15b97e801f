"""The public API is typed: every parameter and return of the names in reslimit.__all__ (functions, classes'
constructors and public methods) has a hint, and every hint resolves (a typo in a hint fails here)."""

import inspect
import typing

import pandas as pd
import pytest
from matplotlib.figure import Figure

import reslimit
from reslimit import limits


def _public_callables():
    for name in [*reslimit.__all__, "limits.get_limit", "limits.Limit"]:
        obj = getattr(limits, name.split(".")[1]) if name.startswith("limits.") else getattr(reslimit, name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if (attr == "__init__" or not attr.startswith("_")) and inspect.isfunction(member):
                    yield f"{name}.{attr}", member
        elif inspect.isfunction(obj):
            yield name, obj


CALLABLES = dict(_public_callables())


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_public_callable_is_fully_hinted(name):
    fn = CALLABLES[name]
    sig = inspect.signature(fn)
    bare = [p for p, param in sig.parameters.items() if p not in ("self", "cls") and
            param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD) and param.annotation is param.empty]
    assert not bare, f"{name}: parameters without a hint: {bare}"
    if not name.endswith("__init__"):
        assert sig.return_annotation is not sig.empty, f"{name}: no return hint"
    typing.get_type_hints(fn, localns={"Figure": Figure, "pd": pd})  # every hint names something real


def test_the_package_ships_its_hints():
    from importlib.resources import files

    assert files("reslimit").joinpath("py.typed").is_file()
    assert len(CALLABLES) > 40
