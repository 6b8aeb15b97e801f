"""A claim's verdict: what the theory says, what was measured, within which tolerance, and whether it passed.

Every check returns :class:`Verdict` objects; :func:`reslimit.claims.run` writes them to ``OUT/claims.json`` as
:meth:`Verdict.to_dict` gives them, and ``reslimit report`` reads them back with :meth:`Verdict.from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

Value = float | str | None


@dataclass(frozen=True)
class Verdict:
    """One verdict of a claim.

    Attributes:
        claim: what is claimed, in words (with the setting it is measured in).
        source: where the claim comes from (the paper's result, the course, "derived in ...").
        theory: the theory's value (a number, or text such as a band "[a, b]" or a rule "> 0 in every seed").
        measured: the value measured (None where there is none, e.g. no critical beta found).
        tolerance: how far ``measured`` may be from ``theory`` (a number, or text naming the rule).
        passed: whether it is within the tolerance.
        figure: the path of the figure that shows it (None: no figure).
        note: a remark the report shows beside the verdict (None: none).
        command: the command line that reproduces it (set by :func:`reslimit.claims.run`).
    """

    claim: str
    source: str
    theory: Value
    measured: Value
    tolerance: Value
    passed: bool
    figure: str | None
    note: str | None = None
    command: str | None = None

    def __post_init__(self):
        if not isinstance(self.passed, bool):
            kind = type(self.passed)
            raise ValueError(f"passed must be a bool (True or False); got {self.passed!r} ({kind.__module__}."
                             f"{kind.__qualname__}) for the claim {self.claim!r}")

    def to_dict(self) -> dict:
        """The verdict as written to claims.json: {claim, source, theory, measured, tolerance, passed, figure},
        then ``note`` and ``command`` where they are set, in that order."""
        d = asdict(self)
        return {k: v for k, v in d.items() if k not in OPTIONAL or v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> Verdict:
        """The verdict of a dict of :meth:`to_dict`'s keys (``note`` and ``command`` may be absent).

        Raises:
            ValueError: ``d`` is not a dict, lacks a required key or has a key that is not a field.
        """
        if not isinstance(d, dict):
            raise ValueError(f"a verdict must be a dict with the keys {', '.join(KEYS)}; got {type(d).__name__}")
        missing = [k for k in KEYS if k not in OPTIONAL and k not in d]
        unknown = [k for k in d if k not in KEYS]
        if missing or unknown:
            raise ValueError(f"a verdict must have the keys {', '.join(k for k in KEYS if k not in OPTIONAL)} "
                             f"(and may have {', '.join(OPTIONAL)}); "
                             + "; ".join(([f"it lacks {', '.join(missing)}"] if missing else [])
                                         + ([f"{', '.join(unknown)} is not one"] if unknown else [])))
        return cls(**d)


KEYS = tuple(f.name for f in fields(Verdict))  # claims.json's keys, in its order
OPTIONAL = ("note", "command")  # written only when set
