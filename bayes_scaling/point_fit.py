r"""Point-estimate fits of a curve: least squares, or a Huber loss minimised from many starts.

This is the optimiser behind the paper's method (:mod:`bayes_scaling.paper_method`).
A law says *what* its point fit is (a :class:`CurveFit`: the parameters with
their start ranges and bounds, a ``jax.numpy`` curve, the loss); this module
says *how* it is fitted. Gradients and Jacobians come from JAX's automatic
differentiation of the curve, so a law is written once, in JAX, and no
derivative is derived by hand.

Huber loss
    :math:`H(r) = r^2 / 2` for :math:`|r| \le \delta`, else
    :math:`\delta (|r| - \delta / 2)`, with ``delta = 1e-3``
    (:data:`HUBER_DELTA`, as in Krajewski et al. 2025), summed over points and
    minimised with ``scipy.optimize.minimize(method="L-BFGS-B")`` from
    ``n_starts`` starting points drawn by Latin hypercube sampling (seeded)
    from a box per parameter; the start that ends lowest is kept.
Least squares
    For a curve linear in its parameters: closed form, from the curve's
    Jacobian (the design matrix) and its value at zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from bayes_scaling.errors import DataError
from bayes_scaling.transforms import SCALES

#: Threshold of the Huber loss between its quadratic and linear parts, as in the paper.
HUBER_DELTA = 1e-3

#: A curve: ``(theta, inputs) -> prediction`` in ``jax.numpy``, ``theta`` a dict of scalars.
Curve = Callable[[Mapping, Mapping], jax.Array]


@dataclass(frozen=True)
class PointParameter:
    """One parameter of a point fit: the range its starts are drawn from and its L-BFGS-B bounds."""

    name: str
    start: tuple[float, float]
    bounds: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class PointSolution:
    """The best point fit found.

    ``theta`` maps parameter names to floats; ``loss`` is the residual sum of
    squares (least squares) or the summed Huber loss; ``n_converged`` counts
    the starts at which L-BFGS-B reported convergence.
    """

    theta: dict
    loss: float
    n_starts: int
    n_converged: int


@dataclass(frozen=True)
class CurveFit:
    """A curve and how the paper's method fits it.

    Attributes
    ----------
    parameters : tuple of PointParameter
        In the order the optimiser sees them.
    curve : callable
        ``(theta, inputs) -> prediction`` in ``jax.numpy``. Use a module-level
        function or a bound method, not a new lambda per call: compiled
        objectives are cached by the curve.
    loss : {"huber", "least_squares"}
        ``least_squares`` needs a curve linear in its parameters.
    default_starts : int
        Starting points of a Huber fit when the caller gives none.
    requirement : str
        What the data need for a least-squares design of full rank (for the error).
    """

    parameters: tuple[PointParameter, ...]
    curve: Curve
    loss: str = "huber"
    default_starts: int = 50
    requirement: str = "inputs that vary"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def fit(self, inputs: Mapping, target, n_starts: int | None = None, seed: int = 0) -> PointSolution:
        """Fit the curve to ``target`` at ``inputs`` (arrays of one length)."""
        inputs = {name: np.asarray(value, dtype=float) for name, value in inputs.items()}
        target = np.asarray(target, dtype=float)
        if self.loss == "least_squares":
            return self._least_squares(inputs, target)
        return self._huber(inputs, target, self.default_starts if n_starts is None else n_starts, seed)

    def predict(self, theta: Mapping, inputs: Mapping) -> np.ndarray:
        """The curve at ``inputs`` for one point estimate ``theta``."""
        return np.asarray(self.curve({name: float(theta[name]) for name in self.names}, inputs))

    def linear_design(self, inputs: Mapping) -> tuple[np.ndarray, np.ndarray]:
        """For a curve linear in its parameters: ``(design, offset)`` with ``curve = offset + design @ theta``.

        The design is the curve's Jacobian (by JAX), one row per point and one
        column per parameter; the offset, its value at zero parameters.
        """
        inputs = {name: np.asarray(value, dtype=float) for name, value in inputs.items()}
        n = len(next(iter(inputs.values())))
        zero = jnp.zeros(len(self.parameters))
        at = functools.partial(_curve_at, self.curve, self.names, inputs)
        return np.asarray(jax.jacfwd(at)(zero)).reshape(n, -1), np.broadcast_to(np.asarray(at(zero)), (n,))

    # ------------------------------------------------------------------ solvers
    def _least_squares(self, inputs, target) -> PointSolution:
        design, offset = self.linear_design(inputs)
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise DataError(f"the paper's least-squares fit cannot separate its coefficients: it needs {self.requirement}")
        coefficients, *_ = np.linalg.lstsq(design, target - offset, rcond=None)
        rss = float(np.sum(np.square(target - offset - design @ coefficients)))
        return PointSolution(dict(zip(self.names, map(float, coefficients))), rss, 1, 1)

    def _huber(self, inputs, target, n_starts: int, seed: int) -> PointSolution:
        objective = huber_objective(self.curve, self.names, inputs, target)
        low, high = (np.array([p.start[i] for p in self.parameters], dtype=float) for i in (0, 1))
        # Latin hypercube: every parameter's start range is covered evenly however few the starts.
        starts = qmc.scale(qmc.LatinHypercube(d=len(self.parameters), seed=seed).random(n_starts), low, high)
        bounds = [p.bounds for p in self.parameters]
        best, converged = None, 0
        with one_blas_thread():
            for start in starts:
                result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
                converged += bool(result.success)
                if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
                    best = result
        return PointSolution(dict(zip(self.names, map(float, best.x))), float(best.fun) * HUBER_DELTA, n_starts,
                             converged)


def _curve_at(curve: Curve, names: Sequence[str], inputs: Mapping, vector):
    return curve(dict(zip(names, vector)), inputs)


def huber(residual, delta: float = HUBER_DELTA):
    r"""Huber loss of each residual.

    :math:`r^2 / 2` for :math:`|r| \le \delta`, else :math:`\delta (|r| - \delta / 2)`.
    """
    residual = jnp.asarray(residual)
    size = jnp.abs(residual)
    return jnp.where(size <= delta, 0.5 * jnp.square(residual), delta * (size - 0.5 * delta))


@functools.cache
def _compiled_huber(curve: Curve, names: tuple[str, ...]):
    """Summed Huber loss over weighted points and its gradient, compiled once per curve."""

    def loss(vector, inputs, target, weight):
        residual = _curve_at(curve, names, inputs, vector) - target
        return jnp.sum(weight * huber(residual)) / HUBER_DELTA

    return jax.jit(jax.value_and_grad(loss))


def _padded_length(n: int) -> int:
    # Points are padded (with weight 0) to a power of two, so that the splits of
    # an evaluation share a few compiled objectives instead of one per length.
    return max(8, 1 << (n - 1).bit_length())


def huber_objective(curve: Curve, names: tuple[str, ...], inputs: Mapping, target: np.ndarray):
    """Summed Huber loss of ``curve - target`` and its exact gradient, both divided by ``delta``.

    Divided by delta the loss is about ``sum |r|``, of order one, where
    L-BFGS-B's default tolerances are meant to work; the minimiser is the same.
    """
    n = len(target)
    pad = _padded_length(n) - n
    # Padding repeats the last point, so the curve stays finite there; its weight is 0.
    padded = {name: np.pad(np.broadcast_to(value, (n,)), (0, pad), mode="edge") for name, value in inputs.items()}
    weight = np.pad(np.ones(n), (0, pad))
    compiled = _compiled_huber(curve, names)
    # On the device once: L-BFGS-B calls the objective thousands of times, and
    # each call's own cost is mostly JAX's dispatch (about 50 microseconds).
    args = jax.device_put((padded, np.pad(target, (0, pad), mode="edge"), weight))

    def objective(vector):
        value, gradient = compiled(vector, *args)
        value = float(value)
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            # A start that overflows is abandoned by the line search, not the whole fit.
            return 1e300, np.zeros(len(names))
        return value, np.asarray(gradient, dtype=float)

    return objective


# --------------------------------------------------------------------------- BLAS threads
def one_blas_thread():
    """Run BLAS on one thread inside the block (threadpoolctl), and restore it after.

    L-BFGS-B calls BLAS on vectors of a few numbers at every iteration, and
    OpenBLAS hands each call to its thread pool: on a busy 2-core machine that
    made fits 5-30 times slower (10 starts of eq. 10 on ARC-Easy: 1.3-7.6 s
    with two threads, 0.24-0.38 s with one).
    """
    return threadpool_limits(limits=1, user_api="blas")


# --------------------------------------------------------------------------- a law's paper method
@dataclass(frozen=True)
class PointData:
    """What a law's point fit reads: rescaled inputs, observations on the law's scale, the table rows."""

    inputs: Mapping[str, np.ndarray]
    y: object
    frame: object


@dataclass(frozen=True)
class DirectPaperMethod:
    """The paper's method for a law of accuracy in its inputs alone: one curve on one scale.

    What :mod:`bayes_scaling.paper_method` asks of a law's
    :meth:`~bayes_scaling.laws.base.Law.paper_method`: ``fit(points, n_starts,
    seed)``, ``normalised_accuracy(theta, inputs, chance)``,
    ``paper_parameters(theta)`` and ``default_starts``
    (:class:`bayes_scaling.laws.two_stage.TwoStagePaperMethod` is the other kind).

    Attributes
    ----------
    curve_fit : CurveFit
        The curve in the paper's parameters, on ``scale``.
    scale : str
        A key of :data:`bayes_scaling.transforms.SCALES`: the curve predicts
        ``log(-log Q)`` or ``-log Q``, and the residuals are taken there.
    to_paper : callable
        ``theta -> {name: value}`` in the paper's notation (C, N, D unscaled).
    """

    curve_fit: CurveFit
    scale: str
    to_paper: Callable[[Mapping], dict]

    @property
    def default_starts(self) -> int:
        return self.curve_fit.default_starts

    def fit(self, points: PointData, n_starts: int | None, seed: int) -> PointSolution:
        target = SCALES[self.scale].forward(points.frame["value"], points.frame["chance"])
        return self.curve_fit.fit(points.inputs, target, n_starts, seed)

    def normalised_accuracy(self, theta: Mapping, inputs: Mapping, chance: float) -> np.ndarray:
        """``Q`` at rescaled ``inputs``: the curve mapped back from its scale (``chance`` is not needed)."""
        return np.asarray(SCALES[self.scale].inverse(self.curve_fit.predict(theta, inputs), 0.0))

    def paper_parameters(self, theta: Mapping) -> dict:
        return self.to_paper(theta)
