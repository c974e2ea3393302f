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

Every key is checked against a typed model (:class:`SpecModel`, pydantic, strict:
a string where a number belongs, a number where a list belongs, a value out of
range, or an unknown key is a one-line error naming the section and key, with
the nearest valid name for a misspelt one).
"""

from __future__ import annotations

import ast
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpyro.distributions as dist
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


# ----------------------------------------------------------------------------- the typed model
# Strict: TOML has types, and "500" for a number of draws is a mistake to name, not to coerce.
_STRICT = ConfigDict(strict=True, extra="forbid")
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=1)]
_Name = Annotated[str, Field(min_length=1)]


class DataSection(BaseModel):
    """``[data]``: where the runs come from and which of them are selected."""

    model_config = _STRICT
    dataset: _Name | None = None
    path: _Name | None = None
    columns: dict[str, _Name] = {}
    chance: dict[str, Annotated[float, Field(ge=0, lt=1)]] = {}
    benchmarks: Annotated[list[_Name], Field(min_length=1)]
    metric: _Name = "acc"
    group: _Name | None = None
    tpr: _Positive | None = None
    k: _Positive | None = None
    chance_margin: Annotated[float, Field(ge=0, lt=1)] = 0.02
    loss_benchmark: _Name | None = None


class HoldoutSection(BaseModel):
    """``[holdout]``: runs above ``max_compute`` FLOPs are held out."""

    model_config = _STRICT
    max_compute: _Positive | None = None


class LawSection(BaseModel):
    """``[law]``: the form, prior overrides (strings such as ``"HalfNormal(0.5)"``), the form-error term."""

    model_config = _STRICT
    form: _Name = "power_law"
    priors: dict[str, str] = {}
    form_error: bool = True


class EvaluateSection(BaseModel):
    """``[evaluate]``: forms and compute cut-offs of ``compare`` and ``evaluate``."""

    model_config = _STRICT
    forms: list[_Name] = []
    cutoffs: list[_Positive] = []


class SamplerSection(BaseModel):
    """``[sampler]``: see :class:`bayes_scaling.settings.SamplerSettings`."""

    model_config = _STRICT
    num_warmup: _Count = SamplerSettings.num_warmup
    num_samples: _Count = SamplerSettings.num_samples
    num_chains: _Count = SamplerSettings.num_chains
    chain_method: Literal["parallel", "vectorized"] | None = None
    target_accept_prob: Annotated[float, Field(gt=0, lt=1)] = SamplerSettings.target_accept_prob
    seed: Annotated[int, Field(ge=0)] = SamplerSettings.seed
    retry: bool = True


class SpecModel(BaseModel):
    """A spec file's sections, typed."""

    model_config = _STRICT
    name: _Name = "analysis"
    data: DataSection
    holdout: HoldoutSection = HoldoutSection()
    law: LawSection = LawSection()
    evaluate: EvaluateSection = EvaluateSection()
    sampler: SamplerSection = SamplerSection()


_SECTION_MODELS = {"data": DataSection, "holdout": HoldoutSection, "law": LawSection, "evaluate": EvaluateSection,
                   "sampler": SamplerSection}


def validate_sections(raw: dict, name: str) -> SpecModel:
    """``raw`` (a parsed spec file) checked by :class:`SpecModel`; the first problem as a one-line SpecError."""
    try:
        return SpecModel.model_validate(raw)
    except ValidationError as err:
        # A misspelt key also leaves the right one missing: name the misspelling first.
        first = sorted(err.errors(), key=lambda error: error["type"] != "extra_forbidden")[0]
        raise SpecError(f"spec {name!r}: {_describe(first, raw)}") from None


def _describe(error: dict, raw: dict) -> str:
    """One problem of a spec, naming its section and key (and the nearest valid name of an unknown one)."""
    location = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        if len(location) == 1:
            known = [key for key in SpecModel.model_fields if key != "name"]
            return f"unknown section [{location[0]}]{_nearest(location[0], known)} (known: {', '.join(known)})"
        known = list(_SECTION_MODELS[location[0]].model_fields)
        return (f"unknown key {location[0]}.{location[1]}{_nearest(location[1], known, location[0] + '.')} "
                f"(known: {', '.join(known)})")
    if error["type"] == "missing":
        return f"{'.'.join(location)} is required"
    if len(location) == 1 and location[0] in _SECTION_MODELS:
        return f"[{location[0]}] must be a table"
    return f"{'.'.join(location)}: {error['msg'].lower()}, got {error.get('input')!r}"


def _nearest(word: str, known, prefix: str = "") -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


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
        for key in ("benchmarks", "forms", "cutoffs"):
            value = getattr(self, key)
            if isinstance(value, list):
                object.__setattr__(self, key, tuple(value))
        # Built in Python or from the command line, a spec passes the same typed checks as a file.
        validate_sections(self.sections(), self.name)
        if (self.dataset is None) == (self.path is None):
            raise SpecError(f"spec {self.name!r}: give exactly one of data.dataset and data.path")
        object.__setattr__(self, "cutoffs", tuple(float(c) for c in self.cutoffs))
        for form in (self.form, *self.forms):
            get_law(form)
        # Fail before any sampling starts: an unknown prior name or string is an error now.
        get_law(self.form).priors(self.prior_distributions())

    def sections(self) -> dict:
        """The spec as the sections of a spec file (lists for tuples), as :class:`SpecModel` reads them."""
        out = {"name": self.name}
        for section, keys in SECTIONS.items():
            values = {key: getattr(self, key) for key in keys}
            out[section] = {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
        return out

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
    """Check the TOML sections with :class:`SpecModel` and flatten them into a :class:`Spec`."""
    name = raw.get("name", name) if isinstance(raw.get("name", name), str) else name
    model = validate_sections({"name": name, **raw}, name)
    flat = {"name": model.name}
    for section in SECTIONS:
        # Only the keys the file sets: the Spec's own defaults fill the rest.
        given = raw.get(section, {})
        flat.update({key: value for key, value in getattr(model, section).model_dump().items() if key in given})
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
