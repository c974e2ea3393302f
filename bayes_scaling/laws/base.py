"""What every scaling law provides, and the rescaled inputs they all share.

A law is a small class: a name, its formula, the inputs it needs, a pure
``jax.numpy`` mean function on the likelihood scale, and default priors. The
NumPyro model is built once from these pieces in :mod:`bayes_scaling.model`.

:class:`Law` is the whole contract: everything the rest of the package asks
of a law is a method or attribute here, with a default that a plain direct law
keeps. A new form is one file: a subclass with ``name``, ``formula``,
``inputs``, ``parameters``, :meth:`~Law.default_priors` and :meth:`~Law.mean`,
decorated with :func:`register`; :func:`register` checks the parameters against
the priors when the class is registered. Optional, with defaults:

=========================== =====================================================
member                      default
=========================== =====================================================
``kind``                    ``"direct"`` (``"two_stage"``: through a loss)
``scale``                   ``"log_neg_log_q"``
:meth:`~Law.ceiling`        ``None``: accuracy rises towards 1
:meth:`~Law.paper_parameters` the law's own parameters
:meth:`~Law.paper_method`   Huber fit of :meth:`~Law.mean` on the likelihood
                            scale, starts and bounds from the priors
``extra_select_options``,   :func:`bayes_scaling.select` and its options
:meth:`~Law.select_data`
=========================== =====================================================

Inputs reach the mean function rescaled, so that priors do not depend on units:

=============== ==================================
key             value
=============== ==================================
``log_compute`` ``log(C / 1e21)``, C in FLOPs
``log_params``  ``log(N / 1e9)``
``log_tokens``  ``log(D / 2e10)``
``log_k``       ``log(k)``
=============== ==================================

All logarithms are natural.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import jax
import numpy as np
import numpyro.distributions as dist

from bayes_scaling import transforms
from bayes_scaling.errors import DataError, SpecError
from bayes_scaling.model import scaling_model
from bayes_scaling.point_fit import CurveFit, DirectPaperMethod, PointParameter
from bayes_scaling.selection import SELECT_OPTIONS

#: Kinds of law: accuracy from the inputs alone, or through a validation loss.
KINDS = ("direct", "two_stage")
#: Reference values of the rescaled inputs (see the module docstring).
REFERENCE = {"compute": 1e21, "params": 1e9, "tokens": 2e10, "k": 1.0}
#: Table column that carries each input.
INPUT_COLUMNS = {"compute": "flops", "params": "params", "tokens": "tokens", "k": "k"}


def rescale(name: str, values) -> np.ndarray:
    """Natural log of ``values / REFERENCE[name]``."""
    return np.log(np.asarray(values, dtype=float) / REFERENCE[name])


def rescale_inputs(raw: Mapping) -> dict[str, np.ndarray]:
    """Raw inputs ``{"compute": C, ...}`` as the mean functions take them: ``{"log_compute": log(C / 1e21), ...}``."""
    return {f"log_{name}": rescale(name, values) for name, values in raw.items()}


def raw_inputs(law: "Law", frame) -> dict[str, np.ndarray]:
    """The raw inputs ``law`` needs (``compute``, ``params``, ...), read from a tidy table's columns."""
    return {name: np.asarray(frame[INPUT_COLUMNS[name]], dtype=float) for name in law.inputs}


def law_inputs(law: "Law", frame) -> dict[str, np.ndarray]:
    """The rescaled inputs ``law`` needs, read from a tidy table."""
    raw = raw_inputs(law, frame)
    for name, values in raw.items():
        if np.any(~np.isfinite(values)):
            raise DataError(f"law {law.name!r} needs column {INPUT_COLUMNS[name]!r} on every row it fits")
    return rescale_inputs(raw)


def inputs_along_compute(law: "Law", compute, *, tpr: float = 20.0, k: float = 1.0) -> dict[str, np.ndarray]:
    """Raw inputs of ``law`` along a compute grid: N and D on ``C = 6 N D`` at ``tpr``, a fixed ``k``."""
    compute = np.asarray(compute, dtype=float)
    params = np.sqrt(compute / (6.0 * tpr))
    values = {"compute": compute, "params": params, "tokens": tpr * params, "k": np.full_like(compute, k)}
    return {name: values[name] for name in law.inputs}


def noise_priors() -> dict[str, dist.Distribution]:
    """Default priors of the Student-t likelihood shared by every law.

    ``sigma ~ HalfNormal(0.5)``: the residual scale on the likelihood scale;
    observed benchmark noise of about one point of accuracy is 0.02-0.1 on
    ``log(-log Q)``, so 0.5 is wide.

    ``nu ~ Gamma(2, 0.1)``: degrees of freedom, the prior of Juarez and Steel
    (2010) recommended by the Stan prior-choice notes; mean 20, with mass on
    heavy tails (nu < 5) when outliers need them.
    """
    return {"sigma": dist.HalfNormal(0.5), "nu": dist.Gamma(2.0, 0.1)}


class Law:
    """Base class of a scaling law.

    Subclasses set the class attributes and implement :meth:`mean`.
    """

    #: Registry name, e.g. ``"power_law"``.
    name: ClassVar[str]
    #: The law in the paper's notation, one line.
    formula: ClassVar[str]
    #: Inputs among ``compute``, ``params``, ``tokens``, ``k``.
    inputs: ClassVar[tuple[str, ...]] = ("compute",)
    #: Likelihood scale, a key of :data:`bayes_scaling.transforms.SCALES`.
    scale: ClassVar[str] = "log_neg_log_q"
    #: Parameters in the order :meth:`mean` documents them.
    parameters: ClassVar[tuple[str, ...]]
    #: ``"direct"``: accuracy from the inputs alone, a curve the form-error term
    #: (:mod:`bayes_scaling.form_error`) can bend; ``"two_stage"``: through a loss.
    kind: ClassVar[str] = "direct"
    #: Noise parameters of the likelihood, sampled after the mean's (``sigma``,
    #: ``nu`` of :func:`noise_priors`; a law with more sites adds its own).
    noise_parameters: ClassVar[tuple[str, ...]] = ("sigma", "nu")

    def default_priors(self) -> dict[str, dist.Distribution]:
        """Priors of the mean function's parameters."""
        raise NotImplementedError

    def mean(self, theta: Mapping, inputs: Mapping):
        """Mean of the response on the likelihood scale (pure ``jax.numpy``)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- helpers
    @property
    def transform(self) -> transforms.Scale:
        return transforms.SCALES[self.scale]

    @property
    def min_points(self) -> int:
        """Fewest usable points: one more than the mean function's parameters."""
        return len(self.parameters) + 1

    def priors(self, overrides: Mapping[str, dist.Distribution] | None = None) -> dict:
        """Default priors of the mean and the noise, with ``overrides`` by name."""
        priors = {**self.default_priors(), **noise_priors()}
        for key, prior in dict(overrides or {}).items():
            if key not in priors:
                raise SpecError(
                    f"option priors: law {self.name!r} has no parameter {key!r}; its parameters are {', '.join(priors)}"
                )
            if not isinstance(prior, dist.Distribution):
                raise SpecError(f"option priors: prior for {key!r} must be a numpyro Distribution, got {type(prior).__name__}")
            priors[key] = prior
        return priors

    # ------------------------------------------------ what the package asks of a law
    def ceiling(self, theta: Mapping, chance):
        """Accuracy the law approaches as compute grows without bound, per draw; ``None`` if it rises to 1.

        ``theta`` maps the parameters to arrays of draws; a law with a floor on
        ``-log Q`` (``E``) returns ``chance + (1 - chance) exp(-E)``.
        """
        return None

    def paper_parameters(self, theta: Mapping, chance: float | None = None) -> dict[str, np.ndarray]:
        """The law's parameters in the paper's notation (C, N, D unscaled), from draws or point values.

        One signature for every law: ``theta`` maps parameters to arrays of
        draws (or floats); ``chance`` is needed only by laws whose paper
        parameters are in raw accuracy (the two-stage logistic). By default the
        law's own parameters.
        """
        return {name: np.asarray(theta[name], dtype=float) for name in self.parameters}

    def paper_method(self):
        """How the paper's point-estimate method fits this law (:mod:`bayes_scaling.paper_method`).

        By default: a Huber fit of :meth:`mean` on the likelihood scale, over
        the law's own parameters, with starts drawn from the middle 80% of each
        prior and bounds at the prior's support (:func:`prior_point_parameters`);
        the gradients come from JAX. Laws whose paper fits them in other
        coordinates, or on another scale, return their own
        :class:`~bayes_scaling.point_fit.DirectPaperMethod`.
        """
        parameters = prior_point_parameters(self.default_priors(), self.parameters)
        return DirectPaperMethod(CurveFit(parameters, self.mean), self.scale, self.paper_parameters)

    # ------------------------------------------------------- extension hooks
    # A law whose data or likelihood differ from the shared pattern (the
    # two-stage baseline) overrides these three; every other law inherits them.

    #: Selection options this law takes beyond those of ``select`` (the two-stage ``loss_benchmark``).
    extra_select_options: ClassVar[tuple[str, ...]] = ()

    def selection_options(self, options: Mapping) -> dict:
        """The subset of ``options`` this law's :meth:`select_data` takes (for runs over several forms)."""
        known = (*SELECT_OPTIONS, *self.extra_select_options)
        return {key: value for key, value in options.items() if key in known}

    def common_select_options(self, options: Mapping) -> dict:
        """``options`` that :func:`bayes_scaling.select` takes; an error names any other given one."""
        extra = sorted(key for key, value in options.items() if key not in SELECT_OPTIONS and value is not None)
        if extra:
            raise SpecError(f"option {extra[0]}: not used by form {self.name!r}")
        return {key: value for key, value in options.items() if key in SELECT_OPTIONS}

    def select_data(self, table, benchmark: str, metric: str = "acc", **options):
        """The points this law is fitted on: :func:`bayes_scaling.selection.select` by default.

        A law that needs more than one measurement per run (the two-stage
        baseline's loss) overrides this and takes its extra options here.
        """
        from bayes_scaling.selection import select

        return select(table, benchmark, metric, **self.common_select_options(options))

    def observations(self, frame) -> np.ndarray:
        """Observations on the likelihood scale, NaN where the scale cannot hold a row."""
        return self.transform.forward(frame["value"], frame["chance"])

    def model(self, priors, inputs, y=None, mask=None):
        """The NumPyro model: by default the shared :func:`bayes_scaling.model.scaling_model`."""
        scaling_model(self, priors, inputs, y=y, mask=mask)

    def curve_draws(self, draws, inputs, chance) -> np.ndarray:
        """Posterior draws (draws, points) of the mean curve in raw accuracy at rescaled ``inputs``."""
        curve, _ = self.accuracy_draws(draws, inputs, chance, np.random.default_rng(0))
        return curve

    def accuracy_draws(self, draws, inputs, chance, rng, shift=None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior draws in raw accuracy of the mean curve and of a new run.

        Parameters
        ----------
        draws : dict
            Posterior variables with chains and draws flattened to one axis.
        inputs : dict
            Rescaled inputs of the points to predict.
        chance : float or array
            Chance level of the benchmark.
        rng : numpy.random.Generator
            Source of the new-run noise.
        shift : array of shape (draws, points), optional
            Form-error draws added to the mean on the likelihood scale
            (:meth:`bayes_scaling.form_error.FormErrorPrior.shift_draws`).

        Returns
        -------
        curve, new_run : arrays of shape (draws, points)
        """
        theta = {name: draws[name] for name in self.parameters}
        mean = np.asarray(jax.vmap(lambda t: self.mean(t, inputs))(theta))
        if shift is not None:
            mean = mean + shift
        noise = rng.standard_t(draws["nu"][:, None], size=mean.shape) * draws["sigma"][:, None]
        inverse = self.transform.inverse
        return np.asarray(inverse(mean, chance)), np.asarray(inverse(mean + noise, chance))

    def predictive_log_density(self, draws, inputs, y, rng, shift=None) -> np.ndarray:
        """Log density of observations ``y`` (likelihood scale) at new inputs, per posterior draw.

        This is what held-out runs are scored with: ``log p(y_j | theta_s, x_j)``
        for every draw ``s`` and point ``j``, from the run's inputs alone (no
        other measurement of the run).

        Parameters
        ----------
        draws : dict
            Posterior variables with chains and draws flattened to one axis.
        inputs : dict
            Rescaled inputs of the points.
        y : array of shape (points,)
            Observations on the law's likelihood scale.
        rng : numpy.random.Generator
            For laws whose density needs Monte Carlo integration.
        shift : array of shape (draws, points), optional
            Form-error draws added to the mean (as in :meth:`accuracy_draws`).

        Returns
        -------
        array of shape (draws, points)
        """
        theta = {name: draws[name] for name in self.parameters}
        mean = jax.vmap(lambda t: self.mean(t, inputs))(theta)
        if shift is not None:
            mean = mean + shift
        nu, sigma = (np.asarray(draws[name])[:, None] for name in ("nu", "sigma"))
        return np.asarray(dist.StudentT(nu, mean, sigma).log_prob(np.asarray(y, dtype=float)[None, :]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_REGISTRY: dict[str, type[Law]] = {}
_INSTANCES: dict[str, Law] = {}


#: Families of laws with a size in their name (``bnsl_<n>``: BNSL with n breaks):
#: stem -> function that registers the member of a given size.
_FAMILIES: dict[str, object] = {}


def register_family(stem: str, factory) -> None:
    """Let :func:`get_law` build ``<stem>_<n>`` on first use by calling ``factory(n)``."""
    _FAMILIES[stem] = factory


def is_registered(name: str) -> bool:
    """Whether a law of that name is in the registry (built already, for a family member)."""
    return name in _REGISTRY


def register(cls: type[Law]) -> type[Law]:
    """Class decorator adding a law to the registry under ``cls.name``, after checking its contract.

    Raises
    ------
    TypeError
        If the law's parameters and default priors do not match, or its
        inputs, scale or kind are not among the known ones
        (:func:`check_contract`).
    """
    _REGISTRY[cls.name] = cls
    try:
        check_contract(cls())
    except TypeError:
        del _REGISTRY[cls.name]
        raise
    return cls


def unregister(name: str) -> None:
    """Remove a law from the registry (a law defined for a while, as in a test or a notebook)."""
    _REGISTRY.pop(name, None)
    _INSTANCES.pop(name, None)


def check_contract(law: Law) -> None:
    """Check that a law's declared pieces fit together; raise ``TypeError`` naming what does not.

    Every mean parameter and every extra noise parameter has a default prior
    and every default prior names one of them; the inputs, likelihood scale and
    kind are known ones.
    """
    where = f"law {type(law).__name__} ({getattr(law, 'name', '?')!r})"
    for attribute in ("name", "formula", "parameters"):
        if not hasattr(law, attribute):
            raise TypeError(f"{where} sets no {attribute}")
    unknown_inputs = sorted(set(law.inputs) - set(INPUT_COLUMNS))
    if unknown_inputs or not law.inputs:
        raise TypeError(f"{where}: inputs must be among {', '.join(INPUT_COLUMNS)}, got {law.inputs!r}")
    if law.scale not in transforms.SCALES:
        raise TypeError(f"{where}: scale {law.scale!r} is not one of {', '.join(transforms.SCALES)}")
    if law.kind not in KINDS:
        raise TypeError(f"{where}: kind {law.kind!r} is not one of {', '.join(KINDS)}")
    priors = law.default_priors()
    expected = set(law.parameters) | (set(law.noise_parameters) - set(noise_priors()))
    if missing := [name for name in [*law.parameters, *law.noise_parameters] if name in expected - set(priors)]:
        raise TypeError(f"{where}: no default prior for parameter(s) {', '.join(missing)}")
    if extra := sorted(set(priors) - expected):
        raise TypeError(f"{where}: default prior(s) for {', '.join(extra)}, which are not among its parameters "
                        f"{', '.join(law.parameters)}")
    for name, prior in priors.items():
        if not isinstance(prior, dist.Distribution):
            raise TypeError(f"{where}: default prior of {name!r} is a {type(prior).__name__}, not a numpyro Distribution")


def prior_point_parameters(priors: Mapping[str, dist.Distribution], names) -> tuple[PointParameter, ...]:
    """Start ranges and bounds of a point fit from priors: the middle 80% of each prior, its support.

    The quantiles come from 4000 prior draws (a fixed key), so that any
    distribution serves, with or without an inverse CDF.
    """
    out = []
    for index, name in enumerate(names):
        prior = priors[name]
        draws = np.asarray(prior.sample(jax.random.key(index), (4000,)), dtype=float)
        low, high = np.quantile(draws, [0.1, 0.9])
        support = prior.support
        bounds = tuple(
            float(bound) if bound is not None and np.isfinite(bound) else None
            for bound in (getattr(support, "lower_bound", None), getattr(support, "upper_bound", None))
        )
        out.append(PointParameter(name, (float(low), float(high)), bounds))
    return tuple(out)


def get_law(name: str | Law) -> Law:
    """The law registered as ``name``; a clear error lists the known names."""
    if isinstance(name, Law):
        return name
    stem, _, count = str(name).rpartition("_")
    if name not in _REGISTRY and stem in _FAMILIES and count.isdigit() and int(count) >= 1:
        _FAMILIES[stem](int(count))  # registers the member, e.g. bnsl_3
    if name not in _REGISTRY:
        known = sorted(_REGISTRY) + [f"{stem}_<n>" for stem in sorted(_FAMILIES)]
        raise SpecError(f"option form: unknown form {name!r}; known forms: {', '.join(known)}")
    # One instance per name: laws are stateless, and the batched engine caches
    # compiled programs per law instance.
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]


def available_laws() -> dict[str, Law]:
    """Every registered law by name."""
    return {name: get_law(name) for name in sorted(_REGISTRY)}

