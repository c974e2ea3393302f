"""Traced sampler programs kept on disk, so a new process neither traces nor compiles them.

JAX's persistent compilation cache skips compiling, but a new process still
traces and lowers a program to find its cache key, and for a vectorised NUTS
sampler that is seconds of Python per program. :func:`stored` keeps the
lowered program itself, serialised with :mod:`jax.export`, next to the
compilation cache; loading it and compiling it (a cache hit) takes a fraction
of a second.

A stored program is only valid for the code that traced it, so its file name
is a hash of everything the program depends on: the caller's description of
it (law, priors' structure, settings, device count), the shapes and types of
its arguments, the source files of ``bayes_scaling`` and of the law's own
module, and the versions of JAX, jaxlib and NumPyro. Change any of these and
the program is traced again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path

import jax
from jax import export

#: Sub-folder of JAX's compilation cache folder that holds the stored programs.
FOLDER = "bayes_scaling_programs"


@functools.lru_cache(maxsize=1)
def _package_fingerprint() -> str:
    """Hash of this package's source files and of the libraries a program is traced with."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.relative_to(Path(__file__).parent).as_posix().encode())
        digest.update(path.read_bytes())
    for name in ("jax", "jaxlib", "numpyro"):
        digest.update(f"{name}={importlib.metadata.version(name)}".encode())
    return digest.hexdigest()


def _cache_folder() -> str | None:
    """JAX's compilation cache folder (None when it is off: see ``engine.enable_compilation_cache``)."""
    return jax.config.jax_compilation_cache_dir


def _source_of(obj) -> bytes | None:
    """The source file of the module that defines ``obj``'s class, or None if there is none to read."""
    module = sys.modules.get(type(obj).__module__)
    path = getattr(module, "__file__", None)
    try:
        return Path(path).read_bytes() if path else None
    except OSError:
        return None


def program_path(description, args, law) -> Path | None:
    """Where the program described by ``description`` and called with ``args`` is stored.

    None when programs are not stored: the compilation cache is off, or the
    law's source cannot be read (a law defined interactively), so a stale
    program could not be told from a current one.
    """
    folder = _cache_folder()
    law_source = _source_of(law)
    if not folder or law_source is None:
        return None
    digest = hashlib.sha256()
    digest.update(_package_fingerprint().encode())
    digest.update(law_source)
    digest.update(repr(description).encode())
    digest.update(jax.default_backend().encode())
    digest.update(repr(jax.tree.structure(args)).encode())
    for leaf in jax.tree.leaves(args):
        digest.update(f"{jax.typeof(leaf)}".encode())
    return Path(folder) / FOLDER / f"{digest.hexdigest()[:32]}.jaxexport"


def stored(program, args, description, law, *, in_shardings=None, out_shardings=None):
    """``program`` (a jitted function), loaded from disk when an earlier process stored it.

    Parameters
    ----------
    program : jax.stages.Wrapped
        The jitted function; traced and stored here on first use.
    args : tuple
        Its arguments for this call (their shapes and types key the file).
    description : hashable
        What else the traced program depends on (settings, priors' structure).
    law : Law
        The law whose module source also keys the file.
    in_shardings, out_shardings : optional
        Shardings to call a multi-device program with.

    Returns
    -------
    callable
        A jitted function with ``program``'s signature. Where nothing can be
        stored or loaded (no cache folder, a read-only one, a file from an
        incompatible JAX), ``program`` itself.
    """
    path = program_path(description, args, law)
    if path is None:
        return program
    if path not in _LOADED:
        try:
            exported = export.deserialize(bytearray(path.read_bytes())) if path.exists() else None
        except Exception:  # noqa: BLE001  (a corrupt or foreign file: trace as if there were none)
            return program
        if exported is None:
            try:
                exported = export.export(program)(*args)
                blob = exported.serialize()
            except Exception:  # noqa: BLE001  (a program export cannot hold still runs as it is)
                return program
            _write(path, blob)
        _LOADED[path] = (
            jax.jit(exported.call) if in_shardings is None
            else jax.jit(exported.call, in_shardings=in_shardings, out_shardings=out_shardings)
        )
    return _LOADED[path]


# Programs loaded in this process, by file: loading again would compile again.
_LOADED: dict = {}


def register_namedtuples(*types) -> None:
    """Let programs whose arguments hold these named tuples (NumPyro's sampler states) be serialised."""
    for kind in types:
        name = f"{kind.__module__}.{kind.__qualname__}"
        if name not in _REGISTERED:
            export.register_namedtuple_serialization(kind, serialized_name=name)
            _REGISTERED.add(name)


_REGISTERED: set = set()


def _write(path: Path, blob: bytes) -> None:
    """Write atomically (another process may be reading the same file); a read-only folder only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(blob)
        os.replace(handle.name, path)
    except OSError:
        pass
