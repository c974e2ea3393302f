"""Prior predictive checks: what curves a law's priors allow before seeing data.

The same NumPyro model that is fitted is run with no observations
(:class:`numpyro.infer.Predictive`), and every prior draw of the parameters is
turned into an accuracy curve over a compute range with the law's own
:meth:`~bayes_scaling.laws.Law.accuracy_draws`.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
from numpyro.infer import Predictive

from bayes_scaling.fits import interval
from bayes_scaling.laws import get_law, inputs_along_compute, rescale_inputs

#: Compute range of the bundled DCLM ladder, the default range to check.
COMPUTE_RANGE = (1e18, 4e22)


def prior_predictive(
    form: str,
    compute=None,
    *,
    chance: float = 0.25,
    tpr: float = 20.0,
    k: float = 1.0,
    priors: Mapping | None = None,
    num_samples: int = 500,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Accuracy curves drawn from a law's priors.

    Parameters
    ----------
    form : str
        A registered law.
    compute : array-like, optional
        Training FLOPs; default 50 points over :data:`COMPUTE_RANGE`.
    chance : float
        Chance level of the benchmark the curves are for.
    tpr, k : float
        For laws in parameters and tokens, the token-to-parameter ratio along
        which compute is spent; for pass@k laws, the k.
    priors : mapping, optional
        Overrides of the law's default priors.
    num_samples : int
        Prior draws.

    Returns
    -------
    dict
        ``compute`` (M,), ``curve`` (num_samples, M) the mean curve in raw
        accuracy, ``new_run`` (num_samples, M) with the likelihood's noise, and
        ``draws``, the prior draws of every parameter.
    """
    law = get_law(form)
    compute = np.geomspace(*COMPUTE_RANGE, 50) if compute is None else np.asarray(compute, dtype=float)
    raw = inputs_along_compute(law, compute, tpr=tpr, k=k)
    inputs = rescale_inputs(raw)
    prior_set = law.priors(priors)
    # parallel: vectorised over draws, run op by op; a lax.map over draws would
    # compile the whole model as one program per call (half a minute for the
    # two-stage model), while single operations are compiled once per process.
    sampled = Predictive(law.model, num_samples=num_samples, parallel=True)(jax.random.key(seed), prior_set, inputs)
    draws = {name: np.asarray(sampled[name]) for name in prior_set if name in sampled}
    curve, new_run = law.accuracy_draws(draws, inputs, chance, np.random.default_rng(seed))
    return {"compute": compute, "curve": np.asarray(curve), "new_run": np.asarray(new_run), "draws": draws}


def rising_share(curves: np.ndarray, chance: float, *, min_rise: float = 0.0) -> float:
    """Share of curves that rise over the range and stay within [chance, 1].

    A curve counts when its last accuracy exceeds its first by more than
    ``min_rise`` (in accuracy) and every point lies in [chance, 1].
    """
    curves = np.asarray(curves)
    inside = np.all((curves >= chance - 1e-9) & (curves <= 1 + 1e-9), axis=1)
    rises = curves[:, -1] - curves[:, 0] > min_rise
    return float(np.mean(inside & rises))


def plot_prior_predictive(form: str, *, chance: float = 0.25, n_curves: int = 60, ax=None, **options):
    """Draw ``n_curves`` prior curves of a law over the compute range, with their 90% band.

    ``options`` go to :func:`prior_predictive`. Returns the matplotlib Figure.
    """
    from bayes_scaling.plotting import OKABE_ITO, plt

    result = prior_predictive(form, chance=chance, **options)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.0), layout="constrained")
    else:
        fig = ax.figure
    compute, curves = result["compute"], result["curve"]
    lower, upper = interval(curves, 0.9)
    ax.fill_between(compute, lower, upper, color=OKABE_ITO["sky"], alpha=0.3, linewidth=0,
                    label="90% of prior curves")
    for curve in curves[:n_curves]:
        ax.plot(compute, curve, color=OKABE_ITO["blue"], lw=0.6, alpha=0.4)
    ax.plot([], [], color=OKABE_ITO["blue"], lw=0.6, label=f"{min(n_curves, len(curves))} prior draws")
    if chance > 0:
        ax.axhline(chance, color=OKABE_ITO["grey"], lw=0.8, ls="--", label=f"chance ({chance:g})")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("accuracy")
    share = rising_share(curves, chance)
    ax.set_title(f"{form}: prior predictive ({share:.0%} of curves rise within [chance, 1])", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left", frameon=False)
    return fig
