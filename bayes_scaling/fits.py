"""Reading a finished fit: functions over one fitted DataTree.

Everything downstream of the sampler (prediction, evaluation, decisions,
plots, reports) reads a fit through these functions, in the manner of
arviz-stats: a DataTree in, arrays or tables out, interval probabilities as
``prob=``. None of them asks for a law by name; the law of a fit is
:func:`law_of`, and what it can do is its contract
(:class:`bayes_scaling.laws.base.Law`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayes_scaling.errors import SpecError
from bayes_scaling.laws import get_law, raw_inputs, rescale_inputs
from bayes_scaling.laws.base import Law


def law_of(idata) -> Law:
    """The law a fit was made with (``attrs["law"]``)."""
    return get_law(idata.attrs["law"])


def chance_of(idata) -> float:
    """The chance level of a fit's benchmark: one per fit.

    Raises
    ------
    SpecError
        If the fitted points have more than one chance level.
    """
    chance = np.unique(np.asarray(idata["constant_data"]["chance"], dtype=float))
    if chance.size != 1:
        raise SpecError(f"a fit has one chance level, got {chance.tolist()}")
    return float(chance[0])


def is_two_stage(idata) -> bool:
    """Whether a fit predicts accuracy through a loss (its law's ``kind``)."""
    return law_of(idata).kind == "two_stage"


def posterior_draws(idata) -> dict[str, np.ndarray]:
    """Every posterior variable with chains and draws flattened to one axis."""
    posterior = idata["posterior"]
    return {
        name: np.asarray(array).reshape(-1, *array.shape[2:])
        for name, array in posterior.data_vars.items()
    }


def fitted_compute_range(idata) -> tuple[float, float]:
    """Smallest and largest training compute (FLOPs) among a fit's points."""
    flops = np.asarray(idata["constant_data"]["flops"])
    return float(flops.min()), float(flops.max())


def held_out_frame(idata) -> pd.DataFrame:
    """The held-out runs of a fit as a tidy frame (``run_id``, ``flops``, ..., ``value``, ``chance``)."""
    held = idata["held_out_data"]
    frame = pd.DataFrame({name: np.asarray(held[name]) for name in held.data_vars})
    if "run_id" in frame:
        frame["run_id"] = frame["run_id"].astype(str)
    return frame


def curve_draws(idata, inputs: Mapping | pd.DataFrame) -> np.ndarray:
    """Posterior draws (draws, points) of a fit's mean curve in raw accuracy.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit.
    inputs : mapping or pandas.DataFrame
        Raw inputs the law needs (``{"compute": C, ...}``), or a tidy table
        whose ``flops``, ``params``, ``tokens``, ``k`` columns hold them.
    """
    law = law_of(idata)
    raw = raw_inputs(law, inputs) if isinstance(inputs, pd.DataFrame) else {n: inputs[n] for n in law.inputs}
    return np.asarray(law.curve_draws(posterior_draws(idata), rescale_inputs(raw), chance_of(idata)))


def interval(draws, prob: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval ``(lower, upper)`` of probability ``prob`` over ``axis`` of ``draws``."""
    check_prob(prob)
    lower, upper = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=axis)
    return lower, upper


def summary_columns(draws, prob: float | Sequence[float], prefix: str = "", axis: int = 0) -> dict[str, np.ndarray]:
    """``{prefix}median`` and ``{prefix}lower_P``, ``{prefix}upper_P`` per probability (P in percent)."""
    probs = [prob] if np.ndim(prob) == 0 else list(prob)
    out = {f"{prefix}median": np.median(draws, axis=axis)}
    for p in probs:
        tag = f"{100 * p:g}"
        out[f"{prefix}lower_{tag}"], out[f"{prefix}upper_{tag}"] = interval(draws, p, axis=axis)
    return out


def check_prob(prob: float) -> None:
    """An interval probability must lie in (0, 1)."""
    if not 0 < prob < 1:
        raise SpecError(f"option prob: {prob} is not in (0, 1)")


def ceiling_draws(idata) -> np.ndarray | None:
    """Posterior draws of the accuracy a fit approaches at infinite compute, or None if its law has no ceiling."""
    law = law_of(idata)
    draws = law.ceiling(posterior_draws(idata), chance_of(idata))
    return None if draws is None else np.asarray(draws, dtype=float)


def max_accuracy(idata, prob: float | Sequence[float] = 0.9) -> pd.DataFrame:
    r"""The maximum accuracy that a fit with a ceiling implies, with credible intervals.

    As compute grows without bound, ``-log Q`` falls to its floor ``E``
    (``a`` in BNSL), so

    .. math::

        Q_{max} = e^{-E}, \qquad
        \mathrm{acc}_{max} = \mathrm{chance} + (1 - \mathrm{chance}) \, e^{-E}.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit of a law with a ceiling (:meth:`~bayes_scaling.laws.base.Law.ceiling`:
        ``saturating_power_law``, ``bnsl``).
    prob : float or sequence of float
        Probabilities of the equal-tailed intervals, each in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Index ``quantity``: ``max_accuracy`` (raw accuracy), ``max_q``
        (normalised accuracy ``Q_max``) and ``e`` (the floor ``E`` of
        ``-log Q``); columns ``median`` and ``lower_P``, ``upper_P`` per
        probability (P in percent, as in :func:`bayes_scaling.predict.predict`).

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling.fits import max_accuracy
    >>> data = bs.select(bs.load_dataset("krajewski2025_dclm"), "arc_easy", tpr=20, max_compute=1e21)
    >>> idata = bs.fit(data, "saturating_power_law")  # doctest: +SKIP
    >>> max_accuracy(idata).loc["max_accuracy", ["median", "lower_90", "upper_90"]]  # doctest: +SKIP
    """
    for p in [prob] if np.ndim(prob) == 0 else prob:
        check_prob(p)
    ceiling = ceiling_draws(idata)
    if ceiling is None:
        raise SpecError(f"max_accuracy needs a fit of a law with a ceiling, got a {idata.attrs.get('law')!r} fit")
    chance = chance_of(idata)
    q_max = (ceiling - chance) / (1.0 - chance)
    draws = {"max_accuracy": ceiling, "max_q": q_max, "e": -np.log(q_max)}
    rows = {name: {k: float(v) for k, v in summary_columns(values, prob).items()} for name, values in draws.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "quantity"
    return table
