"""Grids typed on a command line: a comma list ("0.25,0.5,1"), "start:stop:num" (inclusive, like numpy.linspace) or,
for integers, the geometric "start:stop:xK" (start, start K, start K^2, ..., stop: "8:1024:x2")."""

from __future__ import annotations

import math

import numpy as np

MAX_VALUES = 10_000  # values one grid may hold (a study runs every point of the product of its grids)
INT_MAX = 2**63 - 1  # the largest integer of an integer grid (a count that fits an int64)


def _short(text) -> str:
    """``text`` as repr, its middle left out past 40 characters (a 400-digit number is named by its length)."""
    return repr(text) if not isinstance(text, str) or len(text) <= 40 else \
        f"{text[:12]!r}... ({len(text)} characters)"


def parse_grid(name: str, text: str, *, low=None, high=None, low_open=False, high_open=False,
               integer=False, geometric=False) -> list:
    """The values that ``text`` lists, in order, duplicates removed.

    ``text`` is a comma list of at most MAX_VALUES numbers or ``start:stop:num`` with ``1 <= num <= MAX_VALUES``
    values from start to stop inclusive (``num == 1`` gives start). With ``integer=True`` (depths, say) the
    values are ints >= 1, a linspace cast like ``np.linspace(start, stop, num, dtype=int)`` (so "10:1e3:10"
    gives the paper's depths); otherwise floats. With ``geometric=True`` (learning rates) start:stop:num is
    ``np.geomspace(start, stop, num)`` instead, start and stop > 0 ("2.44e-4:4:15" is 2^-12 .. 2^2 an octave
    apart). With ``integer=True`` ``text`` may also be the geometric ``start:stop:xK``: start, start K, start K^2,
    ..., stop, for integers start >= 1 and K >= 2 and a stop that is start K^n exactly ("8:1024:x2" is 8, 16, ...,
    1024). Every value must be finite and lie in the interval given by low/high (open ends where asked).

    Raises:
        ValueError naming ``name`` (e.g. "--betas"), the text, what is wrong and what is allowed.
    """
    if integer and (low is None or low < 1):
        low, low_open = 1, False
    if integer and high is None:
        high = INT_MAX  # a count fits an int64
    kind = "integers" if integer else "reals"
    interval = (f"{'(' if low_open else '['}{'-inf' if low is None else low}, "
                f"{'inf' if high is None else '2^63 - 1' if high == INT_MAX else high}{')' if high_open else ']'}")

    def fail(why: str):
        raise ValueError(f"{name} must be a comma list or start:stop:num (num >= 1) of {kind} in {interval}; "
                         f"got {_short(text)}: {why}")

    def number(item: str) -> float:
        try:
            value = float(item)
        except ValueError:
            fail(f"{_short(item.strip())} is not a number")
        if not math.isfinite(value):
            digits = item.strip().lstrip("+-")
            fail(f"an integer of {len(digits)} digits is outside {interval}" if digits.isdigit() else
                 f"{_short(item.strip())} is not a finite number")
        return value

    def inside(v: float) -> None:
        if (low is not None and (v < low or (low_open and v == low))) or \
                (high is not None and (v > high or (high_open and v == high))):
            fail(f"{v!r} is outside {interval}")

    if not isinstance(text, str) or not text.strip():
        fail("it is empty")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            fail("a range needs exactly start:stop:num")
        start, stop, count = number(parts[0]), number(parts[1]), parts[2].strip()
        if integer and max(start, stop) > high:  # before numpy casts it to int64
            fail(f"{max(start, stop)!r} is outside {interval}")
        values = (_powers(start, stop, count, integer, fail) if count.startswith("x") else
                  _linear(start, stop, count, integer, geometric, fail))
    else:
        if text.count(",") >= MAX_VALUES:
            fail(f"it lists more than {MAX_VALUES} values")
        values = [number(item) for item in text.split(",")]
        if integer:
            if any(v != int(v) for v in values):
                fail(f"{next(v for v in values if v != int(v))!r} is not an integer")
            values = [int(v) for v in values]
    for v in values:
        inside(v)
    return list(dict.fromkeys(values))


def _linear(start: float, stop: float, count: str, integer: bool, geometric: bool, fail) -> list:
    """start:stop:num: ``num`` values from start to stop inclusive, evenly spaced (on a log scale if ``geometric``);
    ``fail(why)`` raises."""
    try:
        num = int(count)
    except ValueError:
        num = 0
    if not 1 <= num <= MAX_VALUES:
        fail(f"num must be an integer in [1, {MAX_VALUES}], not {count!r}"
             + (" (or xK, K >= 2, for a geometric range start:stop:xK)" if integer else ""))
    if geometric and min(start, stop) <= 0:
        fail("a geometric range needs start and stop > 0")
    return (np.geomspace(start, stop, num) if geometric else
            np.linspace(start, stop, num, dtype=int if integer else None)).tolist()


def _powers(start: float, stop: float, factor: str, integer: bool, fail) -> list[int]:
    """start:stop:xK: start, start K, ..., stop = start K^n, for integers start >= 1, K >= 2; ``fail(why)`` raises."""
    form = "a geometric range start:stop:xK needs"
    if not integer:
        fail("start:stop:xK (a geometric range) is for integer grids such as --depths; use start:stop:num")
    try:
        k = int(factor[1:])
    except ValueError:
        k = 0
    if k < 2:
        fail(f"{form} an integer factor K >= 2, not {factor!r}")
    if start != int(start) or stop != int(stop) or start < 1:
        fail(f"{form} integers 1 <= start <= stop")
    first, last = int(start), int(stop)
    if last < first:
        fail(f"{form} start <= stop, not {first} > {last}")
    values = [first]
    while values[-1] < last:
        values.append(values[-1] * k)
    if values[-1] != last:
        below = values[-2]
        fail(f"{form} a stop that is start x K^n: {last} is not {first} x {k}^n (the nearest are {below} and "
             f"{values[-1]}: {first}:{below}:x{k} or {first}:{values[-1]}:x{k})")
    return values


def format_grid(values) -> str:
    """The text :func:`parse_grid` reads back as ``values`` (a non-empty list of ints, or of reals).

    "start:stop:num" when the values are exactly ``numpy.linspace(start, stop, num)`` with num >= 4 (cast to int
    for ints, as parse_grid casts them), "start:stop:xK" for 4 or more ints start, start K, ..., else a comma list;
    reals written with repr, so the text round-trips.
    """
    values = list(values)
    integer = all(isinstance(v, int) for v in values)
    text = [str(v) if integer else repr(float(v)) for v in values]
    if len(values) >= 4 and values == np.linspace(values[0], values[-1], len(values),
                                                  dtype=int if integer else None).tolist():
        return f"{text[0]}:{text[-1]}:{len(values)}"
    if integer and len(values) >= 4 and values[0] >= 1 and values[1] % values[0] == 0 and values[1] > values[0] \
            and values == [values[0] * (values[1] // values[0]) ** i for i in range(len(values))]:
        return f"{values[0]}:{values[-1]}:x{values[1] // values[0]}"
    return ",".join(text)
