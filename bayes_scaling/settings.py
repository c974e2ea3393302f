"""The sampler's settings: one frozen, hashable object from a spec or the command line down to the engine.

Two kinds of setting, as NumPyro separates the kernel (``NUTS``) from the loop
(``MCMC``):

- those that shape the compiled program (:attr:`SamplerSettings.program`):
  warm-up and draws, chains, target acceptance, tree depth, metric, initial
  values; the engine keys its compiled programs by them;
- those that do not: the seed, how chains are spread over devices, whether a
  failed fit is retried.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax

from bayes_scaling.errors import SpecError

#: Ways to spread a batch's chains: over local devices, or all on one.
CHAIN_METHODS = ("parallel", "vectorized")
#: Initial values: around each fit's posterior mode, or uniform in (-2, 2) as NumPyro and Stan.
INITS = ("map", "uniform")


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings, with NumPyro's own names.

    Attributes
    ----------
    num_warmup, num_samples, num_chains : int
        Warm-up steps and kept draws per chain, chains per fit.
    target_accept_prob : float
        Step-size adaptation target, in (0, 1).
    max_tree_depth : int
        Largest trajectory, ``2 ** max_tree_depth`` leapfrog steps.
    dense_mass : bool
        Adapt a dense mass matrix (see :func:`bayes_scaling.engine.sample_batch`).
    init : {"map", "uniform"}
        Initial values (see :func:`bayes_scaling.engine.sample_batch`).
    chain_method : {None, "parallel", "vectorized"}
        ``None`` picks ``"parallel"`` (the batch of chains split across
        devices) when there are several local devices and ``"vectorized"``
        (every chain in one vectorised program) otherwise.
    seed : int
        Seeds the initial values and the sampler.
    retry : bool
        Refit once, with twice the warm-up and the draws and a higher target
        acceptance, a fit that fails a sampling check
        (:func:`bayes_scaling.inference.retry_settings`).

    Raises
    ------
    SpecError
        On creation, naming the option, if a value has the wrong type or range.
    """

    num_warmup: int = 1000
    num_samples: int = 1000
    num_chains: int = 4
    target_accept_prob: float = 0.9
    max_tree_depth: int = 10
    dense_mass: bool = True
    init: str = "map"
    chain_method: str | None = None
    seed: int = 0
    retry: bool = True

    def __post_init__(self):
        for name, least in (("num_warmup", 0), ("num_samples", 1), ("num_chains", 1), ("max_tree_depth", 1),
                            ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise SpecError(f"option {name}: must be an integer of at least {least}, got {value!r}")
        accept = self.target_accept_prob
        if isinstance(accept, bool) or not isinstance(accept, (int, float)) or not 0 < accept < 1:
            raise SpecError(f"option target_accept_prob: must be a number in (0, 1), got {accept!r}")
        object.__setattr__(self, "target_accept_prob", float(accept))
        for name in ("dense_mass", "retry"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"option {name}: must be true or false, got {getattr(self, name)!r}")
        if self.init not in INITS:
            raise SpecError(f"option init: must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.chain_method is not None and self.chain_method not in CHAIN_METHODS:
            raise SpecError(f"option chain_method: must be parallel or vectorized, got {self.chain_method!r}")

    @classmethod
    def from_options(cls, settings: SamplerSettings | None = None, **options) -> SamplerSettings:
        """``settings`` (default: the defaults) with ``options`` by name; an unknown name is an error."""
        base = cls() if settings is None else settings
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SpecError(f"option {unknown[0]}: not a sampler setting; they are "
                            f"{', '.join(f.name for f in dataclasses.fields(cls))}")
        return dataclasses.replace(base, **options) if options else base

    def replace(self, **changes) -> SamplerSettings:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    @property
    def program(self) -> tuple:
        """The settings that shape a compiled program (part of the engine's cache key)."""
        return (self.num_warmup, self.num_samples, self.num_chains, self.target_accept_prob, self.max_tree_depth,
                self.dense_mass, self.init)

    def resolved_chain_method(self) -> str:
        """The chain method this machine uses: ``chain_method``, or the pick for its devices."""
        if self.chain_method is not None:
            return self.chain_method
        return "parallel" if jax.local_device_count() > 1 else "vectorized"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
