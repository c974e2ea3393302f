"""Analysis specs: which data, which benchmarks, which law, priors, sampler, hold-out.

A spec is a TOML file (the ones the project fits live in ``models/``)::

    name = "dclm_power_law"

    [data]
    dataset = "krajewski2025_dclm"     # or path = "runs.csv" with [data.columns]
    benchmarks = ["arc_easy", "hellaswag"]
    metric = "acc"
    tpr = 20
    chance_margin = 0.02
    # loss_benchmark = "dclm"          # two-stage forms: the validation loss

    [holdout]
    max_compute = 1e21                 # runs above this are held out

    [law]
    form = "power_law"
    priors = { alpha = "HalfNormal(0.5)" }
    form_error = true                  # false: intervals of the law's parameters alone

    [sampler]
    num_warmup = 1000
    num_samples = 1000
    num_chains = 4
    seed = 0

Every key is checked: an unknown one is an error that names it.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpyro.distributions as dist

from bayes_scaling.errors import SpecError
from bayes_scaling.settings import SamplerSettings
from bayes_scaling.laws import get_law

SECTIONS = {
    "data": (
        "dataset", "path", "columns", "chance", "benchmarks", "metric", "group", "tpr", "k", "chance_margin",
        "loss_benchmark",
    ),
    "holdout": ("max_compute",),
    "law": ("form", "priors", "form_error"),
    "evaluate": ("forms", "cutoffs"),
    "sampler": ("num_warmup", "num_samples", "num_chains", "chain_method", "target_accept_prob", "seed", "retry"),
}


@dataclass(frozen=True)
class Spec:
    """One analysis: the fields of the TOML sections, flattened."""

    name: str = "analysis"
    dataset: str | None = None
    path: str | None = None
    columns: dict = field(default_factory=dict)
    chance: dict = field(default_factory=dict)
    benchmarks: tuple[str, ...] = ()
    metric: str = "acc"
    group: str | None = None
    tpr: float | None = None
    k: float | None = None
    chance_margin: float = 0.02
    loss_benchmark: str | None = None
    max_compute: float | None = None
    form: str = "power_law"
    priors: dict = field(default_factory=dict)
    # Predictions include the form-error term beyond the fitted range (bayes_scaling.form_error).
    form_error: bool = True
    # Forms and compute cut-offs of `compare` and `evaluate` (default: form and max_compute).
    forms: tuple[str, ...] = ()
    cutoffs: tuple[float, ...] = ()
    # Sampler defaults live in one place, SamplerSettings.
    num_warmup: int = SamplerSettings.num_warmup
    num_samples: int = SamplerSettings.num_samples
    num_chains: int = SamplerSettings.num_chains
    chain_method: str | None = SamplerSettings.chain_method
    target_accept_prob: float = SamplerSettings.target_accept_prob
    seed: int = SamplerSettings.seed
    # Refit once, with twice the warm-up and draws, a fit that fails a sampling check.
    retry: bool = True

    def __post_init__(self):
        if (self.dataset is None) == (self.path is None):
            raise SpecError(f"spec {self.name!r}: give exactly one of data.dataset and data.path")
        if not self.benchmarks:
            raise SpecError(f"spec {self.name!r}: data.benchmarks is empty")
        if not isinstance(self.form_error, bool):
            raise SpecError(f"spec {self.name!r}: law.form_error must be true or false, got {self.form_error!r}")
        object.__setattr__(self, "benchmarks", tuple(self.benchmarks))
        object.__setattr__(self, "forms", tuple(self.forms))
        object.__setattr__(self, "cutoffs", tuple(float(c) for c in self.cutoffs))
        for form in self.forms:
            get_law(form)
        for key in ("num_warmup", "num_samples", "num_chains"):
            if int(getattr(self, key)) < 1:
                raise SpecError(f"spec {self.name!r}: sampler.{key} must be at least 1")
        try:
            self.sampler_settings()
        except SpecError as err:
            raise SpecError(f"spec {self.name!r}: {str(err).replace('option ', 'sampler.', 1)}") from None
        # Fail before any sampling starts: an unknown form or prior name is an error now.
        get_law(self.form).priors(self.prior_distributions())

    def prior_distributions(self) -> dict[str, dist.Distribution]:
        """The ``priors`` strings parsed into numpyro distributions."""
        return {name: parse_prior(text, name) for name, text in self.priors.items()}

    def sampler_options(self) -> dict:
        return {key: getattr(self, key) for key in SECTIONS["sampler"]}

    def sampler_settings(self) -> SamplerSettings:
        """The ``[sampler]`` section as the one settings object the engine takes."""
        return SamplerSettings(**self.sampler_options())

    def select_options(self) -> dict:
        """Options of a law's data selection, except benchmark, metric and cut-off."""
        return {"group": self.group, "tpr": self.tpr, "k": self.k, "chance_margin": self.chance_margin,
                "dataset": self.dataset or self.path, "loss_benchmark": self.loss_benchmark}

    @property
    def evaluated_forms(self) -> tuple[str, ...]:
        return self.forms or (self.form,)

    @property
    def evaluated_cutoffs(self) -> tuple[float, ...]:
        if self.cutoffs:
            return self.cutoffs
        if self.max_compute is None:
            raise SpecError(f"spec {self.name!r}: evaluate needs evaluate.cutoffs or holdout.max_compute")
        return (self.max_compute,)


def parse_prior(text: str, name: str = "prior") -> dist.Distribution:
    """Parse ``"Normal(0, 1.5)"`` into ``numpyro.distributions.Normal(0, 1.5)``.

    Only a distribution name and literal numeric arguments are accepted; nothing
    is evaluated.
    """
    try:
        node = ast.parse(str(text).strip(), mode="eval").body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            raise ValueError
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except (SyntaxError, ValueError):
        raise SpecError(f"prior {name!r}: cannot parse {text!r}; write e.g. 'Normal(0, 1.5)'") from None
    family = getattr(dist, node.func.id, None)
    if not (isinstance(family, type) and issubclass(family, dist.Distribution)):
        raise SpecError(f"prior {name!r}: {node.func.id!r} is not a numpyro distribution")
    try:
        return family(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise SpecError(f"prior {name!r}: {text!r}: {err}") from None


def spec_from_dict(raw: dict, name: str = "analysis") -> Spec:
    """Flatten the TOML sections into a :class:`Spec`, rejecting unknown keys."""
    flat = {"name": raw.get("name", name)}
    for key, value in raw.items():
        if key == "name":
            continue
        if key not in SECTIONS:
            raise SpecError(f"spec {flat['name']!r}: unknown section [{key}] (known: {', '.join(SECTIONS)})")
        if not isinstance(value, dict):
            raise SpecError(f"spec {flat['name']!r}: [{key}] must be a table")
        for sub, sub_value in value.items():
            if sub not in SECTIONS[key]:
                raise SpecError(
                    f"spec {flat['name']!r}: unknown key {key}.{sub} (known: {', '.join(SECTIONS[key])})"
                )
            flat[sub] = sub_value
    return Spec(**flat)


def load_spec(path: str | Path) -> Spec:
    """Read a spec from a TOML file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"no such spec file: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"spec {path}: {err}") from None
    return spec_from_dict(raw, name=path.stem)
