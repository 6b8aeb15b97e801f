"""A grid of trainings as one batched ensemble: every member its own learning rate, data split and batches.

A sweep over learning rates and seeds trains many small networks of one depth. Here they are the members of one
:class:`reslimit.ScaledResNet` (weights (L, E, d, d), input and output layers (E, ., .)), and one pass per step
serves the whole grid: member m is trained on its own loss

    loss_m = mean_n CE(softmax(F_m(x_{m,n})), y_{m,n})      (classification; the mean squared error for regression)

of its own mini-batch (the data split and the batch order of its seed s_m, drawn as :func:`reslimit.train.train`
draws them for ``seed=s_m``), and stepped with its own rates, lr_m for the blocks' weights (V, W or a user block's
theta) and lr'_m for the input and output layers A, B (``layer_lrs``; the depth rule keeps them at lr0):

    SGD (momentum mu):  b_m <- mu b_m + grad_m (b_m = grad_m at the first step),   theta_m <- theta_m - lr_m b_m
    Adam (0.9, 0.999, eps = 1e-8):  theta_m <- theta_m - lr_m m_hat_m / (sqrt(v_hat_m) + eps)

(torch.optim's SGD and Adam, member by member). The members' weights are separate, so the gradient of the sum of
the losses is each member's own gradient, and a member of the batch is the network ``train`` would give with its
rate and seed, to rounding. A member whose loss turns non-finite is recorded as diverged at that epoch: its loss
is left out of that step's sum and it does not move, then it is dropped from the batch, which shrinks to the
members still training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import _checks, native
from ._rng import mix, substream
from .custom import CustomResNet
from .data import Dataset
from .depth_rule import OPTIMIZERS
from .resnet import ScaledResNet

ADAM = (0.9, 0.999, 1e-8)  # torch.optim.Adam's defaults: betas and eps
# the ensemble axis of each parameter of a ScaledResNet, and of a CustomResNet's theta.<name>
MEMBER_AXIS = {"V": 1, "W": 1, "A": 0, "B": 0, "theta": 1}
LAYERS = ("A", "B")  # the input and output layers, trained at layer_lrs


class Grid:
    """The training of every member of ``net`` at once; :meth:`step` one mini-batch, :meth:`epoch` one pass.

    Args:
        net: a ScaledResNet with held weights and input/output layers of the data's sizes, or a
            :class:`reslimit.custom.CustomResNet` with them; E = net.ensemble members, trained in place. A member
            that diverges is dropped from ``net`` (``keep_members``), so the batch shrinks to the members still
            training: ``members`` lists which of the E rows ``net`` holds.
        data: one :class:`reslimit.data.Dataset` per member (members of one seed share one object); all of one
            task and of the same sizes.
        lrs: the E learning rates, > 0, of the blocks' weights V (and W).
        layer_lrs: the E learning rates of the input and output layers A, B, >= 0 (0: frozen; None: ``lrs``).
            The depth rule scales the blocks' rates only: the layers' own steps do not grow with depth.
        seeds: the E seeds keying each member's batch order (as ``train(seed=...)``).
        batch_size: >= 1.  optimizer: "sgd" or "adam".  momentum: SGD's, in [0, 1).

    Losses and evaluations are returned for all E members, in order, NaN for a diverged one.
    """

    def __init__(self, net: ScaledResNet | CustomResNet, data: Sequence[Dataset], lrs: Sequence[float],
                 seeds: Sequence[int], *, layer_lrs: Sequence[float] | None = None, batch_size: int = 64,
                 optimizer: str = "sgd", momentum: float = 0.0):
        E = net.ensemble
        layer_lrs = lrs if layer_lrs is None else layer_lrs
        for name, values in (("data", data), ("lrs", lrs), ("layer_lrs", layer_lrs), ("seeds", seeds)):
            if len(values) != E:
                raise ValueError(f"{name} must have one entry per member of the ensemble ({E}); got {len(values)}")
        self.net = net
        self.optimizer = _checks.choice("optimizer", optimizer, OPTIMIZERS)
        self.momentum = _checks.real("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if self.optimizer == "adam" and self.momentum:
            raise ValueError(f"momentum is SGD's; got momentum={momentum!r} with optimizer 'adam'")
        self.batch_size = _checks.positive_int("batch_size", batch_size)
        self.seeds = [_checks.seed("seeds", s) for s in seeds]
        self.lr = torch.tensor([[_checks.real(name, v, low=0.0, high=_checks.LR_MAX, low_open=name == "lrs")
                                 for v in values]
                                for name, values in (("lrs", lrs), ("layer_lrs", layer_lrs))],
                               dtype=net.dtype, device=net.device)  # (2, E): the blocks' rates, the layers' rates
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
        self.params = [(name, p, MEMBER_AXIS[name]) for name, p in
                       ((name.split(".")[0], p) for name, p in net.named_parameters())]
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self.steps = 0
        self.size = E
        self.members = list(range(E))  # the rows of net: which of the E members they are
        self.diverged_at: list = [None] * E  # the epoch (or step label) a member diverged at
        self._order = torch.empty(E, 0, dtype=torch.long)  # this epoch's batch order per member (batches())

    def _per_member(self, x: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
        """The (E,) tensor ``x`` shaped to broadcast along a parameter's ensemble axis."""
        shape = [1] * ndim
        shape[axis] = -1
        return x.view(shape)

    def _all(self, x: torch.Tensor) -> torch.Tensor:
        """Values (len(members),) of the members still training as (E,) for all members, NaN for the dropped."""
        out = torch.full((self.size,), math.nan, dtype=x.dtype, device=x.device)
        out[torch.tensor(self.members, dtype=torch.long, device=x.device)] = x
        return out

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per member, the mean loss of the outputs ``out`` (E, n, o) for the targets y (E, n[, o]): (E,)."""
        E, n, o = out.shape
        if self.task == "classification":
            return torch.nn.functional.cross_entropy(out.reshape(E * n, o), y.reshape(E * n),
                                                     reduction="none").view(E, n).mean(1)
        return ((out - y) ** 2).mean((1, 2))

    def test_inputs(self) -> torch.Tensor:
        """The test inputs of each member still training (its own split): (members, n, in)."""
        return self.X_test[self._set]

    def batches(self, epoch: int):
        """The epoch's mini-batches, as slices of positions into each member's order of its training split: the
        order ``train`` draws for the member's seed (keyed by the seed's sub-stream "batches" and the epoch)."""
        orders = {s: torch.randperm(self.n_train, generator=torch.Generator().manual_seed(
            mix(substream(s, "batches"), epoch))) for s in dict.fromkeys(self.seeds)}
        self._order = torch.stack([orders[s] for s in self.seeds]).to(self.net.device)
        for first in range(0, self.n_train, self.batch_size):
            yield slice(first, first + self.batch_size)

    def step(self, batch: slice, label=None) -> torch.Tensor:
        """One step on the positions ``batch`` of the epoch's orders (:meth:`batches`): returns the losses of all E
        members (E,), NaN for the dropped ones. A member whose loss is not finite is dropped, ``diverged_at`` set
        to ``label``."""
        idx = self._order[:, batch]
        sets = self._set[:, None]
        X, y = self.X_train[sets, idx], self.y_train[sets, idx]
        for _, p, _ in self.params:
            p.grad = None
        losses = self._loss(self.net(X), y)
        dead = ~torch.isfinite(losses.detach())
        if not dead.any():
            losses.sum().backward()
            self._update(None)
            return self._all(losses.detach())
        if not dead.all():  # the others take their step; the diverged do not move, then leave
            losses.masked_fill(dead, 0.0).sum().backward()
            self._update(dead)
        out = self._all(losses.detach().masked_fill(dead, math.nan))
        self._drop(dead, label)
        return out

    def _update(self, frozen: torch.Tensor | None) -> None:
        """The optimizer's step, member by member (see the module's docstring), in place (no tensor of a
        parameter's size is allocated); the ``frozen`` members' gradients (NaN where their states overflowed)
        are zeroed first and their rate is 0, so they do not move."""
        self.steps += 1
        t = self.steps
        b1, b2, eps = ADAM
        rates = self.lr if frozen is None else self.lr.masked_fill(frozen, 0.0)
        with torch.no_grad():
            for (name, p, axis), state in zip(self.params, self.state):
                lr = rates[int(name in LAYERS)]
                g = p.grad
                if frozen is not None:
                    g.masked_fill_(self._per_member(frozen, axis, p.dim()), 0.0)
                if self.optimizer == "sgd":
                    if self.momentum:
                        buf = state.get("buf")
                        g = state.setdefault("buf", g.clone()) if buf is None else buf.mul_(self.momentum).add_(g)
                    p.addcmul_(self._per_member(lr, axis, p.dim()), g, value=-1.0)
                else:
                    if not state:
                        state.update(m=torch.zeros_like(p), v=torch.zeros_like(p))
                    m, v, rate, c2 = state["m"], state["v"], (lr / (1 - b1**t)).contiguous(), math.sqrt(1 - b2**t)
                    if native.adam_step(p.data, g, m, v, rate, axis, (b1, b2), c2, eps):
                        continue  # one pass in the compiled library; else torch's operations, a pass each
                    work = state.setdefault("work", torch.empty_like(p))
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = torch.sqrt(v, out=work).div_(c2).add_(eps)
                    p.sub_(torch.div(m, denom, out=work).mul_(self._per_member(rate, axis, p.dim())))

    def _drop(self, dead: torch.Tensor, label) -> None:
        """Record the ``dead`` rows as diverged at ``label`` and remove them from the network, its optimizer's
        state and the per-member settings."""
        rows = dead.tolist()
        for row, gone in zip(list(self.members), rows):
            if gone:
                self.diverged_at[row] = label
        keep = [i for i, gone in enumerate(rows) if not gone]
        self.members = [self.members[i] for i in keep]
        if not keep:
            return
        self.net.keep_members(keep)
        where = torch.tensor(keep, device=self._set.device)
        for (_, _, axis), state in zip(self.params, self.state):
            for name, x in state.items():
                state[name] = x.index_select(axis, where)
        self.lr, self._set, self._order = self.lr[:, where], self._set[where], self._order[where]
        self.seeds = [self.seeds[i] for i in keep]

    def epoch(self, epoch: int) -> torch.Tensor:
        """One pass over the training splits: each member's mean loss over the epoch's batches (E,), NaN for a
        member that diverged by the end of the epoch."""
        self.net.train()
        total = torch.zeros(self.size, dtype=self.net.dtype, device=self.net.device)
        count = 0
        for batch in self.batches(epoch):
            if not self.members:
                break
            total += torch.nan_to_num(self.step(batch, label=epoch), nan=0.0)
            count += 1
        return self._all((total / max(count, 1))[torch.tensor(self.members, dtype=torch.long, device=total.device)])

    def evaluate(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(test loss (E,), test accuracy (E,) or None for regression) of each member on its test split; NaN for a
        diverged member."""
        nan = torch.full((self.size,), math.nan, dtype=self.net.dtype, device=self.net.device)
        if not self.members:
            return nan, None if self.task != "classification" else nan.clone()
        mode = self.net.training
        self.net.eval()
        with torch.no_grad():
            out = self.net(self.test_inputs())
            y = self.y_test[self._set]
            loss = self._loss(out, y)
            acc = (out.argmax(-1) == y).to(out.dtype).mean(1) if self.task == "classification" else None
        self.net.train(mode)
        bad = ~torch.isfinite(loss)
        loss = self._all(loss.masked_fill(bad, math.nan))
        return loss, None if acc is None else self._all(acc.masked_fill(bad, math.nan))


def train_grid(net: ScaledResNet | CustomResNet, data: Sequence[Dataset], lrs: Sequence[float], seeds: Sequence[int],
               *, layer_lrs: Sequence[float] | None = None, epochs: int = 5, batch_size: int = 64,
               optimizer: str = "sgd",
               momentum: float = 0.0) -> list[dict]:
    """Train every member of ``net`` (:class:`Grid`; diverged members are dropped from ``net``) for ``epochs``; one
    dict per member, in order: ``train_loss`` (the mean over the last epoch's batches), ``test_loss``,
    ``test_accuracy`` (None for regression), ``diverged`` (its loss turned non-finite in training, or its test loss
    is not finite, as :func:`reslimit.train.train` says "diverged") and ``epochs`` (those finished; the epoch it
    diverged at in training), NaN losses for a diverged member."""
    epochs = _checks.positive_int("epochs", epochs)
    grid = Grid(net, data, lrs, seeds, layer_lrs=layer_lrs, batch_size=batch_size, optimizer=optimizer,
                momentum=momentum)
    train_loss = torch.full((grid.size,), math.nan)
    for epoch in range(1, epochs + 1):
        train_loss = grid.epoch(epoch)
        if not grid.members:
            break
    test_loss, acc = grid.evaluate()
    return [{"train_loss": float(train_loss[m]), "test_loss": float(test_loss[m]),
             "test_accuracy": None if acc is None else float(acc[m]),
             "diverged": grid.diverged_at[m] is not None or not math.isfinite(test_loss[m]),
             "epochs": epochs if grid.diverged_at[m] is None else grid.diverged_at[m]}
            for m in range(grid.size)]
