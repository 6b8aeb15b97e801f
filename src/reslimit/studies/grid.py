"""Grids typed on a command line: a comma list ("0.25,0.5,1") or "start:stop:num" (inclusive, like numpy.linspace)."""

from __future__ import annotations

import math

import numpy as np

MAX_VALUES = 10_000  # values one grid may hold (a study runs every point of the product of its grids)


def parse_grid(name: str, text: str, *, low=None, high=None, low_open=False, high_open=False,
               integer=False, geometric=False) -> list:
    """The values that ``text`` lists, in order, duplicates removed.

    ``text`` is a comma list of at most MAX_VALUES numbers or ``start:stop:num`` with ``1 <= num <= MAX_VALUES``
    values from start to stop inclusive (``num == 1`` gives start). With ``integer=True`` (depths, say) the
    values are ints >= 1, a linspace cast like ``np.linspace(start, stop, num, dtype=int)`` (so "10:1e3:10"
    gives the paper's depths); otherwise floats. With ``geometric=True`` (learning rates) start:stop:num is
    ``np.geomspace(start, stop, num)`` instead, start and stop > 0 ("2.44e-4:4:15" is 2^-12 .. 2^2 an octave
    apart). Every value must be finite and lie in the interval given by low/high (open ends where asked).

    Raises:
        ValueError naming ``name`` (e.g. "--betas"), the text, what is wrong and what is allowed.
    """
    if integer and (low is None or low < 1):
        low, low_open = 1, False
    kind = "integers" if integer else "reals"
    interval = (f"{'(' if low_open else '['}{'-inf' if low is None else low}, "
                f"{'inf' if high is None else high}{')' if high_open else ']'}")

    def fail(why: str):
        raise ValueError(f"{name} must be a comma list or start:stop:num (num >= 1) of {kind} in {interval}; "
                         f"got {text!r}: {why}")

    def number(item: str) -> float:
        try:
            value = float(item)
        except ValueError:
            fail(f"{item.strip()!r} is not a number")
        if not math.isfinite(value):
            fail(f"{item.strip()!r} is not a finite number")
        return value

    if not isinstance(text, str) or not text.strip():
        fail("it is empty")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            fail("a range needs exactly start:stop:num")
        start, stop = number(parts[0]), number(parts[1])
        try:
            num = int(parts[2])
        except ValueError:
            num = 0
        if not 1 <= num <= MAX_VALUES:
            fail(f"num must be an integer in [1, {MAX_VALUES}], not {parts[2].strip()!r}")
        if geometric and min(start, stop) <= 0:
            fail("a geometric range needs start and stop > 0")
        values = (np.geomspace(start, stop, num) if geometric else
                  np.linspace(start, stop, num, dtype=int if integer else None)).tolist()
    else:
        if text.count(",") >= MAX_VALUES:
            fail(f"it lists more than {MAX_VALUES} values")
        values = [number(item) for item in text.split(",")]
        if integer:
            if any(v != int(v) for v in values):
                fail(f"{next(v for v in values if v != int(v))!r} is not an integer")
            values = [int(v) for v in values]
    for v in values:
        if (low is not None and (v < low or (low_open and v == low))) or \
                (high is not None and (v > high or (high_open and v == high))):
            fail(f"{v!r} is outside {interval}")
    return list(dict.fromkeys(values))


def format_grid(values) -> str:
    """The text :func:`parse_grid` reads back as ``values`` (a non-empty list of ints, or of reals).

    "start:stop:num" when the values are exactly ``numpy.linspace(start, stop, num)`` with num >= 4 (cast to int
    for ints, as parse_grid casts them), else a comma list; reals written with repr, so the text round-trips.
    """
    values = list(values)
    integer = all(isinstance(v, int) for v in values)
    text = [str(v) if integer else repr(float(v)) for v in values]
    if len(values) >= 4 and values == np.linspace(values[0], values[-1], len(values),
                                                  dtype=int if integer else None).tolist():
        return f"{text[0]}:{text[-1]}:{len(values)}"
    return ",".join(text)
