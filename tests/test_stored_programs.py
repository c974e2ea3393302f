"""Stored programs: keyed by everything they depend on, and never worse than tracing again."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling import stored_programs
from bayes_scaling.stored_programs import program_path, stored


class FileLaw:
    """A stand-in law whose module source (this file) can be read."""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(stored_programs, "_cache_folder", lambda: str(tmp_path))
    monkeypatch.setattr(stored_programs, "_LOADED", {})
    return tmp_path


def double(x):
    return 2.0 * x


def test_the_file_name_changes_with_the_program_and_its_arguments(cache):
    args = (np.ones(3),)
    first = program_path(("law", 1), args, FileLaw())
    assert first.parent == cache / stored_programs.FOLDER
    assert program_path(("law", 1), args, FileLaw()) == first
    assert program_path(("law", 2), args, FileLaw()) != first  # another setting
    assert program_path(("law", 1), (np.ones(4),), FileLaw()) != first  # another shape
    assert program_path(("law", 1), (np.ones(3, np.float32),), FileLaw()) != first  # another type


def test_nothing_is_stored_without_a_cache_or_a_readable_law(cache, monkeypatch):
    unreadable = type("Interactive", (), {"__module__": "no_such_module"})()
    assert program_path(("law",), (np.ones(3),), unreadable) is None
    program = jax.jit(double)
    assert stored(program, (np.ones(3),), ("law",), unreadable) is program
    monkeypatch.setattr(stored_programs, "_cache_folder", lambda: None)
    assert stored(program, (np.ones(3),), ("law",), FileLaw()) is program


def test_a_stored_program_computes_what_the_traced_one_does(cache):
    args = (jnp.arange(3.0),)
    program = stored(jax.jit(double), args, ("double",), FileLaw())
    assert program_path(("double",), args, FileLaw()).exists()
    np.testing.assert_array_equal(program(*args), [0.0, 2.0, 4.0])
    stored_programs._LOADED.clear()  # as a new process would
    np.testing.assert_array_equal(stored(jax.jit(double), args, ("double",), FileLaw())(*args), [0.0, 2.0, 4.0])


def test_an_unreadable_stored_file_means_tracing_again(cache):
    args = (jnp.arange(3.0),)
    path = program_path(("double",), args, FileLaw())
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a serialised program")
    program = jax.jit(double)
    assert stored(program, args, ("double",), FileLaw()) is program
