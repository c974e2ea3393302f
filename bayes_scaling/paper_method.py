r"""The paper's method: point-estimate fits of Krajewski et al. 2025, as a baseline.

Krajewski et al. (2025, arXiv 2512.08894) fit their laws by least squares or by
a Huber loss minimised with L-BFGS from many starting points, and report one
set of parameters per fit. This module re-implements those fits, so that every
Bayesian result can be shown beside what the paper's procedure gives on the
same points and the same hold-out split.

All logarithms are natural; ``Q = (acc - chance) / (1 - chance)``.

Each law says how the paper fits it (its
:meth:`~bayes_scaling.laws.base.Law.paper_method`: parameters, start ranges,
bounds, a ``jax.numpy`` curve, the loss); :mod:`bayes_scaling.point_fit` fits
it, with gradients from JAX. A law that says nothing is fitted by a Huber loss
on its own likelihood scale over its own parameters, starts and bounds from its
priors, so every registered form has a paper row. The paper's forms:

======================== ========================================================== ===============================
form                     law (paper's notation)                                     fitted by
======================== ========================================================== ===============================
``power_law``            ``log(-log Q) = log A - alpha log C`` (eq. 2)              least squares on ``log(-log Q)``
``pass_at_k``            ``log(-log Q) = log A + alpha log C + beta log k``         least squares on ``log(-log Q)``
                         ``+ delta log C log k`` (eq. 5)
``saturating_power_law`` ``-log Q = A C^-alpha + E`` (eq. 10)                       Huber on ``log(-log Q)``
``additive_nd``          ``-log Q = A N^-alpha + B D^-beta`` (eq. 4)                Huber on ``log(-log Q)``
``bnsl``, ``bnsl_<n>``   ``-log Q = a + b C^-c0 (1 + (C/d1)^(1/f1))^(-c1 f1)``      Huber on ``-log Q``
                         (eq. 1; n breaks: one factor per break)
``two_stage``            ``L = E + (C/C_N)^-alpha_N``;                              Huber on ``log L``, then
                         ``acc = a / (1 + exp(k (L - l0))) + b``                    Huber on ``acc``
``two_stage_linear``     ``L = E + (C/C_N)^-alpha_N``; ``acc = a + b L``            Huber on ``log L``, then
                                                                                    Huber on ``acc``
``two_stage_no_``        ``L = (C/C_N)^-alpha_N``;                                  Huber on ``log L``, then
``irreducible``          ``acc = a / (1 + exp(k (L - l0))) + b``                    Huber on ``acc``
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
``scipy.optimize.minimize(method="L-BFGS-B")`` and exact gradients (JAX's
automatic derivatives of the law's curve) from ``n_starts`` starting points drawn by Latin hypercube sampling (seeded) from a
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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.inference import prepare
from bayes_scaling.laws import get_law, raw_inputs, rescale_inputs
from bayes_scaling.point_fit import HUBER_DELTA, PointData, huber  # noqa: F401  (the paper's loss, re-exported)
from bayes_scaling.selection import ScalingData


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
        law = get_law(self.form)
        given = {"compute": compute, "params": params, "tokens": tokens, "k": k}
        for name, value in given.items():
            if value is None and name in law.inputs:
                raise SpecError(f"predict: form {self.form!r} needs {', '.join(law.inputs)}; {name} is missing")
            if value is not None and name not in law.inputs:
                raise SpecError(f"predict: form {self.form!r} takes {', '.join(law.inputs)}, not {name}")
        raw = np.broadcast_arrays(*(np.asarray(given[name], dtype=float) for name in law.inputs))
        for name, values in zip(law.inputs, raw):
            if np.any(~np.isfinite(values)) or np.any(values <= 0):
                raise SpecError(f"predict: {name} must be positive and finite")
        inputs = rescale_inputs(dict(zip(law.inputs, raw)))
        q = np.clip(law.paper_method().normalised_accuracy(self.theta, inputs, self.chance), 0.0, 1.0)
        return np.asarray(self.chance + (1.0 - self.chance) * q)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted accuracy at the runs of a tidy table, e.g. ``data.held_out``.

        Reads the inputs the form needs from the table's ``flops``, ``params``,
        ``tokens`` and ``k`` columns.
        """
        return self.predict(**raw_inputs(get_law(self.form), frame))


# --------------------------------------------------------------------------- entry point
def paper_fit(data: ScalingData, form: str, *, n_starts: int | None = None, seed: int = 0) -> PaperFit:
    r"""Fit a law by the paper's method: least squares, or Huber loss and L-BFGS-B from many starts.

    With ``x = log(C / 1e21)``, ``n = log(N / 1e9)``, ``d = log(D / 2e10)``,
    ``kappa = log k``, ``y = log(-log Q)`` and ``H`` the Huber loss with
    ``delta = 1e-3`` summed over points, each form is fitted as its law's
    :meth:`~bayes_scaling.laws.base.Law.paper_method` says (its docstring
    gives the bounds of L-BFGS-B and the ranges starts are drawn from):

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
        :math:`-\log Q = A C^{-\alpha} + E`, Huber on ``y``. Parameters ``A``,
        ``alpha``, ``E``.
    ``additive_nd`` (eq. 4)
        :math:`-\log Q = A N^{-\alpha} + B D^{-\beta}`, Huber on ``y``.
        Parameters ``A``, ``alpha``, ``B``, ``beta``.
    ``bnsl``, ``bnsl_<n>`` (eq. 1)
        :math:`-\log Q = a + b\, C^{-c_0} \prod_i (1 + (C/d_i)^{1/f_i})^{-c_i f_i}`,
        Huber on ``-log Q``, the paper's ranges. Parameters ``a``, ``b``,
        ``c0``, and ``c_i``, ``d_i``, ``f_i`` per break.
    ``two_stage``, ``two_stage_linear``, ``two_stage_no_irreducible``
        Stage 1, :math:`L = E + (C/C_N)^{-\alpha_N}` (without ``E`` for the
        last), Huber on ``log L``; stage 2, :math:`\mathrm{acc} = a / (1 +
        e^{k (L - l_0)}) + b` or :math:`a + b L`, Huber on raw accuracy at each
        run's observed loss. Parameters ``E``, ``alpha_N``, ``C_N`` and stage 2's.
    any other law
        Huber on its likelihood scale over its own parameters (its
        :meth:`~bayes_scaling.laws.base.Law.paper_method` default); the
        parameters are reported as the law names them.

    Parameters
    ----------
    data : ScalingData
        From :func:`bayes_scaling.select`, or for the two-stage forms from
        :func:`bayes_scaling.laws.two_stage.select_two_stage` (with a ``loss``
        column). Only ``data.fitted`` is fitted, and of it only the rows that
        the Bayesian fit of the same form keeps
        (:func:`bayes_scaling.inference.prepare`).
    form : str
        A registered law.
    n_starts : int, optional
        Starting points of each Huber fit; default per form (100 for BNSL as in
        the paper, 81 for ``additive_nd`` as the paper's 3^4 grid, 50
        otherwise). Ignored by the least-squares forms.
    seed : int
        Seed of the starting points; the same seed gives the same fit.

    Returns
    -------
    PaperFit

    Raises
    ------
    SpecError
        If ``form`` is not a registered law or ``n_starts`` is not a positive
        integer.
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
    law = get_law(form)
    method = law.paper_method()
    if n_starts is None:
        n_starts = method.default_starts
    if isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise SpecError(f"option n_starts must be a positive integer, got {n_starts!r}")
    prepared, inputs, y = prepare(data, law)
    chance = _chance_level(prepared.fitted)
    solution = method.fit(PointData(inputs=inputs, y=y, frame=prepared.fitted), int(n_starts), seed)
    return PaperFit(
        form=law.name,
        parameters={name: float(value) for name, value in method.paper_parameters(solution.theta).items()},
        loss=float(solution.loss),
        n_starts=solution.n_starts,
        n_converged=solution.n_converged,
        n_points=len(prepared.fitted),
        chance=chance,
        theta=dict(solution.theta),
    )


def default_starts(form: str) -> int:
    """Starting points of the paper-method fit of ``form`` when none are given (1: closed-form least squares)."""
    return get_law(form).paper_method().default_starts


def _chance_level(frame: pd.DataFrame) -> float:
    """The one chance level of the fitted rows."""
    levels = np.unique(np.asarray(frame["chance"], dtype=float))
    if levels.size != 1:
        raise DataError(f"column chance: the paper's method needs one chance level per fit, got {levels.tolist()}")
    return float(levels[0])
