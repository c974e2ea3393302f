"""Likelihood scales: from a measurement to the scale a law is fitted on and back.

Accuracy is first normalised by the benchmark's chance level,
``Q = (acc - chance) / (1 - chance)``, so that ``Q`` runs from 0 (random guessing)
to 1 (perfect). Predictions map back with ``acc = chance + (1 - chance) Q``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np


def normalised_accuracy(accuracy, chance):
    """Q = (acc - chance) / (1 - chance)."""
    accuracy = np.asarray(accuracy, dtype=float)
    chance = np.asarray(chance, dtype=float)
    return (accuracy - chance) / (1.0 - chance)


@dataclass(frozen=True)
class Scale:
    """A likelihood scale: ``forward`` maps a measurement to it, ``inverse`` back.

    ``forward`` returns NaN where the measurement cannot be represented (for
    example Q <= 0 or Q >= 1 on ``log(-log Q)``); callers exclude and count those.
    """

    name: str
    label: str
    forward: Callable
    inverse: Callable


def _forward_log_neg_log_q(accuracy, chance):
    q = normalised_accuracy(accuracy, chance)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(-np.log(q))
    return np.where((q > 0) & (q < 1), y, np.nan)


def _inverse_log_neg_log_q(y, chance):
    return chance + (1.0 - chance) * jnp.exp(-jnp.exp(y))


def _forward_neg_log_q(accuracy, chance):
    q = normalised_accuracy(accuracy, chance)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = -np.log(q)
    return np.where(q > 0, y, np.nan)


def _inverse_neg_log_q(y, chance):
    return chance + (1.0 - chance) * jnp.exp(-y)


SCALES: dict[str, Scale] = {
    "log_neg_log_q": Scale(
        "log_neg_log_q", "log(-log Q)", _forward_log_neg_log_q, _inverse_log_neg_log_q
    ),
    "neg_log_q": Scale("neg_log_q", "-log Q", _forward_neg_log_q, _inverse_neg_log_q),
}
