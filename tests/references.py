"""Independent estimates that recovery tests hold posteriors against.

A truth inside a 90% interval says little on its own: every truth lies inside
the prior's own interval, so a sampler returning prior draws passes such a
check, and one whose posterior is twice too narrow passes it more often than
not. :func:`least_squares_reference` fits the same law to the same data by
nonlinear least squares (scipy, not the package's sampler) and gives the
classical standard errors, ``s^2 (J^T J)^-1`` at the optimum; with 30 or more
runs and priors much wider than the data's information, a calibrated
posterior has nearly the same centre and spread. :func:`assert_matches_reference`
states the tolerance. :func:`assert_probability_matches_difference` holds a
reported probability against the interval it summarises.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from bayes_scaling.laws import get_law

#: Posterior sd / least-squares standard error must lie in this band, and the
#: posterior mean within ``shift`` standard errors of the estimate. For a law
#: linear in its parameters (power law, pass@k on log(-log Q)) the reference is
#: the exact normal-theory answer: the Student-t likelihood and the priors move
#: the sd by a few percent, the noise of the estimated sigma (30 runs) by about
#: 13%. For a nonlinear law (additive N/D) the posterior is skewed and the
#: linearised errors are only approximate, so the band is wider (measured on the
#: simulated additive fit: ratios 1.05-1.25, shifts up to 0.47). Either band
#: fails what it is for: prior draws give ratios of 10 and more, a posterior
#: twice too narrow 0.5.
LINEAR = dict(sd_ratio=(0.75, 1.33), shift=0.5)
NONLINEAR = dict(sd_ratio=(0.75, 1.6), shift=1.0)


def least_squares_reference(idata, start: dict, mean=None, observed: str = "y") -> tuple[dict, dict]:
    """Least-squares estimates and standard errors of a fit's law on the fit's own data.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit; its law, rescaled inputs (``constant_data``) and observations on
        the scale of the law's mean (``observed_data.y``) are used.
    start : dict
        Starting values of the law's mean-function parameters (the truth will do).
    mean : callable, optional
        ``mean(theta) -> array`` of ``observed``; default the law's ``mean`` at
        the fit's inputs. Other parameters are held at their ``start`` values
        only if ``mean`` does so itself.
    observed : str
        The observed site compared with ``mean``.

    Returns
    -------
    estimates, standard_errors : dict, dict
    """
    law = get_law(idata.attrs["law"])
    inputs = {f"log_{name}": np.asarray(idata["constant_data"][f"log_{name}"]) for name in law.inputs}
    y = np.asarray(idata["observed_data"][observed])
    names = list(start)
    mean = mean or (lambda theta: law.mean(theta, inputs))

    def residuals(theta):
        return np.asarray(mean(dict(zip(names, theta)))) - y

    solution = least_squares(residuals, np.array([start[n] for n in names], float), x_scale="jac")
    dof = len(y) - len(names)
    s2 = float(solution.fun @ solution.fun) / dof
    covariance = s2 * np.linalg.inv(solution.jac.T @ solution.jac)
    return dict(zip(names, solution.x)), dict(zip(names, np.sqrt(np.diag(covariance))))


def assert_matches_reference(idata, start: dict, *, sd_ratio=LINEAR["sd_ratio"], shift=LINEAR["shift"], **reference):
    """Posterior mean and sd of each parameter in ``start`` agree with least squares (see :data:`LINEAR`).

    ``reference`` goes to :func:`least_squares_reference` (``mean``, ``observed``).
    """
    estimates, errors = least_squares_reference(idata, start, **reference)
    for name in start:
        draws = np.asarray(idata["posterior"][name]).ravel()
        ratio = draws.std() / errors[name]
        moved = abs(draws.mean() - estimates[name]) / errors[name]
        assert sd_ratio[0] <= ratio <= sd_ratio[1], f"{name}: posterior sd / least-squares se = {ratio:.2f}"
        assert moved <= shift, f"{name}: posterior mean {moved:.2f} standard errors from least squares"


def assert_probability_matches_difference(table, probability: str, favoured: int = -1):
    """A table's ``probability`` of one side winning agrees with the posterior of the difference ``d``.

    ``probability`` is ``P(favoured * d > 0)``: above 0.5 exactly where ``difference_median`` has that sign,
    at least 0.95 where the 90% interval (``difference_lower_90``, ``difference_upper_90``) lies wholly on
    that side, at most 0.05 where it lies wholly on the other.
    """
    ends = (favoured * table["difference_lower_90"], favoured * table["difference_upper_90"])
    lower, upper = np.minimum(*ends), np.maximum(*ends)
    assert ((table[probability] > 0.5) == (favoured * table["difference_median"] > 0)).all()
    assert (table.loc[lower > 0, probability] >= 0.95).all()
    assert (table.loc[upper < 0, probability] <= 0.05).all()
