r"""The paper's method: point-estimate fits of Krajewski et al. 2025, as a baseline.

Krajewski et al. (2025, arXiv 2512.08894) fit their laws by least squares or by
a Huber loss minimised with L-BFGS from many starting points, and report one
set of parameters per fit. This module re-implements those fits, so that every
Bayesian result can be shown beside what the paper's procedure gives on the
same points and the same hold-out split.

All logarithms are natural; ``Q = (acc - chance) / (1 - chance)``.

======================== ========================================================== ===============================
form                     law (paper's notation)                                     fitted by
======================== ========================================================== ===============================
``power_law``            ``log(-log Q) = log A - alpha log C`` (eq. 2)              least squares on ``log(-log Q)``
``pass_at_k``            ``log(-log Q) = log A + alpha log C + beta log k``         least squares on ``log(-log Q)``
                         ``+ delta log C log k`` (eq. 5)
``saturating_power_law`` ``-log Q = A C^-alpha + E`` (eq. 10)                       Huber on ``log(-log Q)``
``additive_nd``          ``-log Q = A N^-alpha + B D^-beta`` (eq. 4)                Huber on ``log(-log Q)``
``bnsl``                 ``-log Q = a + b C^-c0 (1 + (C/d1)^(1/f1))^(-c1 f1)``      Huber on ``-log Q``
                         (eq. 1, one break)
``two_stage``            ``L = E + (C/C_N)^-alpha_N``;                              Huber on ``log L``, then
                         ``acc = a / (1 + exp(k (L - l0))) + b``                    Huber on ``acc``
``two_stage_linear``     ``L = E + (C/C_N)^-alpha_N``; ``acc = a + b L``            Huber on ``log L``, then
                                                                                    Huber on ``acc``
======================== ========================================================== ===============================

Loss scales
-----------
Each Huber loss is taken on the scale that the paper's released code
(github.com/apple/ml-scaling-downstream-metrics) fits that form on:

* eq. 4 and eq. 10: on ``log(-log Q)``, the log of the predicted ``-log Q``
  (computed with ``logaddexp``) against the log of the observed one; this is
  also the scale of eq. 2 and eq. 5, so the direct laws are all fitted on the
  same residuals, and the scale our Bayesian fits use.
* BNSL: on ``-log Q`` itself, the law's output against its target with no
  log (as the released code and DESIGN.md's ``y = -log Q``). The floor ``a``
  may be negative, so the law need not stay positive and could not be logged.
* two-stage, stage 1: on ``log L``, where the released code fits its loss
  curve (by least squares) and where Chinchilla-style fits put their Huber loss.
* two-stage, stage 2: on raw accuracy, where the logistic and the line are
  written and where the released code fits them (least squares,
  ``scipy.optimize.curve_fit``). Stage 2 is fitted on each run's *observed*
  loss; predictions push compute through stage 1 first.

Every Huber loss has ``delta = 1e-3`` (:data:`HUBER_DELTA`) and is summed over
points, as in the released code for eq. 4 and 10 (its BNSL code takes the mean,
which has the same minimiser). It is minimised with
``scipy.optimize.minimize(method="L-BFGS-B")`` and exact gradients from
``n_starts`` starting points drawn by Latin hypercube sampling (seeded) from a
box per parameter, and the start that ends lowest is kept. Residuals on every
scale above are many times ``delta`` (0.005-0.05), so the loss is nearly an
absolute (L1) loss: robust to outliers, with a kink at each zero residual that
can stop L-BFGS-B early; hence the many starts, and
:attr:`PaperFit.n_converged`.

Differences from the released code, all deliberate:

* The optimiser works on rescaled inputs, ``x = log(C / 1e21)``,
  ``n = log(N / 1e9)``, ``d = log(D / 2e10)`` (:data:`bayes_scaling.laws.base.REFERENCE`),
  and on log-parameters (``log A`` rather than ``A``), which keeps the problem
  well conditioned; :attr:`PaperFit.parameters` are converted back to the
  paper's notation with C, N, D in FLOPs, parameters and tokens.
* The released code runs L-BFGS unbounded, using its ranges only to draw
  starting points; here L-BFGS-B has bounds (listed per form below), so that no
  start wanders off to an overflowing or degenerate fit. For BNSL they are the
  paper's ranges, ``a`` in [-2, 5], ``b`` in (0, 50], ``c0``, ``c1``, ``f1`` in
  [0.1, 3], ``d1`` in [1e18, 1e24] FLOPs, with ``b`` measured at the
  reference compute (the coefficient of ``(C / 1e21)^-c0``); a bound of 50 on
  the coefficient of ``C^-c0`` with C in raw FLOPs would cap the power-law
  term at ``50 * 1e18^-0.1 = 0.8`` and depends on the unit of C.
* BNSL is fitted from ``n_starts`` random starts (100 by default, as the
  paper's 100 starts) without the paper's 100 basin-hopping iterations per
  start; the two-stage baseline keeps the irreducible loss ``E`` in stage 1 and
  fits both stages with the Huber loss (the released code fits a pure power law
  by least squares and stage 2 with ``curve_fit``), as
  :mod:`bayes_scaling.laws.two_stage` does.

The points are those the Bayesian fit of the same form uses:
:func:`bayes_scaling.inference.prepare` drops the rows its likelihood scale
cannot hold, so the two fits are always compared on the same data.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy
from scipy.optimize import minimize
from scipy.stats import qmc

from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.inference import prepare
from bayes_scaling.laws.base import INPUT_COLUMNS, REFERENCE, rescale
from bayes_scaling.selection import ScalingData

#: Threshold of the Huber loss between its quadratic and linear parts, as in the paper.
HUBER_DELTA = 1e-3

# Logs of the reference inputs, to convert rescaled coefficients to the paper's.
_LOG_C_REF = float(np.log(REFERENCE["compute"]))
_LOG_N_REF = float(np.log(REFERENCE["params"]))
_LOG_D_REF = float(np.log(REFERENCE["tokens"]))

#: Stage 2 of the two-stage baseline is written around this loss (nats), the
#: middle of a ladder's losses, so that its intercept and slope are not correlated.
_LOSS_CENTRE = 3.0


# --------------------------------------------------------------------------- result
@dataclass(frozen=True)
class PaperFit:
    """A point-estimate fit by the paper's method.

    Attributes
    ----------
    form : str
        The law, e.g. ``"power_law"``.
    parameters : dict of str to float
        The fitted parameters in the paper's notation, with compute C in FLOPs,
        N in parameters, D in tokens and L in nats (see :func:`paper_fit`).
    loss : float
        The minimised objective: the residual sum of squares of a
        least-squares fit, or the summed Huber loss (``delta = 1e-3``); for the
        two-stage baseline, stage 1's plus stage 2's.
    n_starts : int
        Starting points of the optimiser (1 for a closed-form fit; per stage
        for the two-stage baseline).
    n_converged : int
        Starts at which L-BFGS-B reported convergence (for the two-stage
        baseline, the smaller count of the two stages).
    n_points : int
        Points fitted.
    chance : float
        Chance level of the benchmark; predictions are ``chance + (1 - chance) Q``.
    """

    form: str
    parameters: dict
    loss: float
    n_starts: int
    n_converged: int
    n_points: int
    chance: float
    #: Fitted parameters on the rescaled inputs, as the optimiser saw them.
    theta: dict = field(repr=False)

    def predict(self, compute=None, params=None, tokens=None, k=None) -> np.ndarray:
        """Predicted raw accuracy, in ``[chance, 1]``.

        Parameters
        ----------
        compute : array-like, optional
            Training FLOPs; needed by every form but ``additive_nd``.
        params, tokens : array-like, optional
            Parameters N and training tokens D; needed (only) by ``additive_nd``.
        k : array-like, optional
            Samples per problem; needed by ``pass_at_k``.

        Returns
        -------
        numpy.ndarray
            Accuracy at each point, the inputs broadcast together. Normalised
            accuracy is clipped to [0, 1]: BNSL with a negative floor, or the
            two-stage stage 2, can leave it far from the data.

        Raises
        ------
        SpecError
            If an input the form needs is missing, an input it does not use is
            given, or a value is not positive and finite.
        """
        spec = _FORMS[self.form]
        given = {"compute": compute, "params": params, "tokens": tokens, "k": k}
        for name, value in given.items():
            if value is None and name in spec.inputs:
                raise SpecError(f"predict: form {self.form!r} needs {', '.join(spec.inputs)}; {name} is missing")
            if value is not None and name not in spec.inputs:
                raise SpecError(f"predict: form {self.form!r} takes {', '.join(spec.inputs)}, not {name}")
        raw = np.broadcast_arrays(*(np.asarray(given[name], dtype=float) for name in spec.inputs))
        for name, values in zip(spec.inputs, raw):
            if np.any(~np.isfinite(values)) or np.any(values <= 0):
                raise SpecError(f"predict: {name} must be positive and finite")
        inputs = {f"log_{name}": rescale(name, values) for name, values in zip(spec.inputs, raw)}
        q = np.clip(spec.normalised_accuracy(self.theta, inputs, self.chance), 0.0, 1.0)
        return np.asarray(self.chance + (1.0 - self.chance) * q)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted accuracy at the runs of a tidy table, e.g. ``data.held_out``.

        Reads the inputs the form needs from the table's ``flops``, ``params``,
        ``tokens`` and ``k`` columns.
        """
        spec = _FORMS[self.form]
        return self.predict(**{name: np.asarray(frame[INPUT_COLUMNS[name]], dtype=float) for name in spec.inputs})


# --------------------------------------------------------------------------- entry point
def paper_fit(data: ScalingData, form: str, *, n_starts: int | None = None, seed: int = 0) -> PaperFit:
    r"""Fit a law by the paper's method: least squares, or Huber loss and L-BFGS-B from many starts.

    With ``x = log(C / 1e21)``, ``n = log(N / 1e9)``, ``d = log(D / 2e10)``,
    ``kappa = log k``, ``y = log(-log Q)`` and ``H`` the Huber loss with
    ``delta = 1e-3`` summed over points, each form is fitted as follows
    (bounds are those of L-BFGS-B; starts are drawn from the ranges given):

    ``power_law`` (eq. 2)
        :math:`y = \log A - \alpha \log C`: ordinary least squares of ``y`` on
        ``x``, closed form. Parameters ``A``, ``alpha``.
    ``pass_at_k`` (eq. 5)
        :math:`y = \log A + \alpha \log C + \beta \log k + \delta \log C \log k`:
        ordinary least squares on all (C, k) together, closed form. The
        paper's signed coefficients: ``alpha < 0`` when pass@1 rises with
        compute, and the slope in ``log k`` at compute C, ``beta + delta log C``,
        is negative where pass@k rises with k. Parameters ``A``, ``alpha``,
        ``beta``, ``delta``.
    ``saturating_power_law`` (eq. 10)
        :math:`-\log Q = A C^{-\alpha} + E`, minimising
        :math:`H(\operatorname{logaddexp}(\log a - \alpha x, \log E) - y)` with
        ``log a = log A - alpha log 1e21``. Bounds ``log a`` in [-10, 5],
        ``alpha`` in [0, 3], ``log E`` in [-15, 3]; starts ``log a`` in
        [-3, 2], ``alpha`` in [0, 2], ``log E`` in [-5, 1]. Parameters ``A``,
        ``alpha``, ``E``.
    ``additive_nd`` (eq. 4)
        :math:`-\log Q = A N^{-\alpha} + B D^{-\beta}`, minimising
        :math:`H(\operatorname{logaddexp}(\log a - \alpha n, \log b - \beta d) - y)`.
        Bounds ``log a``, ``log b`` in [-15, 10], ``alpha``, ``beta`` in
        [0, 3]; starts ``log a``, ``log b`` in [-4, 1], ``alpha``, ``beta`` in
        [0.05, 1.5]. Parameters ``A``, ``alpha``, ``B``, ``beta``.
    ``bnsl`` (eq. 1, one break)
        :math:`-\log Q = a + b\, C^{-c_0} (1 + (C/d_1)^{1/f_1})^{-c_1 f_1}`,
        minimising :math:`H(a + b' e^{-c_0 x - c_1 f_1 \operatorname{softplus}(u)} + \log Q)`
        with :math:`u = (x - \log(d_1 / 10^{21})) / f_1` and ``b' = b 1e21^-c0``. Bounds and starts: the paper's ranges,
        ``a`` in [-2, 5], ``c0``, ``c1``, ``f1`` in [0.1, 3], ``d1`` in
        [1e18, 1e24] (uniform in ``log d1``), ``log b'`` in [-14, log 50]
        (starts in [log 1e-3, log 50]). Parameters ``a``, ``b``, ``c0``,
        ``c1``, ``d1``, ``f1``.
    ``two_stage``
        Stage 1, :math:`L = E + (C/C_N)^{-\alpha_N}`, minimising
        :math:`H(\operatorname{logaddexp}(\log r - \alpha_N x, \log E) - \log L)`
        with ``r`` the reducible loss at 1e21 FLOPs; bounds ``log r`` and
        ``log E`` in [-10, 3], ``alpha_N`` in [0, 3]; starts ``log r``,
        ``log E`` in [-3, 1.5], ``alpha_N`` in [0.01, 1]. Stage 2,
        :math:`\mathrm{acc} = a / (1 + e^{k (L - l_0)}) + b` on each run's
        observed loss, minimising ``H`` of the accuracy residuals; bounds ``a``,
        ``b`` in [0, 1], ``log k`` in [log 0.01, log 100], ``l0`` in [0, 10];
        starts ``a`` in [0.05, 1], ``b`` in [0, 0.7], ``k`` in [0.3, 30]
        (uniform in ``log k``), ``l0`` within a nat of the fitted losses.
        Parameters ``E``, ``alpha_N``, ``C_N``, ``a``, ``k``, ``l0``, ``b``.
    ``two_stage_linear``
        Stage 1 as ``two_stage``; stage 2 :math:`\mathrm{acc} = a + b L`,
        minimising ``H`` of the accuracy residuals (written as
        ``a' + b (L - 3)``; unbounded, starts ``a'`` in [0, 1], ``b`` in
        [-1, 0]). Parameters ``E``, ``alpha_N``, ``C_N``, ``a``, ``b``.

    Parameters
    ----------
    data : ScalingData
        From :func:`bayes_scaling.select`, or for the two-stage forms from
        :func:`bayes_scaling.laws.two_stage.select_two_stage` (with a ``loss``
        column). Only ``data.fitted`` is fitted, and of it only the rows that
        the Bayesian fit of the same form keeps
        (:func:`bayes_scaling.inference.prepare`).
    form : str
        One of :data:`FORMS`.
    n_starts : int, optional
        Starting points of each Huber fit; default per form
        (:data:`DEFAULT_STARTS`: 100 for BNSL as in the paper, 81 for
        ``additive_nd`` as the paper's 3^4 grid, 50 otherwise). Ignored by the
        least-squares forms.
    seed : int
        Seed of the starting points; the same seed gives the same fit.

    Returns
    -------
    PaperFit

    Raises
    ------
    SpecError
        If ``form`` is not one of :data:`FORMS` or ``n_starts`` is not a
        positive integer.
    DataError
        If too few usable points remain, the points have more than one chance
        level, or a least-squares design cannot separate its coefficients.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.paper_method import paper_fit
    >>> data = bs.select(bs.load_dataset("krajewski2025_dclm"), "arc_easy", tpr=20, max_compute=1e21)
    >>> fit = paper_fit(data, "power_law")
    >>> round(fit.parameters["alpha"], 3)
    0.162
    >>> fit.predict(compute=[1e22]).round(3)
    array([0.766])
    """
    if form not in _FORMS:
        raise SpecError(f"option form: the paper's method has no form {form!r}; forms: {', '.join(FORMS)}")
    spec = _FORMS[form]
    if n_starts is None:
        n_starts = spec.default_starts
    if isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise SpecError(f"option n_starts must be a positive integer, got {n_starts!r}")
    prepared, inputs, y = prepare(data, form)
    chance = _chance_level(prepared.fitted)
    points = _Points(inputs=inputs, y=y, frame=prepared.fitted)
    solution = spec.fit(points, int(n_starts), seed)
    return PaperFit(
        form=form,
        parameters={name: float(value) for name, value in spec.paper_parameters(solution.theta).items()},
        loss=float(solution.loss),
        n_starts=solution.n_starts,
        n_converged=solution.n_converged,
        n_points=len(prepared.fitted),
        chance=chance,
        theta=dict(solution.theta),
    )


def _chance_level(frame: pd.DataFrame) -> float:
    """The one chance level of the fitted rows."""
    levels = np.unique(np.asarray(frame["chance"], dtype=float))
    if levels.size != 1:
        raise DataError(f"column chance: the paper's method needs one chance level per fit, got {levels.tolist()}")
    return float(levels[0])


# --------------------------------------------------------------------------- optimiser
@dataclass(frozen=True)
class _Points:
    """What a form is fitted on: rescaled inputs, observations from ``prepare``, the rows."""

    inputs: Mapping[str, np.ndarray]
    y: object
    frame: pd.DataFrame


@dataclass(frozen=True)
class _Solution:
    theta: dict
    loss: float
    n_starts: int
    n_converged: int


@dataclass(frozen=True)
class _Parameter:
    """One parameter of a Huber fit: the range its starts are drawn from and its L-BFGS-B bounds."""

    name: str
    start: tuple[float, float]
    bounds: tuple[float | None, float | None]


#: A law as the optimiser sees it: parameters -> (prediction, Jacobian), the
#: Jacobian with one column per parameter, in the order of the fit's ``_Parameter`` list.
_Model = Callable[[dict], tuple[np.ndarray, np.ndarray]]


def huber(residual, delta: float = HUBER_DELTA):
    r"""Huber loss of each residual.

    :math:`r^2 / 2` for :math:`|r| \le \delta`, else :math:`\delta (|r| - \delta / 2)`.
    """
    size = np.abs(residual)
    return np.where(size <= delta, 0.5 * np.square(residual), delta * (size - 0.5 * delta))


def _huber_objective(model: _Model, target: np.ndarray, names: list[str]):
    """Summed Huber loss of ``model - target`` and its gradient, both divided by ``delta``.

    Divided by delta the loss is about ``sum |r|``, of order one, where
    L-BFGS-B's default tolerances are meant to work; the minimiser is the same.
    The gradient is exact (``J^T clip(r, -delta, delta)``): finite differences
    cost a model evaluation per parameter and blur the Huber kink.
    """

    def objective(vector):
        prediction, jacobian = model(dict(zip(names, vector)))
        residual = prediction - target
        value = np.sum(huber(residual)) / HUBER_DELTA
        if not np.isfinite(value):
            # A start that overflows is abandoned by the line search, not the whole fit.
            return 1e300, np.zeros(len(names))
        return value, jacobian.T @ np.clip(residual, -HUBER_DELTA, HUBER_DELTA) / HUBER_DELTA

    return objective


def _minimise_huber(
    model: _Model, target: np.ndarray, parameters: list[_Parameter], n_starts: int, seed: int
) -> _Solution:
    """Minimise the summed Huber loss of ``model - target`` by L-BFGS-B from ``n_starts`` starts; keep the best."""
    names = [p.name for p in parameters]
    objective = _huber_objective(model, np.asarray(target, dtype=float), names)
    low, high = (np.array([p.start[i] for p in parameters], dtype=float) for i in (0, 1))
    # Latin hypercube: every parameter's start range is covered evenly however few the starts.
    starts = qmc.scale(qmc.LatinHypercube(d=len(parameters), seed=seed).random(n_starts), low, high)
    best, converged = None, 0
    with _one_blas_thread():
        for start in starts:
            result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[p.bounds for p in parameters])
            converged += bool(result.success)
            if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
                best = result
    return _Solution(dict(zip(names, map(float, best.x))), float(best.fun) * HUBER_DELTA, n_starts, converged)


@functools.cache
def _scipy_openblas():
    """``(get_num_threads, set_num_threads)`` of the OpenBLAS bundled with scipy's wheels, or None."""
    root = os.path.dirname(scipy.__file__)
    patterns = [os.path.join(root, os.pardir, "scipy.libs", "*openblas*"), os.path.join(root, ".dylibs", "*openblas*")]
    for path in sorted(p for pattern in patterns for p in glob.glob(pattern)):
        try:
            library = ctypes.CDLL(path)  # already loaded by scipy: this returns the same handle
            return library.scipy_openblas_get_num_threads, library.scipy_openblas_set_num_threads
        except (OSError, AttributeError):
            continue
    return None


@contextmanager
def _one_blas_thread():
    """Run scipy's BLAS on one thread inside the block, and restore it after.

    L-BFGS-B calls BLAS on vectors of a few numbers at every iteration, and
    OpenBLAS hands each call to its thread pool: on a busy 2-core machine that
    made fits 5-30 times slower (10 starts of eq. 10 on ARC-Easy: 1.3-7.6 s
    with two threads, 0.24-0.38 s with one). This does what threadpoolctl
    does, for the one library involved; with another BLAS nothing changes.
    """
    functions = _scipy_openblas()
    if functions is None:
        yield
        return
    get_threads, set_threads = functions
    threads = get_threads()
    set_threads(1)
    try:
        yield
    finally:
        set_threads(threads)


def _least_squares(design: np.ndarray, y: np.ndarray, requirement: str) -> tuple[np.ndarray, float]:
    """Ordinary least squares: coefficients and residual sum of squares.

    ``requirement`` says, for the error, what data the design needs to have full rank.
    """
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise DataError(f"the paper's least-squares fit cannot separate its coefficients: it needs {requirement}")
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coefficients, float(np.sum(np.square(y - design @ coefficients)))


# --------------------------------------------------------------------------- shared pieces
def _floored_log_power(level, slope, log_floor, x):
    """``z = log(exp(level - slope x) + exp(log_floor))`` and its Jacobian in (level, slope, log_floor).

    The log of a power law plus a constant: eq. 10 on ``log(-log Q)`` and the
    two-stage loss curve on ``log L``.
    """
    power = level - slope * x
    z = np.logaddexp(power, log_floor)
    share = np.exp(power - z)  # share of the power-law term in the sum
    return z, np.column_stack([share, -x * share, 1.0 - share])


def _softplus(z):
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    return np.exp(-_softplus(-z))


def _q_from_log_neg_log_q(y):
    return np.exp(-np.exp(y))


# --------------------------------------------------------------------------- eq. 2
def _fit_power_law(points: _Points, n_starts: int, seed: int) -> _Solution:
    x = points.inputs["log_compute"]
    (log_a, alpha), rss = _least_squares(
        np.column_stack([np.ones_like(x), -x]), points.y, "at least two compute budgets"
    )
    return _Solution({"log_a": log_a, "alpha": alpha}, rss, 1, 1)


def _power_law_q(theta, inputs, chance):
    return _q_from_log_neg_log_q(theta["log_a"] - theta["alpha"] * inputs["log_compute"])


def _power_law_paper(theta):
    return {"A": np.exp(theta["log_a"] + theta["alpha"] * _LOG_C_REF), "alpha": theta["alpha"]}


# --------------------------------------------------------------------------- eq. 5
_PASS_AT_K = ("c0", "c_compute", "c_k", "c_both")


def _pass_at_k_design(inputs):
    """The regressors ``1, x, kappa, x kappa``, one row per point."""
    x, kappa = (np.ravel(inputs[name]) for name in ("log_compute", "log_k"))
    return np.column_stack([np.ones_like(x), x, kappa, x * kappa])


def _fit_pass_at_k(points: _Points, n_starts: int, seed: int) -> _Solution:
    coefficients, rss = _least_squares(
        _pass_at_k_design(points.inputs), points.y, "at least two compute budgets and two values of k"
    )
    return _Solution(dict(zip(_PASS_AT_K, coefficients)), rss, 1, 1)


def _pass_at_k_q(theta, inputs, chance):
    y = _pass_at_k_design(inputs) @ np.array([theta[name] for name in _PASS_AT_K])
    return _q_from_log_neg_log_q(y).reshape(np.shape(inputs["log_compute"]))


def _pass_at_k_paper(theta):
    # With log C = x + log 1e21, the intercept and the k-slope absorb the shift.
    return {
        "A": np.exp(theta["c0"] - theta["c_compute"] * _LOG_C_REF),
        "alpha": theta["c_compute"],
        "beta": theta["c_k"] - theta["c_both"] * _LOG_C_REF,
        "delta": theta["c_both"],
    }


# --------------------------------------------------------------------------- eq. 10
_SATURATING = [
    _Parameter("log_a", (-3.0, 2.0), (-10.0, 5.0)),
    _Parameter("alpha", (0.0, 2.0), (0.0, 3.0)),
    _Parameter("log_e", (-5.0, 1.0), (-15.0, 3.0)),
]


def _saturating(theta, inputs):
    """``log(-log Q) = log(a (C/1e21)^-alpha + E)`` and its Jacobian."""
    return _floored_log_power(theta["log_a"], theta["alpha"], theta["log_e"], inputs["log_compute"])


def _fit_saturating(points: _Points, n_starts: int, seed: int) -> _Solution:
    return _minimise_huber(lambda t: _saturating(t, points.inputs), points.y, _SATURATING, n_starts, seed)


def _saturating_q(theta, inputs, chance):
    return _q_from_log_neg_log_q(_saturating(theta, inputs)[0])


def _saturating_paper(theta):
    return {
        "A": np.exp(theta["log_a"] + theta["alpha"] * _LOG_C_REF),
        "alpha": theta["alpha"],
        "E": np.exp(theta["log_e"]),
    }


# --------------------------------------------------------------------------- eq. 4
_ADDITIVE = [
    _Parameter("log_a", (-4.0, 1.0), (-15.0, 10.0)),
    _Parameter("alpha", (0.05, 1.5), (0.0, 3.0)),
    _Parameter("log_b", (-4.0, 1.0), (-15.0, 10.0)),
    _Parameter("beta", (0.05, 1.5), (0.0, 3.0)),
]


def _additive(theta, inputs):
    """``log(-log Q) = log(a (N/1e9)^-alpha + b (D/2e10)^-beta)`` and its Jacobian."""
    n, d = inputs["log_params"], inputs["log_tokens"]
    params_term = theta["log_a"] - theta["alpha"] * n
    z = np.logaddexp(params_term, theta["log_b"] - theta["beta"] * d)
    share = np.exp(params_term - z)  # share of the N-term in -log Q
    return z, np.column_stack([share, -n * share, 1.0 - share, -d * (1.0 - share)])


def _fit_additive(points: _Points, n_starts: int, seed: int) -> _Solution:
    return _minimise_huber(lambda t: _additive(t, points.inputs), points.y, _ADDITIVE, n_starts, seed)


def _additive_q(theta, inputs, chance):
    return _q_from_log_neg_log_q(_additive(theta, inputs)[0])


def _additive_paper(theta):
    return {
        "A": np.exp(theta["log_a"] + theta["alpha"] * _LOG_N_REF),
        "alpha": theta["alpha"],
        "B": np.exp(theta["log_b"] + theta["beta"] * _LOG_D_REF),
        "beta": theta["beta"],
    }


# --------------------------------------------------------------------------- eq. 1 (BNSL)
_LOG_D_RANGE = (float(np.log(1e18 / REFERENCE["compute"])), float(np.log(1e24 / REFERENCE["compute"])))
_BNSL = [
    _Parameter("a", (-2.0, 5.0), (-2.0, 5.0)),
    _Parameter("log_b", (float(np.log(1e-3)), float(np.log(50.0))), (-14.0, float(np.log(50.0)))),
    _Parameter("c0", (0.1, 3.0), (0.1, 3.0)),
    _Parameter("c1", (0.1, 3.0), (0.1, 3.0)),
    _Parameter("log_d1", _LOG_D_RANGE, _LOG_D_RANGE),
    _Parameter("f1", (0.1, 3.0), (0.1, 3.0)),
]


def _bnsl(theta, inputs):
    """``-log Q = a + b' (C/1e21)^-c0 (1 + (C/d1)^(1/f1))^(-c1 f1)`` and its Jacobian.

    The break term is kept in log space: with ``u = (x - log(d1/1e21)) / f1``,
    ``log`` of the reducible part is ``log b' - c0 x - c1 f1 softplus(u)``.
    """
    x = inputs["log_compute"]
    c1, f1 = theta["c1"], theta["f1"]
    u = (x - theta["log_d1"]) / f1
    soft, slope = _softplus(u), _sigmoid(u)
    reducible = np.exp(theta["log_b"] - theta["c0"] * x - c1 * f1 * soft)
    jacobian = np.column_stack([
        np.ones_like(x),                        # a
        reducible,                              # log b'
        -x * reducible,                         # c0
        -f1 * soft * reducible,                 # c1
        c1 * slope * reducible,                 # log d1
        -c1 * (soft - u * slope) * reducible,   # f1
    ])
    return theta["a"] + reducible, jacobian


def _fit_bnsl(points: _Points, n_starts: int, seed: int) -> _Solution:
    # The paper's BNSL loss is on -log Q itself; prepare() gives log(-log Q).
    return _minimise_huber(lambda t: _bnsl(t, points.inputs), np.exp(points.y), _BNSL, n_starts, seed)


def _bnsl_q(theta, inputs, chance):
    return np.exp(-_bnsl(theta, inputs)[0])


def _bnsl_paper(theta):
    return {
        "a": theta["a"],
        "b": np.exp(theta["log_b"] + theta["c0"] * _LOG_C_REF),
        "c0": theta["c0"],
        "c1": theta["c1"],
        "d1": REFERENCE["compute"] * np.exp(theta["log_d1"]),
        "f1": theta["f1"],
    }


# --------------------------------------------------------------------------- two-stage baseline
_LOSS_CURVE = [
    _Parameter("log_r", (-3.0, 1.5), (-10.0, 3.0)),
    _Parameter("alpha_N", (0.01, 1.0), (0.0, 3.0)),
    _Parameter("log_e", (-3.0, 1.5), (-10.0, 3.0)),
]


def _logistic_parameters(loss: np.ndarray) -> list[_Parameter]:
    """Stage 2's logistic; its midpoint ``l0`` starts within a nat of the fitted losses."""
    return [
        _Parameter("a", (0.05, 1.0), (0.0, 1.0)),
        _Parameter("b", (0.0, 0.7), (0.0, 1.0)),
        _Parameter("log_k", (float(np.log(0.3)), float(np.log(30.0))), (float(np.log(0.01)), float(np.log(100.0)))),
        _Parameter("l0", (float(loss.min()) - 1.0, float(loss.max()) + 1.0), (0.0, 10.0)),
    ]


def _linear_parameters(loss: np.ndarray) -> list[_Parameter]:
    """Stage 2's line; a convex Huber problem, so any start reaches the minimum."""
    return [_Parameter("a_centre", (0.0, 1.0), (None, None)), _Parameter("b", (-1.0, 0.0), (None, None))]


def _loss_curve(theta, inputs):
    """Stage 1: ``log L = log(r (C/1e21)^-alpha_N + E)`` and its Jacobian."""
    return _floored_log_power(theta["log_r"], theta["alpha_N"], theta["log_e"], inputs["log_compute"])


def _logistic(theta, loss):
    """Stage 2: ``acc = a / (1 + exp(k (L - l0))) + b`` and its Jacobian in (a, b, log k, l0)."""
    k = np.exp(theta["log_k"])
    rise = _sigmoid(-k * (loss - theta["l0"]))  # 1 / (1 + exp(k (L - l0))), without overflow
    gradient = theta["a"] * rise * (1.0 - rise)
    jacobian = np.column_stack([rise, np.ones_like(loss), -gradient * k * (loss - theta["l0"]), gradient * k])
    return theta["a"] * rise + theta["b"], jacobian


def _line(theta, loss):
    """Stage 2: ``acc = a' + b (L - 3)`` and its Jacobian in (a', b)."""
    centred = loss - _LOSS_CENTRE
    return theta["a_centre"] + theta["b"] * centred, np.column_stack([np.ones_like(loss), centred])


def _two_stage_fitter(stage2: Callable, parameters: Callable[[np.ndarray], list[_Parameter]]):
    """Fit stage 1 on log L against compute, then ``stage2`` on accuracy against each run's observed loss."""

    def fit(points: _Points, n_starts: int, seed: int) -> _Solution:
        log_loss = points.y["loss"]
        first = _minimise_huber(lambda t: _loss_curve(t, points.inputs), log_loss, _LOSS_CURVE, n_starts, seed)
        loss = np.exp(log_loss)
        accuracy = np.asarray(points.frame["value"], dtype=float)
        second = _minimise_huber(lambda t: stage2(t, loss), accuracy, parameters(loss), n_starts, seed)
        return _Solution(
            {**first.theta, **second.theta},
            first.loss + second.loss,
            n_starts,
            min(first.n_converged, second.n_converged),
        )

    return fit


def _two_stage_q(stage2: Callable):
    """Normalised accuracy through both stages: compute -> predicted loss -> accuracy."""

    def q(theta, inputs, chance):
        accuracy, _ = stage2(theta, np.exp(_loss_curve(theta, inputs)[0]))
        return (accuracy - chance) / (1.0 - chance)

    return q


def _loss_curve_paper(theta):
    # (C / C_N)^-alpha_N = r (C / 1e21)^-alpha_N, so log C_N = log 1e21 + log r / alpha_N.
    with np.errstate(divide="ignore", over="ignore"):
        return {
            "E": np.exp(theta["log_e"]),
            "alpha_N": theta["alpha_N"],
            "C_N": np.exp(_LOG_C_REF + theta["log_r"] / theta["alpha_N"]),
        }


def _two_stage_paper(theta):
    stage2 = {"a": theta["a"], "k": np.exp(theta["log_k"]), "l0": theta["l0"], "b": theta["b"]}
    return {**_loss_curve_paper(theta), **stage2}


def _two_stage_linear_paper(theta):
    return {**_loss_curve_paper(theta), "a": theta["a_centre"] - theta["b"] * _LOSS_CENTRE, "b": theta["b"]}


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class _Form:
    """How the paper's method fits one form, and predicts from the fit."""

    inputs: tuple[str, ...]
    fit: Callable[[_Points, int, int], _Solution]
    normalised_accuracy: Callable
    paper_parameters: Callable[[dict], dict]
    default_starts: int = 50


_FORMS: dict[str, _Form] = {
    "power_law": _Form(("compute",), _fit_power_law, _power_law_q, _power_law_paper, 1),
    "saturating_power_law": _Form(("compute",), _fit_saturating, _saturating_q, _saturating_paper),
    "bnsl": _Form(("compute",), _fit_bnsl, _bnsl_q, _bnsl_paper, 100),
    "additive_nd": _Form(("params", "tokens"), _fit_additive, _additive_q, _additive_paper, 81),
    "pass_at_k": _Form(("compute", "k"), _fit_pass_at_k, _pass_at_k_q, _pass_at_k_paper, 1),
    "two_stage": _Form(
        ("compute",), _two_stage_fitter(_logistic, _logistic_parameters), _two_stage_q(_logistic), _two_stage_paper
    ),
    "two_stage_linear": _Form(
        ("compute",), _two_stage_fitter(_line, _linear_parameters), _two_stage_q(_line), _two_stage_linear_paper
    ),
}

#: The forms the paper's method fits.
FORMS: tuple[str, ...] = tuple(_FORMS)
#: Default number of starting points per form (1: closed-form least squares).
DEFAULT_STARTS: dict[str, int] = {name: form.default_starts for name, form in _FORMS.items()}
