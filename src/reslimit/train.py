"""Training a scaled ResNet by gradient descent: a history per epoch, weight snapshots, checkpoints, a resume.

The network is F(x) = B h_L with h_0 = A x (a :class:`reslimit.ScaledResNet` with ``input_dim`` and
``output_dim``), every ensemble member trained on the same mini-batches, each by its own loss:

    classification   loss = mean_n CE(softmax(F(x_n)), y_n)      (cross-entropy of the logits B h_L)
    regression       loss = mean_n ||F(x_n) - y_n||^2 / output_dim (mean squared error)

summed over the members (whose weights are separate, so each gets the gradient of its own loss). An epoch
visits the training set once in mini-batches of ``batch_size``, shuffled by a generator keyed by the seed and
the epoch (so a resumed run draws the batches an uninterrupted one would). Epoch 0 is the network before
training. A non-finite loss stops the run: it is recorded as diverged at that epoch, and what was written stays.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from . import _checks, _memory, native, store
from ._rng import mix, substream
from ._types import Device, DType, Folder
from .blocks import get_block
from .custom import BlockPaths, CustomBlock, CustomResNet, check_shapes, register
from .data import Dataset, get_data
from .depth_rule import OPTIMIZERS, learning_rate
from .paths import PATHS
from .regularity import regularity
from .resnet import ScaledResNet
from .specs import NetSpec, PathSpec, recorded, takes_specs
from .studies.protocol import Kind, claimed, figures

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

KIND = Kind("train", "`reslimit train --out DIR` (reslimit.train.run)", table="history.csv",
            plot=lambda rows, params: History(rows, params=params).plot(),
            files=(*figures("training", "weights"), "weights.pt", "checkpoint.pt"))
COLUMNS = ("epoch", "train_loss", "test_loss", "test_accuracy", "grad_norm_V", "grad_norm_W", "seconds", "status")


@dataclass
class History:
    """What :func:`train` measured.

    Attributes:
        rows: one dict per epoch (keys ``COLUMNS``): the mean training loss over the epoch's batches, the loss
            and accuracy (classification; None for regression) on the test set after the epoch, the mean over
            batches of the gradient norms ||dLoss/dV|| and ||dLoss/dW|| (all layers; W None without inner
            weights), the epoch's seconds and "ok" or "diverged" (its losses NaN). Epoch 0 is the untrained
            network (no training loss nor gradients: None).
        snapshots: epoch -> {"V": (L, E, d, d), "W": ...} on the CPU: the weights before training (0) and after
            the last epoch, and every ``snapshot_every`` epochs.
        params: the training settings.
    """

    rows: list[dict] = field(default_factory=list)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        """Whether the loss turned non-finite (the last row's status is "diverged")."""
        return bool(self.rows) and self.rows[-1]["status"] == "diverged"

    @property
    def final(self) -> dict:
        """The last epoch's row."""
        return self.rows[-1]

    def frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame, the params in ``.attrs``."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=list(COLUMNS))
        frame.attrs["params"] = self.params
        return frame

    def plot(self, path: Folder | None = None) -> Figure:
        """Loss and accuracy against epochs: :func:`reslimit.plots.training_figure`."""
        from . import plots

        return plots.training_figure(self.rows, self.params, path)


def train(net: ScaledResNet | CustomResNet, data: Dataset, *, epochs: int = 10, lr: float = 0.05, batch_size: int = 64,
          optimizer: str = "sgd", momentum: float = 0.0, seed: int = 0, snapshot_every: int | None = None,
          checkpoint: Folder | None = None, progress: bool = False, layer_lr: float | None = None) -> History:
    """Train ``net`` on ``data`` by mini-batch SGD or Adam; return the :class:`History`.

    Args:
        net: a ScaledResNet with held weights (not streamed) and input/output layers of the data's sizes
            (``ScaledResNet(..., input_dim=data.input_dim, output_dim=data.output_dim)``), or a
            :class:`reslimit.custom.CustomResNet` of a user's block with them (its history's ``grad_norm_V`` is
            then the norm of the gradient of all the block's parameters, ``grad_norm_W`` None, and its snapshots
            hold each parameter by name). Trained in place.
        data: a :class:`reslimit.data.Dataset` (``reslimit.data.get_data("digits")``...).
        epochs: >= 1.  lr: in (0, 1e30].  batch_size: >= 1 (the last batch of an epoch may be smaller).
        layer_lr: the rate of the input and output layers A, B, >= 0 (None: ``lr``; the depth rule's lr0, whose
            step does not scale with depth, :mod:`reslimit.depth_rule`).
        optimizer: "sgd" (with ``momentum`` in [0, 1)) or "adam".
        seed: keys the order of the mini-batches, in [0, 2^63 - 1].
        snapshot_every: also keep the weights every this many epochs (None: before and after only).
        checkpoint: a file to write after every epoch (the weights, the optimizer's state, the history); when
            it exists and holds the same settings (the data's too: ``dataset_sha256``, :func:`digest`), training
            resumes after its last epoch; one of more epochs than ``epochs`` is refused (ValueError), ``net``
            untouched.
        progress: a progress bar over epochs.
    """
    params = _check(net, data, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                    seed=seed, snapshot_every=snapshot_every, layer_lr=layer_lr)
    groups: list = list(net.parameters())
    if layer_lr is not None:  # the blocks' weights at lr, the input and output layers at layer_lr
        layers = [p for p in (net.A, net.B) if p is not None]
        groups = [{"params": [p for p in net.parameters() if all(p is not q for q in layers)]},
                  {"params": layers, "lr": layer_lr}]
    opt = (torch.optim.SGD(groups, lr=lr, momentum=momentum) if optimizer == "sgd"
           else torch.optim.Adam(groups, lr=lr))
    history = History(params=params)
    if checkpoint is not None:
        checkpoint = store.unlinked(_checks.file_in_folder("checkpoint", checkpoint))  # never through a link
        if checkpoint.exists():
            history = _resume(checkpoint, net, opt, params)
    if not history.rows:
        history.snapshots[0] = _weights(net)
        history.rows.append(_row(0, None, _evaluate(net, data), (None, None), 0.0))
    if history.diverged:  # a resumed run that had diverged: nothing more to do
        return history
    start = history.rows[-1]["epoch"] + 1
    bar = tqdm(range(start, epochs + 1), desc="epochs", unit="epoch", disable=not progress, initial=start - 1,
               total=epochs)
    for epoch in bar:
        t = time.perf_counter()
        loss, norms = _epoch(net, data, opt, batch_size, mix(substream(seed, "batches"), epoch))
        row = _row(epoch, loss, _evaluate(net, data) if math.isfinite(loss) else (math.nan, None), norms,
                   time.perf_counter() - t)
        history.rows.append(row)
        if row["status"] == "diverged" or epoch == epochs or (snapshot_every and epoch % snapshot_every == 0):
            history.snapshots[epoch] = _weights(net)
        if checkpoint is not None:
            _save(checkpoint, net, opt, history)
        if row["status"] == "diverged":
            break
        bar.set_postfix(loss=f"{loss:.4g}", test=f"{row['test_loss']:.4g}")
    return history


def _check(net, data, **params) -> dict:
    """The checked settings, as recorded in the history and the checkpoint."""
    if not isinstance(net, (ScaledResNet, CustomResNet)):
        raise ValueError(f"net must be a reslimit.ScaledResNet or a reslimit.custom.CustomResNet; got "
                         f"{type(net).__name__}")
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be a reslimit.data.Dataset (reslimit.data.get_data); got {type(data).__name__}")
    if net.stream:
        raise ValueError("net must hold its weights (stream=False) to be trained: streamed weights are redrawn from "
                         "the paths on every pass")
    have = (None if net.A is None else net.A.shape[-1], None if net.B is None else net.B.shape[1])
    if have != (data.input_dim, data.output_dim):
        raise ValueError(f"net must have input_dim={data.input_dim} and output_dim={data.output_dim} for the data "
                         f"{data.name!r}; got input_dim={have[0]}, output_dim={have[1]} (ScaledResNet(..., "
                         f"input_dim=data.input_dim, output_dim=data.output_dim))")
    settings = _settings(**params)
    batches = -(-len(data.y_train) // settings["batch_size"])
    _memory.require_steps(settings["epochs"] * batches * net.depth, "the training loop (a layer of a batch a step)",
                          f"epochs={settings['epochs']} x {batches} batches x depth={net.depth}",
                          "use fewer epochs, a larger batch_size or a smaller depth")
    return settings | {"data": data.name, "dataset_sha256": digest(data), "task": data.task,
                       "n_classes": data.n_classes,
                                  "depth": net.depth, "width": net.width, "alpha": net.alpha,
                                  "block": net.block.name, "activation": _activation(net),
                                  "ensemble": net.ensemble} | _masks(net) | _hidden(net)


def digest(data: Dataset) -> str:
    """The sha256 of a dataset's arrays (X_train, y_train, X_test, y_test: their dtypes, shapes and bytes, in
    order), which a checkpoint records: a resume on other data is refused."""
    sha = hashlib.sha256()
    for t in (data.X_train, data.y_train, data.X_test, data.y_test):
        array = t.detach().cpu().contiguous().numpy()
        sha.update(f"{array.dtype}{array.shape}".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def _hidden(net) -> dict:
    """The network's hidden width where it is not its width (else nothing, as in earlier versions)."""
    hidden = getattr(net, "hidden", net.width)  # a user's block has none
    return {"hidden": hidden} if hidden != net.width else {}


def _activation(net) -> str | None:
    """sigma's name; None for a user's block (its g has no separate activation)."""
    return None if isinstance(net, CustomResNet) else net.block.activation.name


def _masks(net) -> dict:
    """The network's dropout and the expected depth of its stochastic depth, where it has them (else nothing, so
    the settings of a plain network are those of earlier versions)."""
    return ({"dropout": net.dropout} if net.dropout else {}) | (
        {"expected_depth": net.expected_depth()} if net.survival is not None else {})


def _settings(*, epochs, lr, batch_size, optimizer, momentum=0.0, seed=0, snapshot_every=None,
              layer_lr=None) -> dict:
    """The training settings checked: a ValueError naming the first bad one (``layer_lr`` recorded only where
    given, so that the settings of earlier versions stay as they were)."""
    layers = {} if layer_lr is None else {"layer_lr": _checks.real("layer_lr", layer_lr, low=0.0,
                                                                   high=_checks.LR_MAX)}
    if optimizer == "adam" and momentum:
        raise ValueError(f"momentum is SGD's; got momentum={momentum!r} with optimizer 'adam'")
    return {"epochs": _checks.positive_int("epochs", epochs), "lr": _checks.learning_rate("lr", lr),
            "batch_size": _checks.positive_int("batch_size", batch_size),
            "optimizer": _checks.choice("optimizer", optimizer, OPTIMIZERS),
            "momentum": _checks.real("momentum", momentum, low=0.0, high=1.0, high_open=True),
            "seed": _checks.seed("seed", seed),
            "snapshot_every": None if snapshot_every is None else _checks.positive_int("snapshot_every",
                                                                                       snapshot_every)} | layers


def _loss(out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """Per ensemble member, the mean over the batch of the loss of the outputs ``out`` (E, n, o): shape (E,)."""
    E, n, o = out.shape
    if task == "classification":
        flat = torch.nn.functional.cross_entropy(out.reshape(E * n, o), y.repeat(E), reduction="none")
        return flat.view(E, n).mean(1)
    return ((out - y) ** 2).mean((1, 2))


def _epoch(net, data, opt, batch_size, key) -> tuple[float, tuple[float, float]]:
    """One pass over the training set, in training mode (``net.train()``: the masks of stochastic depth and
    dropout, where the network has them): (mean loss over batches, mean (||dV||, ||dW||) over batches)."""
    net.train()
    order = torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(key)).to(data.X_train.device)
    losses, norms = [], []
    for first in range(0, len(order), batch_size):
        idx = order[first: first + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = _loss(net(data.X_train[idx]), data.y_train[idx], data.task).sum()
        if not torch.isfinite(loss):
            return math.nan, (math.nan, math.nan)
        loss.backward()
        norms.append(_grad_norms(net))
        opt.step()
        losses.append(float(loss.detach()) / net.ensemble)
    mean = [sum(v) / len(v) for v in zip(*norms)]
    return sum(losses) / len(losses), (mean[0], mean[1])


def _grad_norms(net) -> tuple[float, float]:
    """(||dLoss/dV||, ||dLoss/dW||), NaN for W without inner weights; for a user's block (||dLoss/dtheta||, NaN),
    theta all its parameters (one without a gradient counts 0)."""
    if isinstance(net, CustomResNet):
        grads = [p.grad.norm() for p in net.theta.values() if p.grad is not None]
        return (float(torch.stack(grads).norm()) if grads else 0.0), math.nan
    V, W = (math.nan if w is None else float(w.grad.norm()) for w in (net.V, net.W))
    return V, W


def _evaluate(net, data) -> tuple[float, float | None]:
    """(test loss, test accuracy or None), both averaged over the ensemble members, in evaluation mode
    (``net.eval()``: no masks; stochastic depth's blocks scaled by p_k); the network's mode is restored after."""
    mode = net.training
    net.eval()
    with torch.no_grad():
        out = net(data.X_test)
    net.train(mode)
    loss = float(_loss(out, data.y_test, data.task).mean())
    if data.task != "classification":
        return loss, None
    return loss, float((out.argmax(-1) == data.y_test).double().mean())


def _row(epoch, train_loss, test, norms, seconds) -> dict:
    """One row of the history; None where a value does not exist (epoch 0 has no training, res-1 no W)."""
    finite = math.isfinite(test[0]) and (train_loss is None or math.isfinite(train_loss))
    return {"epoch": epoch, "train_loss": train_loss, "test_loss": test[0], "test_accuracy": test[1],
            "grad_norm_V": norms[0], "grad_norm_W": None if norms[1] is None or math.isnan(norms[1]) else norms[1],
            "seconds": seconds, "status": "ok" if finite else "diverged"}


def _weights(net) -> dict[str, torch.Tensor]:
    """The weights on the CPU: {"V": ..., "W": ...}, or a user block's parameters by name."""
    held = net.theta.items() if isinstance(net, CustomResNet) else (("V", net.V), ("W", net.W))
    return {k: w.detach().cpu().clone() for k, w in held if w is not None}


def _save(path: Path, net, opt, history: History) -> None:
    """Write the checkpoint under a fresh temporary name and rename it into place (:func:`reslimit.store.replacing`):
    a kill leaves the previous one, and no write follows a link."""
    with store.replacing(path) as f:
        torch.save({"params": history.params, "net": net.state_dict(), "optimizer": opt.state_dict(),
                    "rows": history.rows, "snapshots": history.snapshots}, f)


def _resume(path: Path, net, opt, params: dict) -> History:
    """The history of the checkpoint ``path``, its weights and optimizer state loaded into ``net`` and ``opt``."""
    try:
        state = torch.load(path, map_location=net.device, weights_only=True)  # no unpickling of a planted file
        saved = state["params"]
    except Exception as err:  # a file that is not one of our checkpoints, whatever torch.load raises
        raise ValueError(f"checkpoint {str(path)!r} is unreadable ({type(err).__name__}); delete it to start "
                         f"afresh") from None
    differ = sorted(k for k in set(saved) | set(params) if k != "epochs" and saved.get(k) != params.get(k))
    if differ:
        raise ValueError(f"checkpoint {str(path)!r} holds a run with other settings ({', '.join(differ)}); delete "
                         f"it or train with the same settings")
    done = state["rows"][-1]["epoch"]
    if done > params["epochs"]:
        raise ValueError(f"checkpoint {str(path)!r} holds {done} epochs, more than epochs={params['epochs']}; train "
                         f"for at least {done} epochs to resume it, or delete it")
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["optimizer"])
    return History(rows=state["rows"], snapshots=state["snapshots"], params=params)


@takes_specs
def run(out: Folder, *, data: str = "digits", block: str | CustomBlock = "res3", activation: str | None = None,
        init: str = "iid", beta: float = 0.5, depth: int = 64, width: int = 32, epochs: int = 10, lr: float = 0.05,
        optimizer: str = "sgd", batch_size: int = 64, seed: int = 0, hurst: float | None = None,
        lengthscale: float | None = None, dtype: DType = "float32", device: Device = "cpu", rule: str = "none",
        base_depth: int | None = None, progress: bool = True, hidden: int | None = None,
        momentum: float = 0.0) -> History:
    """What ``reslimit train`` runs: the data, a network on the ``init`` path, :func:`train` with a checkpoint.

    The network is ScaledResNet(depth, width, beta, block, activation) with input and output layers of the
    data's sizes, its V (and W) drawn from the path ``init`` (a key of reslimit.PATHS, with ``hurst`` or
    ``lengthscale`` where it takes them) seeded by the sub-streams "outer" and "inner" of ``seed``, as for
    ``ScaledResNet(seed=seed)``; activation None: relu for res3 (its only one), tanh otherwise. ``out`` gets
    history.csv (the rows of :class:`History`), checkpoint.pt (after every epoch: the same command resumes a killed
    run), weights.pt ({"before": ..., "after": ...}: V and W), training.png, weights.png and manifest.json (the
    settings, the status, the final test loss and accuracy, and the Hölder exponent of V before and after,
    :func:`reslimit.regularity.regularity`). One process writes ``out`` (its lock); a folder holding a run with
    other settings is refused before anything is computed.

    ``rule`` "depth" reads ``lr`` as lr0, the rate tuned at ``base_depth``, and trains the blocks' weights V (and
    W) with lr0 (depth / base_depth)^gamma, gamma = 2 beta - 1 for SGD, beta - 1 for Adam, and the input and
    output layers with lr0 (:mod:`reslimit.depth_rule`); the manifest then records lr0, the rule, base_depth, the
    lr used and layer_lr. "none" (the default): lr as given, for every layer.
    ``momentum``: SGD's, in [0, 1) (recorded where not 0), the rule's gamma unchanged (:mod:`reslimit.depth_rule`).
    ``hidden``: M, the hidden width of res2/res3 (V d x M, W M x d; recorded in the settings where given); None:
    M = d.

    ``block`` may be a user's :class:`reslimit.CustomBlock` (activation None): the network is then
    ``CustomResNet(depth, width, block, paths=BlockPaths.draw(block, width, kind=init, seed=seed, ...), seed=seed)``,
    the params name the block by ``repr`` (:func:`reslimit.custom.register`) and record its parameters' shapes, and
    weights.pt holds every parameter by name; the regularity and weights.png read the block's first parameter
    (a vector as a column).
    """
    lr0 = _checks.learning_rate("lr", lr)
    lr = learning_rate(lr0, depth=_checks.positive_int("depth", depth), base_depth=base_depth, beta=beta,
                       optimizer=optimizer, rule=rule)
    _settings(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
              seed=seed)  # before the folder
    if isinstance(block, CustomBlock) and activation is not None:
        raise ValueError(f"activation must be None for a user block ({block.name}: its g holds its own); got "
                         f"{activation!r}")
    activation = None if isinstance(block, CustomBlock) else get_block(block, activation).activation.name
    dtype = _checks.dtype(dtype)
    device = _checks.device("device", device)
    data_file = data not in ("digits", "synthetic") and os.path.isfile(data)
    sha256 = hashlib.sha256(Path(data).read_bytes()).hexdigest() if data_file else None  # the bytes then read
    dataset = get_data(data, seed=seed, dtype=dtype).to(device)
    _checks.choice("init", init, tuple(PATHS))  # then PathSpec refuses an option the path does not take, naming it
    path = PathSpec(init, hurst=hurst, lengthscale=lengthscale, resolution=depth if init == "fbm" else None)
    options = path.options()
    dtype_name = str(dtype).replace("torch.", "")
    net: ScaledResNet | CustomResNet
    if isinstance(block, CustomBlock):
        paths = BlockPaths.draw(block, width, kind=init, seed=seed, dtype=dtype, device=device, **options)
        net = CustomResNet(depth, width, block, beta=beta, paths=paths, seed=seed, input_dim=dataset.input_dim,
                           output_dim=dataset.output_dim)
    else:
        spec = NetSpec(block, activation, width, dtype=dtype_name, hidden=hidden)
        outer, inner = spec.paths(path, seed=seed, device=device)
        net = ScaledResNet(depth, width, beta=beta, block=block, activation=activation, outer=outer, inner=inner,
                           seed=seed, input_dim=dataset.input_dim, output_dim=dataset.output_dim, hidden=hidden)
    name = register(block) if isinstance(block, CustomBlock) else block
    params = {"data": str(data), "block": name, "activation": activation, "init": init, "beta": beta,
              "depth": depth, "width": width, "epochs": epochs, "lr": lr, "optimizer": optimizer,
              "batch_size": batch_size, "seed": seed, **options, "dtype": dtype_name,
              "device": str(device)}
    if isinstance(block, CustomBlock):
        params["shapes"] = {k: list(v) for k, v in check_shapes(block, width).items()}
    layer_lr = None if rule == "none" else lr0  # the rule scales the blocks' rate; A and B train at lr0
    if hidden is not None:  # a folder without a hidden width reads as before
        params["hidden"] = hidden
    if rule != "none":  # a folder without the rule reads as before
        params.update(lr0=lr0, rule=rule, base_depth=base_depth, layer_lr=layer_lr)
    if momentum:  # SGD's; a folder without momentum reads as before
        params["momentum"] = momentum
    if sha256 is not None:  # what identifies a data file: a resume on other bytes under its name is refused
        params["data_sha256"] = sha256
    _check(net, dataset, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
           seed=seed)  # no folder yet
    _same_inputs(out, params)
    engine = {"engine": native.engine(net.block, None, net.dtype) if isinstance(net, ScaledResNet) else "torch",
              "threads": torch.get_num_threads()}
    with claimed(out, KIND, params) as folder:
        _note_engine(folder, engine)
        store.write_manifest(folder, params, study=KIND, **recorded(params), **engine, status="running")
        try:
            history = train(net, dataset, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                            momentum=momentum, seed=seed, checkpoint=folder / "checkpoint.pt", progress=progress,
                            layer_lr=layer_lr)
        except KeyboardInterrupt as err:  # the checkpoint holds every finished epoch
            raise KeyboardInterrupt(f"interrupted: the epochs finished are kept in {folder / 'checkpoint.pt'}; "
                                    f"rerun the same command to resume") from err
        try:
            _finish(folder, params, history, engine)
        except KeyboardInterrupt as err:  # training is over: the rerun only writes what follows from it
            raise KeyboardInterrupt(f"interrupted while writing the results: every epoch is kept in "
                                    f"{folder / 'checkpoint.pt'}; rerun the same command to write history.csv, "
                                    f"weights.pt, the figures and the manifest") from err
    return history


def _finish(folder: Path, params: dict, history: History, engine: dict) -> None:
    """What follows from a finished training: history.csv, weights.pt, training.png, weights.png, manifest.json
    (``engine``: the kernel and thread count it ran under)."""
    store.write_rows(folder / "history.csv", history.rows)
    first, last = history.snapshots[0], history.snapshots[max(history.snapshots)]
    with store.replacing(folder / "weights.pt") as f:
        torch.save({"before": first, "after": last}, f)
    exponents = {name: _exponent(_main(w)) for name, w in (("before", first), ("after", last))}
    history.plot(folder / "training.png")
    from . import plots

    plots.weights_figure(_main(first), _main(last), path=folder / "weights.png",
                         exponents={k: v for k, v in exponents.items() if v is not None})
    final = history.final
    store.write_manifest(folder, params, study=KIND, **recorded(params), **engine,
                         status="diverged" if history.diverged else "complete",
                         epochs_done=final["epoch"], test_loss=final["test_loss"],
                         test_accuracy=final["test_accuracy"],
                         regularity={k: None if v is None else list(v) for k, v in exponents.items()})


def _started(out: Folder) -> dict | None:
    """The manifest of the train run in ``out`` (None where there is none: no folder, no manifest, another's)."""
    path = Path(out) / store.MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None  # absent, or unreadable: claimed says so
    return manifest if isinstance(manifest, dict) and manifest.get("study") == KIND.name else None


def _same_inputs(out: Folder, params: dict) -> None:
    """Refuse to resume the run in ``out`` (of these settings) on other inputs than it started on: a data file whose
    bytes changed (its sha256), another reslimit version; a ValueError naming which, before anything is written.
    Other settings are left to :func:`reslimit.studies.protocol.claimed`."""
    old = _started(out)
    if old is None or not isinstance(old.get("params"), dict) or _but_data(old["params"]) != json.loads(
            json.dumps(_but_data(params))):
        return
    was, now = old["params"].get("data_sha256"), params.get("data_sha256")
    if None not in (was, now) and was != now:
        raise ValueError(f"data file {params['data']!r} changed since the run started (sha256 {now} vs {was}); "
                         f"resume it on the data it started on, or choose another directory")
    was, now = old.get("versions", {}).get("reslimit"), store.versions()["reslimit"]
    if was is not None and was != now:
        raise ValueError(f"out {str(out)!r} holds a run started by reslimit {was}; this is reslimit {now}: resume it "
                         f"with that version, or choose another directory")


def _but_data(params: dict) -> dict:
    return {k: v for k, v in params.items() if k != "data_sha256"}


def _note_engine(folder: Path, engine: dict) -> None:
    """On a resume, one line on stderr where the run continues under another kernel or thread count than it ran
    under: its history may then differ in the last digits from an uninterrupted run (both are recorded)."""
    old = _started(folder)
    if old is None or not (folder / "checkpoint.pt").exists():
        return
    was = {k: old.get(k) for k in engine}
    if was != engine:
        print(f"reslimit: note: {folder} ran under the {was['engine']} engine with {was['threads']} threads; it "
              f"continues under the {engine['engine']} engine with {engine['threads']} threads, so the last digits "
              f"of its history may differ from an uninterrupted run's", file=sys.stderr)


def _main(snapshot: dict[str, torch.Tensor]) -> torch.Tensor:
    """The weights the regularity and the figure read: the first of the snapshot, V, or a user block's first
    parameter as (L, E, a, b), a vector (L, E, a) as a column (L, E, a, 1)."""
    w = next(iter(snapshot.values()))
    return w if w.dim() >= 4 else w.reshape(*w.shape[:2], -1, 1)


def _exponent(V: torch.Tensor) -> tuple[float, float, float] | None:
    """(exponent, ci_low, ci_high) of V's path (:func:`reslimit.regularity.regularity`), None when it is too short
    or not finite to be measured."""
    try:
        r = regularity(V, boot=200)
    except ValueError:
        return None
    return r.exponent, r.ci_low, r.ci_high
