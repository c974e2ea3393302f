"""The one NumPyro model every law shares: its priors, its mean, a Student-t likelihood.

The model is a plain function with ``y=None``, so the same callable serves the
prior predictive (no ``y``), the fit (``y`` observed) and the posterior
predictive (new inputs, no ``y``), as in NumPyro's ``examples/baseball.py``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpyro
import numpyro.distributions as dist
from numpyro import handlers


def scaling_model(law, priors: Mapping[str, dist.Distribution], inputs: Mapping, y=None, mask=None):
    """Sample a law's parameters and its observations on the likelihood scale.

    Parameters
    ----------
    law : Law
        Supplies ``law.mean(theta, inputs)``.
    priors : mapping
        ``{name: Distribution}`` for the law's parameters and ``sigma``, ``nu``
        (from :meth:`Law.priors`).
    inputs : mapping
        Rescaled inputs (see :mod:`bayes_scaling.laws.base`), each of shape ``(n,)``.
    y : array, optional
        Observations on the law's likelihood scale; ``None`` to simulate.
    mask : bool array, optional
        ``False`` marks padding that must not enter the likelihood.

    Notes
    -----
    ``y ~ StudentT(nu, mean, sigma)``: the Bayesian counterpart of the paper's
    Huber loss, quadratic near the curve and heavy-tailed for outlying runs.
    """
    theta = {name: numpyro.sample(name, prior) for name, prior in priors.items() if name not in ("sigma", "nu")}
    sigma = numpyro.sample("sigma", priors["sigma"])
    nu = numpyro.sample("nu", priors["nu"])
    mu = law.mean(theta, inputs)
    n = mu.shape[-1]
    with numpyro.plate("point", n):
        with handlers.mask(mask=True if mask is None else mask):
            numpyro.sample("y", dist.StudentT(nu, mu, sigma), obs=y)
