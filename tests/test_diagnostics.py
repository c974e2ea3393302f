"""The sampling checks fire on chains that fail them, and stay quiet on chains that do not.

Every chain here is built by hand (seeded), so each check is shown against a
known failure: a regression that hid non-mixing chains, sticky chains, poor
energy exploration, divergences or trajectories cut at the maximum tree
depth would turn these red, where assertions of the form ``max_rhat <= 1.01``
on good fits cannot.
"""

import json

import numpy as np
import pytest
from arviz_base import from_dict

from bayes_scaling.diagnostics import BFMI_MIN, ESS_MIN, RHAT_MAX, diagnose, tree_depth

CHAINS, DRAWS = 4, 1000


def _fit(alpha, energy=None, diverging=None):
    """A DataTree with posterior ``alpha`` (chains, draws) and an independent, well-mixed ``log_a``."""
    rng = np.random.default_rng(0)
    stats = {"energy": rng.standard_normal((CHAINS, DRAWS)) if energy is None else energy,
             "diverging": np.zeros((CHAINS, DRAWS), bool) if diverging is None else diverging}
    return from_dict({"posterior": {"alpha": alpha, "log_a": rng.standard_normal((CHAINS, DRAWS))},
                      "sample_stats": stats})


def test_well_mixed_chains_pass_every_check():
    diagnostics = diagnose(_fit(np.random.default_rng(1).standard_normal((CHAINS, DRAWS))))
    # Independent draws: R-hat within 0.005 of 1 and ESS near 4000 (here 1.002, 3897 bulk, 3848 tail).
    assert diagnostics.max_rhat < 1.005 and diagnostics.min_ess_bulk > 3000 and diagnostics.min_ess_tail > 2500
    assert diagnostics.ok and diagnostics.warnings() == []


def test_chains_stuck_in_different_places_fail_rhat():
    # Chain c centred at 0.5 c, unit noise: the chains disagree by more than their own spread
    # (R-hat 1.18 here), where every chain alone looks fine.
    rng = np.random.default_rng(2)
    alpha = rng.standard_normal((CHAINS, DRAWS)) + 0.5 * np.arange(CHAINS)[:, None]
    warnings = diagnose(_fit(alpha)).warnings()
    rhat = [w for w in warnings if w["check"] == "rhat"]
    assert len(rhat) == 1 and rhat[0]["parameter"] == "alpha" and rhat[0]["value"] > 1.05
    assert rhat[0]["threshold"] == RHAT_MAX and "R-hat" in rhat[0]["message"]


def test_sticky_chains_fail_bulk_and_tail_ess():
    # AR(1) with rho = 0.99: ESS about 4000 (1 - rho) / (1 + rho) = 20, far below 400.
    rng = np.random.default_rng(3)
    alpha = np.zeros((CHAINS, DRAWS))
    for t in range(1, DRAWS):
        alpha[:, t] = 0.99 * alpha[:, t - 1] + rng.standard_normal(CHAINS) * np.sqrt(1 - 0.99**2)
    checks = {w["check"]: w for w in diagnose(_fit(alpha)).warnings()}
    for check in ("ess_bulk", "ess_tail"):
        assert checks[check]["parameter"] == "alpha" and checks[check]["value"] < ESS_MIN / 4, checks


def test_energy_that_wanders_fails_bfmi():
    # Energy as a random walk: draw-to-draw changes are tiny against its spread, E-BFMI near 0.
    rng = np.random.default_rng(4)
    energy = np.cumsum(rng.standard_normal((CHAINS, DRAWS)), axis=1)
    diagnostics = diagnose(_fit(rng.standard_normal((CHAINS, DRAWS)), energy=energy))
    bfmi = [w for w in diagnostics.warnings() if w["check"] == "bfmi"]
    assert len(bfmi) == 1 and bfmi[0]["value"] < BFMI_MIN / 10
    # Independent energies: E-BFMI near 2, no warning.
    assert diagnose(_fit(rng.standard_normal((CHAINS, DRAWS)))).min_bfmi == pytest.approx(2.0, abs=0.3)


def test_divergences_are_counted_and_reported():
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[1, [5, 50, 500]] = True
    diagnostics = diagnose(_fit(np.random.default_rng(5).standard_normal((CHAINS, DRAWS)), diverging=diverging))
    assert diagnostics.n_divergent == 3 and diagnostics.divergent_fraction == pytest.approx(3 / (CHAINS * DRAWS))
    assert [w["message"] for w in diagnostics.warnings()] == ["3 divergent transitions"]


def _fit_with_steps(n_steps, diverging=None, max_tree_depth=None):
    """A well-mixed fit whose draws took ``n_steps`` leapfrog steps; its sampler record names ``max_tree_depth``."""
    rng = np.random.default_rng(6)
    stats = {"energy": rng.standard_normal((CHAINS, DRAWS)), "n_steps": n_steps,
             "diverging": np.zeros((CHAINS, DRAWS), bool) if diverging is None else diverging}
    idata = from_dict({"posterior": {"alpha": rng.standard_normal((CHAINS, DRAWS))}, "sample_stats": stats})
    if max_tree_depth is not None:
        idata.attrs["sampler"] = json.dumps({"max_tree_depth": max_tree_depth})
    return idata


def test_draws_at_the_maximum_tree_depth_are_counted_and_warned_about():
    # Depth 10 (the default limit) is 512 to 1023 steps: the tenth doubling begun,
    # completed (1023) or stopped by a U-turn inside it (600). A divergent draw at
    # 1023 steps does not count (Stan does not count the doubling that diverged).
    n_steps = np.full((CHAINS, DRAWS), 7)
    n_steps[0, :5] = 1023
    n_steps[1, 0] = 600
    n_steps[2, 0] = 1023
    diverging = np.zeros((CHAINS, DRAWS), bool)
    diverging[2, 0] = True
    diagnostics = diagnose(_fit_with_steps(n_steps, diverging, max_tree_depth=10))
    assert diagnostics.max_tree_depth == 10 and diagnostics.n_max_tree_depth == 6
    assert diagnostics.tree_depth_fraction == pytest.approx(6 / (CHAINS * DRAWS))
    tree = [w for w in diagnostics.warnings() if w["check"] == "tree_depth"]
    assert len(tree) == 1 and tree[0]["value"] == 6
    assert tree[0]["message"].startswith("6 of 4000 draws (0.15%) hit the maximum tree depth 10")
    assert tree[0]["message"] in diagnostics.problems() and tree[0]["message"] in str(diagnostics)
    assert json.loads(diagnostics.to_json())["n_max_tree_depth"] == 6
    # Slow, not wrong: the divergence fails the fit, the tree depth alone would not.
    assert not diagnostics.ok
    alone = diagnose(_fit_with_steps(n_steps, max_tree_depth=10))
    assert alone.n_max_tree_depth == 7 and alone.ok and [w["check"] for w in alone.warnings()] == ["tree_depth"]


def test_trajectories_below_the_limit_raise_no_tree_depth_warning():
    # Up to 511 steps is depth 9 at most, one doubling short of the limit 10
    # (the default, also when the fit records no sampler settings).
    n_steps = np.random.default_rng(7).integers(1, 512, size=(CHAINS, DRAWS))
    n_steps[0, 0] = 511
    for idata in (_fit_with_steps(n_steps, max_tree_depth=10), _fit_with_steps(n_steps)):
        diagnostics = diagnose(idata)
        assert diagnostics.n_max_tree_depth == 0 and diagnostics.max_tree_depth == 10
        assert diagnostics.ok and "tree_depth" not in [w["check"] for w in diagnostics.warnings()]


def test_the_fits_own_tree_depth_limit_is_used():
    # A fit sampled with max_tree_depth 5 saturates at 16-31 steps; the argument overrides the record.
    n_steps = np.full((CHAINS, DRAWS), 15)
    n_steps[3, :10] = 31
    assert diagnose(_fit_with_steps(n_steps, max_tree_depth=5)).n_max_tree_depth == 10
    assert diagnose(_fit_with_steps(n_steps, max_tree_depth=5), max_tree_depth=4).n_max_tree_depth == CHAINS * DRAWS
    assert diagnose(_fit_with_steps(n_steps, max_tree_depth=6)).n_max_tree_depth == 0


def test_tree_depth_from_leapfrog_steps():
    # Depth d spans 2**(d-1) to 2**d - 1 steps.
    steps = [1, 2, 3, 4, 7, 8, 511, 512, 1023, 1024]
    np.testing.assert_array_equal(tree_depth(steps), [1, 2, 2, 3, 3, 4, 9, 10, 10, 11])


def test_diagnose_fits_tabulates_each_fit(arc_easy_fit):
    import bayes_scaling as bs

    table = bs.diagnose_fits({"arc_easy": arc_easy_fit, ("power_law", "again"): arc_easy_fit})
    assert list(table.index) == ["arc_easy", "power_law / again"]
    found = bs.diagnose(arc_easy_fit)
    assert table.loc["arc_easy", "divergences"] == found.n_divergent
    assert table.loc["arc_easy", "max_rhat"] == round(found.max_rhat, 3)
    assert table.loc["arc_easy", "ok"] == found.ok and table.loc["arc_easy", "draws"] == found.n_draws
