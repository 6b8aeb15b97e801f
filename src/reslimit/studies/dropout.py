"""Dropout in the residual branch: h_{k+1} = h_k + alpha V_{k+1} (m_{k+1} * g(h_k, W_{k+1})) / q in training mode.

Each unit of g is kept with probability q = 1 - dropout by an independent mask m (per sample, unit and layer);
the division by q (inverted dropout) keeps E[m g / q] = g, so the evaluation-mode network (no masks) is the plain
one. On i.i.d. weights, E||V (m * g)||^2 / q^2 = E||m * g||^2 / q^2 = ||g||^2 / q, hence (derivation in
reslimit/studies/stochastic_depth.py)

    E||h_L - h_0||^2 / ||h_0||^2 = (1 + c alpha^2 / q)^L - 1     (training mode),

c = 1/2 for res-3 (ReLU), 1 for res-1 with the identity: dropout at keep probability q acts on the second moment
as alpha^2 -> alpha^2 / q. :func:`train_digits` trains a res-3 network with input and output layers on the
digits by :func:`reslimit.train.train`, which trains in training mode and evaluates in evaluation mode.
"""

from __future__ import annotations

import torch

from ..data import get_data
from ..resnet import ScaledResNet
from ..train import train


def train_digits(*, dropout: float | None, seed: int, depth: int, width: int, epochs: int, lr: float = 0.05,
                 beta: float = 0.5) -> dict:
    """Train ScaledResNet(depth, width, beta, "res3", dropout=dropout, seed=seed) (float32, input and output layers)
    on the digits by SGD; return {dropout, seed, depth, width, epochs, accuracies (test, per epoch, epoch 0
    first), final (the last), train_loss (the last epoch's)}."""
    data = get_data("digits", seed=0)
    net = ScaledResNet(depth, width, beta=beta, block="res3", seed=seed, dtype=torch.float32, dropout=dropout,
                       input_dim=data.input_dim, output_dim=data.output_dim)
    history = train(net, data, epochs=epochs, lr=lr, seed=seed)
    accuracies = [r["test_accuracy"] for r in history.rows]
    return {"dropout": dropout, "seed": seed, "depth": depth, "width": width, "epochs": epochs,
            "accuracies": accuracies, "final": accuracies[-1], "train_loss": history.final["train_loss"]}
