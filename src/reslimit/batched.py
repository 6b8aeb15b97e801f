"""A grid of trainings as one batched ensemble: every member its own learning rate, data split and batches.

A sweep over learning rates and seeds trains many small networks of one depth. Here they are the members of one
:class:`reslimit.ScaledResNet` (weights (L, E, d, d), input and output layers (E, ., .)), and one pass per step
serves the whole grid: member m is trained on its own loss

    loss_m = mean_n CE(softmax(F_m(x_{m,n})), y_{m,n})      (classification; the mean squared error for regression)

of its own mini-batch (the data split and the batch order of its seed s_m, drawn as :func:`reslimit.train.train`
draws them for ``seed=s_m``), and stepped with its own rate lr_m:

    SGD (momentum mu):  b_m <- mu b_m + grad_m (b_m = grad_m at the first step),   theta_m <- theta_m - lr_m b_m
    Adam (0.9, 0.999, eps = 1e-8):  theta_m <- theta_m - lr_m m_hat_m / (sqrt(v_hat_m) + eps)

(torch.optim's SGD and Adam, member by member). The members' weights are separate, so the gradient of the sum of
the losses is each member's own gradient, and a member of the batch is the network ``train`` would give with its
rate and seed, to rounding. A member whose loss turns non-finite is recorded as diverged at that epoch and frozen
(its loss left out of the sum, its step zero); the others go on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import _checks
from ._rng import mix, substream
from .custom import CustomResNet
from .data import Dataset
from .depth_rule import OPTIMIZERS
from .resnet import ScaledResNet

ADAM = (0.9, 0.999, 1e-8)  # torch.optim.Adam's defaults: betas and eps
# the ensemble axis of each parameter of a ScaledResNet, and of a CustomResNet's theta.<name>
MEMBER_AXIS = {"V": 1, "W": 1, "A": 0, "B": 0, "theta": 1}


class Grid:
    """The training of every member of ``net`` at once; :meth:`step` one mini-batch, :meth:`epoch` one pass.

    Args:
        net: a ScaledResNet with held weights and input/output layers of the data's sizes, or a
            :class:`reslimit.custom.CustomResNet` with them; E = net.ensemble members, trained in place.
        data: one :class:`reslimit.data.Dataset` per member (members of one seed share one object); all of one
            task and of the same sizes.
        lrs: the E learning rates, > 0.
        seeds: the E seeds keying each member's batch order (as ``train(seed=...)``).
        batch_size: >= 1.  optimizer: "sgd" or "adam".  momentum: SGD's, in [0, 1).
    """

    def __init__(self, net: ScaledResNet | CustomResNet, data: Sequence[Dataset], lrs: Sequence[float],
                 seeds: Sequence[int], *, batch_size: int = 64, optimizer: str = "sgd", momentum: float = 0.0):
        E = net.ensemble
        for name, values in (("data", data), ("lrs", lrs), ("seeds", seeds)):
            if len(values) != E:
                raise ValueError(f"{name} must have one entry per member of the ensemble ({E}); got {len(values)}")
        self.net = net
        self.optimizer = _checks.choice("optimizer", optimizer, OPTIMIZERS)
        self.momentum = _checks.real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if self.optimizer == "adam" and self.momentum:
            raise ValueError(f"momentum is SGD's; got momentum={momentum!r} with optimizer 'adam'")
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.seeds = [_checks.seed("seeds", s) for s in seeds]
        lr = [_checks.real("lrs", v, low=0.0, low_open=True) for v in lrs]
        self.lr = torch.tensor(lr, dtype=net.dtype, device=net.device)
        sets = list({id(d): d for d in data}.values())
        first = sets[0]
        if any((d.task, d.X_train.shape, d.X_test.shape) != (first.task, first.X_train.shape, first.X_test.shape)
               for d in sets):
            raise ValueError("data must be splits of one task and of the same sizes")
        self.task, self.n_train = first.task, len(first.y_train)
        where = {id(d): i for i, d in enumerate(sets)}
        self._set = torch.tensor([where[id(d)] for d in data], device=net.device)
        stack = lambda name: torch.stack([getattr(d, name) for d in sets]).to(net.device)  # noqa: E731
        self.X_train, self.y_train, self.X_test, self.y_test = (stack(n) for n in ("X_train", "y_train", "X_test",
                                                                                   "y_test"))
        if self.X_train.is_floating_point():
            self.X_train, self.X_test = self.X_train.to(net.dtype), self.X_test.to(net.dtype)
        self.params = [(p, MEMBER_AXIS[name.split(".")[0]]) for name, p in net.named_parameters()]
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self.steps = 0
        self.alive = torch.ones(E, dtype=torch.bool, device=net.device)
        self.diverged_at = [None] * E  # the epoch (or step, outside epochs) a member diverged at

    def _per_member(self, x: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
        """The (E,) tensor ``x`` shaped to broadcast along a parameter's ensemble axis."""
        shape = [1] * ndim
        shape[axis] = -1
        return x.view(shape)

    def losses(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per member, the mean loss on its inputs X (E, n, in) and targets y (E, n[, out]): shape (E,)."""
        out = self.net(X)
        E, n, o = out.shape
        if self.task == "classification":
            return torch.nn.functional.cross_entropy(out.reshape(E * n, o), y.reshape(E * n),
                                                     reduction="none").view(E, n).mean(1)
        return ((out - y) ** 2).mean((1, 2))

    def batches(self, epoch: int):
        """The epoch's mini-batches: index tensors (E, <= batch_size) into each member's training split, in the
        order ``train`` draws for the member's seed (keyed by the seed's sub-stream "batches" and the epoch)."""
        orders = {s: torch.randperm(self.n_train, generator=torch.Generator().manual_seed(
            mix(substream(s, "batches"), epoch))) for s in dict.fromkeys(self.seeds)}
        order = torch.stack([orders[s] for s in self.seeds]).to(self.net.device)
        for first in range(0, self.n_train, self.batch_size):
            yield order[:, first: first + self.batch_size]

    def step(self, idx: torch.Tensor, label=None) -> torch.Tensor:
        """One step on the mini-batch ``idx`` (E, b): returns the members' losses (E,), NaN for the frozen ones.
        A member whose loss is not finite is frozen from now on, ``diverged_at`` set to ``label``."""
        sets = self._set[:, None]
        X, y = self.X_train[sets, idx], self.y_train[sets, idx]
        for p, _ in self.params:
            p.grad = None
        losses = self.losses(X, y)
        finite = torch.isfinite(losses.detach())
        for m in torch.nonzero(self.alive & ~finite).flatten().tolist():
            self.diverged_at[m] = label
        self.alive &= finite
        total = torch.where(self.alive, losses, torch.zeros_like(losses)).sum()
        if self.alive.any():
            total.backward()
            self._update()
        return torch.where(self.alive, losses.detach(), torch.full_like(losses.detach(), math.nan))

    def _update(self) -> None:
        """The optimizer's step, member by member (see the module's docstring); frozen members do not move."""
        self.steps += 1
        t = self.steps
        lr = torch.where(self.alive, self.lr, torch.zeros_like(self.lr))
        b1, b2, eps = ADAM
        with torch.no_grad():
            for (p, axis), state in zip(self.params, self.state):
                keep = self._per_member(self.alive, axis, p.dim())
                g = torch.where(keep, p.grad, torch.zeros_like(p.grad))  # a frozen member's NaN gradient: 0
                rate = self._per_member(lr, axis, p.dim())
                if self.optimizer == "sgd":
                    if self.momentum:
                        buf = state.get("buf")
                        g = state.setdefault("buf", g.clone()) if buf is None else buf.mul_(self.momentum).add_(g)
                    p.sub_(rate * g)
                else:
                    m = state.setdefault("m", torch.zeros_like(p)).mul_(b1).add_(g, alpha=1 - b1)
                    v = state.setdefault("v", torch.zeros_like(p)).mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v.sqrt() / math.sqrt(1 - b2**t)).add_(eps)
                    p.addcdiv_(m * (rate / (1 - b1**t)), denom, value=-1.0)

    def epoch(self, epoch: int) -> torch.Tensor:
        """One pass over the training splits: each member's mean loss over the epoch's batches (E,), NaN for a
        member frozen (diverged) by the end of the epoch."""
        self.net.train()
        total = torch.zeros(self.net.ensemble, dtype=self.net.dtype, device=self.net.device)
        count = 0
        for idx in self.batches(epoch):
            if not self.alive.any():
                break
            total += torch.nan_to_num(self.step(idx, label=epoch), nan=0.0)
            count += 1
        return torch.where(self.alive, total / max(count, 1), torch.full_like(total, math.nan))

    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(test loss (E,), test accuracy (E,) or None for regression) of each member on its test split; NaN for a
        diverged member."""
        sets = self._set
        mode = self.net.training
        self.net.eval()
        with torch.no_grad():
            out = self.net(self.X_test[sets])
            y = self.y_test[sets]
            E, n, o = out.shape
            if self.task == "classification":
                loss = torch.nn.functional.cross_entropy(out.reshape(E * n, o), y.reshape(E * n),
                                                         reduction="none").view(E, n).mean(1)
                acc = (out.argmax(-1) == y).to(out.dtype).mean(1)
            else:
                loss, acc = ((out - y) ** 2).mean((1, 2)), None
        self.net.train(mode)
        bad = ~self.alive | ~torch.isfinite(loss)
        nan = torch.full_like(loss, math.nan)
        return torch.where(bad, nan, loss), None if acc is None else torch.where(bad, nan, acc)


def train_grid(net: ScaledResNet | CustomResNet, data: Sequence[Dataset], lrs: Sequence[float], seeds: Sequence[int], *,
               epochs: int = 5, batch_size: int = 64, optimizer: str = "sgd",
               momentum: float = 0.0) -> list[dict]:
    """Train every member of ``net`` (:class:`Grid`) for ``epochs``; one dict per member, in order:
    ``train_loss`` (the mean over the last epoch's batches), ``test_loss``, ``test_accuracy`` (None for regression),
    ``diverged`` and ``epochs`` (those finished; the epoch it diverged at for a diverged member), NaN losses for a
    diverged member."""
    epochs = _checks.positive_int("epochs", epochs)
    grid = Grid(net, data, lrs, seeds, batch_size=batch_size, optimizer=optimizer, momentum=momentum)
    train_loss = torch.full((net.ensemble,), math.nan)
    for epoch in range(1, epochs + 1):
        train_loss = grid.epoch(epoch)
        if not grid.alive.any():
            break
    test_loss, acc = grid.evaluate()
    return [{"train_loss": float(train_loss[m]), "test_loss": float(test_loss[m]),
             "test_accuracy": None if acc is None else float(acc[m]), "diverged": grid.diverged_at[m] is not None,
             "epochs": epochs if grid.diverged_at[m] is None else grid.diverged_at[m]}
            for m in range(net.ensemble)]
