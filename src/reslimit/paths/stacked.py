"""Several paths side by side: one ensemble whose members are the members of the paths given, in order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .base import WeightPath


class Stacked(WeightPath):
    """The paths ``paths`` as one, their ensembles concatenated: member m of the stack is member m - E_1 - ... of the
    path it falls in, so X(t) = cat(X_1(t), ..., X_n(t)) along the ensemble axis, and so are the weights.

    A path may appear several times (``Stacked([p] * 3)`` repeats p's draws three times): each distinct path is
    drawn once per query. The paths share width, cols, dtype, device and class (so kind, limit and natural beta are
    theirs). Not registered in PATHS: it is built from paths, not by name. A batched training of one network per
    (learning rate, seed) puts the networks of every learning rate on the paths of their seed this way.

    Example:
        >>> a, b = IID(8, seed=1), IID(8, seed=2)
        >>> Stacked([a, b, a]).weights(10).shape          # (10, 3, 8, 8): members a, b, a
    """

    def __init__(self, paths: Sequence[WeightPath]):
        paths = list(paths)
        if not paths or not all(isinstance(p, WeightPath) for p in paths):
            raise ValueError(f"paths must be a non-empty sequence of WeightPaths; got {paths!r}")
        first = paths[0]
        odd = [p for p in paths if (type(p), p.width, p.cols, p.dtype, p.device) != (
            type(first), first.width, first.cols, first.dtype, first.device)]
        if odd:
            raise ValueError(f"paths must share class, width, cols, dtype and device; got {first!r} and {odd[0]!r}")
        super().__init__(first.width, sum(p.ensemble for p in paths), seed=first.seed, std=first.std,
                         dtype=first.dtype, device=first.device, cols=first.cols)
        self._paths = paths
        self.kind = first.kind  # type: ignore[misc]  # the class facts of the paths stacked
        self.limit = first.limit  # type: ignore[misc]
        self.sde_type = first.sde_type  # type: ignore[misc]
        self.refinement_consistent = first.refinement_consistent  # type: ignore[misc]
        self.exact_second_moment = first.exact_second_moment  # type: ignore[misc]

    paths = property(lambda self: list(self._paths), doc="The paths stacked, in order.")

    @property
    def natural_beta(self) -> float:
        return self._paths[0].natural_beta

    def to(self, device=None, dtype=None) -> Stacked:
        """The stack of the paths moved or cast (:meth:`WeightPath.to`)."""
        moved = {id(p): p.to(device, dtype) for p in self._paths}
        if all(moved[id(p)] is p for p in self._paths):
            return self
        return Stacked([moved[id(p)] for p in self._paths])

    def check_limit(self) -> None:
        for p in self._distinct():
            p.check_limit()

    def _check_depth(self, depth: int) -> None:
        for p in self._distinct():
            p._check_depth(depth)

    def _repr_args(self) -> dict:
        return {"paths": self._paths}

    def __repr__(self) -> str:
        return f"Stacked({self._paths!r})"

    def _distinct(self) -> list[WeightPath]:
        return list({id(p): p for p in self._paths}.values())

    def _stack(self, query) -> torch.Tensor:
        """cat over the paths of ``query(path)`` along the ensemble axis (1), each distinct path queried once."""
        got = {id(p): query(p) for p in self._distinct()}
        return torch.cat([got[id(p)] for p in self._paths], dim=1)

    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor:
        return self._stack(lambda p: p._weights(depth, start, stop))

    def _values(self, times: np.ndarray) -> torch.Tensor:
        return self._stack(lambda p: p._values(times))


class Members(WeightPath):
    """Some members of a path, in a given order: member m is member ``index[m]`` of ``path``, so X(t) =
    X_path(t)[index] along the ensemble axis, and so are the weights (the same numbers as the path's).

    A network restricted to some of its members (:meth:`reslimit.ScaledResNet.keep_members`) runs on these.
    Not registered in PATHS.

    Example:
        >>> p = IID(8, ensemble=4, seed=1)
        >>> torch.equal(Members(p, [3, 1]).weights(10), p.weights(10)[:, [3, 1]])   # True
    """

    def __init__(self, path: WeightPath, index: Sequence[int]):
        if not isinstance(path, WeightPath):
            raise ValueError(f"path must be a WeightPath; got {type(path).__name__}")
        index = [int(i) for i in index]
        if not index or len(set(index)) != len(index) or not all(0 <= i < path.ensemble for i in index):
            raise ValueError(f"index must hold distinct members in [0, {path.ensemble}); got {index!r}")
        super().__init__(path.width, len(index), seed=path.seed, std=path.std, dtype=path.dtype, device=path.device,
                         cols=path.cols)
        self._path, self._index = path, index
        self.kind = path.kind  # type: ignore[misc]  # the class facts of the path
        self.limit = path.limit  # type: ignore[misc]
        self.sde_type = path.sde_type  # type: ignore[misc]
        self.refinement_consistent = path.refinement_consistent  # type: ignore[misc]
        self.exact_second_moment = path.exact_second_moment  # type: ignore[misc]

    @property
    def natural_beta(self) -> float:
        return self._path.natural_beta

    def to(self, device=None, dtype=None) -> Members:
        """These members of the path moved or cast (:meth:`WeightPath.to`)."""
        moved = self._path.to(device, dtype)
        return self if moved is self._path else Members(moved, self._index)

    def check_limit(self) -> None:
        self._path.check_limit()

    def _check_depth(self, depth: int) -> None:
        self._path._check_depth(depth)

    def _repr_args(self) -> dict:
        return {"path": self._path, "index": self._index}

    def __repr__(self) -> str:
        return f"Members({self._path!r}, {self._index!r})"

    def _select(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, torch.tensor(self._index, device=x.device))

    def _weights(self, depth: int, start: int, stop: int) -> torch.Tensor:
        return self._select(self._path._weights(depth, start, stop))

    def _values(self, times: np.ndarray) -> torch.Tensor:
        return self._select(self._path._values(times))
