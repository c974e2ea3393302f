"""Sampler diagnostics that travel with every fit: R-hat, ESS, divergences, E-BFMI, tree depth.

Thresholds follow Vehtari et al. (2021), "Rank-normalization, folding, and
localization": R-hat below 1.01 and bulk and tail ESS of at least 100 per chain
(400 for four chains). Draws that hit the maximum tree depth are reported as
Stan reports them: a warning about efficiency, not about validity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import arviz_stats
import numpy as np
import pandas as pd

RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3
#: Checks that say the sampler was slow, not that its draws are wrong: they are
#: warned about but leave :attr:`Diagnostics.ok` true, so they trigger no retry
#: (a retry raises the target acceptance, which lengthens trajectories further).
EFFICIENCY_CHECKS = ("tree_depth",)


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per parameter: ``rhat``, ``ess_bulk``, ``ess_tail``.
    n_divergent, n_draws : int
        Divergent transitions after warm-up, and all post-warm-up draws.
    min_bfmi : float
        Lowest E-BFMI over chains.
    n_max_tree_depth : int
        Draws whose trajectory reached ``max_tree_depth`` doublings (Stan's
        ``treedepth__ == max_treedepth``): NUTS stopped it at the limit, where
        it may not have turned yet.
    max_tree_depth : int
        The fit's limit (:class:`bayes_scaling.settings.SamplerSettings`).
    """

    table: pd.DataFrame
    n_divergent: int
    n_draws: int
    min_bfmi: float
    n_max_tree_depth: int = 0
    max_tree_depth: int = 10

    @property
    def max_rhat(self) -> float:
        return float(self.table["rhat"].max())

    @property
    def min_ess_bulk(self) -> float:
        return float(self.table["ess_bulk"].min())

    @property
    def min_ess_tail(self) -> float:
        return float(self.table["ess_tail"].min())

    @property
    def divergent_fraction(self) -> float:
        return self.n_divergent / self.n_draws if self.n_draws else 0.0

    @property
    def tree_depth_fraction(self) -> float:
        """Share of draws that hit the maximum tree depth."""
        return self.n_max_tree_depth / self.n_draws if self.n_draws else 0.0

    def warnings(self) -> list[dict]:
        """Every threshold that is not met, as structured records.

        Each record has ``check`` (``rhat``, ``ess_bulk``, ``ess_tail``,
        ``divergences``, ``bfmi``, ``tree_depth``), ``value``, ``threshold``,
        ``parameter`` (the worst one, or ``None``) and ``message``, one line
        for people. ``tree_depth`` (any draw at the maximum tree depth, as
        Stan warns) is about efficiency: see :data:`EFFICIENCY_CHECKS`.
        """
        found = []

        def add(check, value, threshold, parameter, message):
            found.append({"check": check, "value": float(value), "threshold": threshold, "parameter": parameter,
                          "message": message})

        if not self.max_rhat <= RHAT_MAX:
            worst = str(self.table["rhat"].idxmax())
            add("rhat", self.max_rhat, RHAT_MAX, worst, f"R-hat {self.max_rhat:.3f} > {RHAT_MAX} ({worst})")
        for kind in ("bulk", "tail"):
            column = f"ess_{kind}"
            value = float(self.table[column].min())
            if not value >= ESS_MIN:
                worst = str(self.table[column].idxmin())
                add(column, value, ESS_MIN, worst, f"{kind} ESS {value:.0f} < {ESS_MIN} ({worst})")
        if self.n_divergent:
            add("divergences", self.n_divergent, 0, None, f"{self.n_divergent} divergent transitions")
        if not self.min_bfmi >= BFMI_MIN:
            add("bfmi", self.min_bfmi, BFMI_MIN, None, f"E-BFMI {self.min_bfmi:.2f} < {BFMI_MIN}")
        if self.n_max_tree_depth:
            add("tree_depth", self.n_max_tree_depth, 0, None,
                f"{self.n_max_tree_depth} of {self.n_draws} draws ({100 * self.tree_depth_fraction:.2g}%) hit the "
                f"maximum tree depth {self.max_tree_depth}: slow exploration; raise max_tree_depth")
        return found

    def problems(self) -> list[str]:
        """Human-readable statements of every threshold that is not met."""
        return [record["message"] for record in self.warnings()]

    @property
    def ok(self) -> bool:
        """No warning other than about efficiency (:data:`EFFICIENCY_CHECKS`)."""
        return all(record["check"] in EFFICIENCY_CHECKS for record in self.warnings())

    def __str__(self) -> str:
        text = (
            f"R-hat max {self.max_rhat:.3f}, ESS bulk min {self.min_ess_bulk:.0f}, "
            f"tail min {self.min_ess_tail:.0f}, divergences {self.n_divergent}/{self.n_draws} "
            f"({100 * self.divergent_fraction:.1f}%), E-BFMI min {self.min_bfmi:.2f}"
        )
        problems = self.problems()
        return text + (" -- WARNING: " + "; ".join(problems) if problems else "")

    def to_json(self) -> str:
        return json.dumps(
            {
                "max_rhat": self.max_rhat,
                "min_ess_bulk": self.min_ess_bulk,
                "min_ess_tail": self.min_ess_tail,
                "n_divergent": self.n_divergent,
                "n_draws": self.n_draws,
                "min_bfmi": self.min_bfmi,
                "n_max_tree_depth": self.n_max_tree_depth,
                "max_tree_depth": self.max_tree_depth,
                "problems": self.problems(),
            }
        )


def _per_parameter(values) -> dict[str, float]:
    """Flatten an ArviZ result (Dataset or DataTree) to {parameter[index]: value}."""
    dataset = values.to_dataset() if hasattr(values, "to_dataset") else values
    out = {}
    for name, array in dataset.data_vars.items():
        flat = np.atleast_1d(np.asarray(array)).ravel()
        if flat.size == 1:
            out[name] = float(flat[0])
        else:
            out.update({f"{name}[{i}]": float(v) for i, v in enumerate(flat)})
    return out


def tree_depth(n_steps) -> np.ndarray:
    """NUTS tree depth of each draw from its leapfrog steps: the number of trajectory doublings begun.

    Doubling d adds ``2 ** (d - 1)`` steps, and the last one may stop early
    (a U-turn or divergence inside it), so a trajectory of depth d takes
    between ``2 ** (d - 1)`` and ``2 ** d - 1`` steps: its depth is the
    bit length of ``n_steps``.
    """
    return np.frexp(np.asarray(n_steps, dtype=np.int64))[1]


def _max_tree_depth(idata) -> int:
    from bayes_scaling.settings import SamplerSettings

    sampler = json.loads(idata.attrs.get("sampler", "{}"))
    return int(sampler.get("max_tree_depth", SamplerSettings.max_tree_depth))


def diagnose(idata, var_names: list[str] | None = None, *, max_tree_depth: int | None = None) -> Diagnostics:
    """Compute R-hat, bulk and tail ESS, divergences, E-BFMI and tree-depth saturation of a fit.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit from :func:`bayes_scaling.fit`.
    var_names : list of str, optional
        Parameters to check; default every variable in the posterior.
    max_tree_depth : int, optional
        The sampler's limit; default the fit's own (``attrs["sampler"]``),
        else :class:`~bayes_scaling.settings.SamplerSettings`' default (10).

    Notes
    -----
    A draw hits the maximum tree depth when its depth (the ``tree_depth``
    statistic where recorded, else :func:`tree_depth` of ``n_steps``) reaches
    the limit. A divergent draw does not count: Stan does not count the
    doubling in which a trajectory diverged, and the divergence is reported
    apart.
    """
    posterior = idata["posterior"]
    names = var_names or list(posterior.data_vars)
    table = pd.DataFrame(
        {
            "rhat": _per_parameter(arviz_stats.rhat(idata, var_names=names)),
            "ess_bulk": _per_parameter(arviz_stats.ess(idata, var_names=names, method="bulk")),
            "ess_tail": _per_parameter(arviz_stats.ess(idata, var_names=names, method="tail")),
        }
    )
    stats = idata["sample_stats"]
    diverging = np.asarray(stats["diverging"]) if "diverging" in stats else np.zeros(1, bool)
    bfmi = np.asarray(arviz_stats.bfmi(idata)["energy"]) if "energy" in stats else np.array([np.nan])
    limit = _max_tree_depth(idata) if max_tree_depth is None else int(max_tree_depth)
    if "tree_depth" in stats:
        saturated = np.asarray(stats["tree_depth"]) >= limit
    elif "n_steps" in stats:
        saturated = (tree_depth(stats["n_steps"]) >= limit) & ~np.broadcast_to(diverging, stats["n_steps"].shape)
    else:
        saturated = np.zeros(1, bool)
    return Diagnostics(
        table=table,
        n_divergent=int(diverging.sum()),
        n_draws=int(diverging.size),
        min_bfmi=float(np.min(bfmi)),
        n_max_tree_depth=int(saturated.sum()),
        max_tree_depth=limit,
    )


def diagnose_fits(fits) -> pd.DataFrame:
    """One row per fit of ``{label: fit}``: R-hat, bulk and tail ESS, divergences, draws, retry and warnings.

    A label that is a tuple (``(form, benchmark)``) is joined with `` / ``.
    The table every worked example shows before any result of its fits.
    """
    rows = []
    for label, idata in fits.items():
        found = diagnose(idata)
        warnings = json.loads(idata.attrs.get("warnings", "[]"))
        rows.append({
            "fit": label if isinstance(label, str) else " / ".join(map(str, label)),
            "max_rhat": round(found.max_rhat, 3), "min_ess_bulk": round(found.min_ess_bulk),
            "min_ess_tail": round(found.min_ess_tail), "divergences": found.n_divergent, "draws": found.n_draws,
            "ok": found.ok, "retried": "retry" in idata.attrs,
            "warnings": "; ".join(w["message"] for w in warnings),
        })
    return pd.DataFrame(rows).set_index("fit")
