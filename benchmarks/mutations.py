"""Mutation check: plant plausible bugs one at a time and see whether the test suite catches each.

Run from the repository root::

    python benchmarks/mutations.py                   # every mutation, against the tests listed with it
    python benchmarks/mutations.py --full            # against the whole default suite (much longer)
    python benchmarks/mutations.py --only seed_ignored,chance_ignored

Each mutation is a one-line edit of the package: a copy of the working tree
(tracked and untracked, not ignored, files) goes to a temporary folder, the
edit is applied there (it must match exactly one line), and pytest runs in that
copy with ``-x`` (stop at the first failure). The tests listed with a mutation
are the files a reader would expect to catch it, run first because the whole
suite per mutation takes most of an hour on 2 cores; ``--full`` runs the
default suite instead. A mutation is *caught* when a test fails, *survived* when
every test passes; the first failing test is printed. A mutant's programs
differ from the original's, so they are traced and compiled afresh: expect
minutes per mutation.

The target (issue 15): every mutation caught by the default run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("slope_sign", "sign of the power law's slope flipped: -log Q grows with compute",
             "bayes_scaling/laws/power_law.py",
             'return theta["log_a"] - theta["alpha"] * inputs["log_compute"]',
             'return theta["log_a"] + theta["alpha"] * inputs["log_compute"]',
             ("tests/test_power_law.py",)),
    Mutation("chance_ignored", "chance level ignored: Q = acc instead of (acc - chance) / (1 - chance)",
             "bayes_scaling/transforms.py",
             "return (accuracy - chance) / (1.0 - chance)",
             "return accuracy + 0.0 * chance",
             ("tests/test_power_law.py", "tests/test_predict.py")),
    Mutation("mean_band_for_new_run", "the mean curve's quantiles reported as the new-run (predictive) interval",
             "bayes_scaling/predict.py",
             'summary_columns(new_run, prob, prefix="predictive_")',
             'summary_columns(curve, prob, prefix="predictive_")',
             ("tests/test_predict.py", "tests/test_compare_and_evaluate.py")),
    Mutation("seed_ignored", "the sampler's seed ignored: every fit starts from key 0",
             "bayes_scaling/engine.py",
             "fit_keys = jax.random.split(jax.random.key(settings.seed), len(inputs_list))",
             "fit_keys = jax.random.split(jax.random.key(0), len(inputs_list))",
             ("tests/test_power_law.py",)),
    Mutation("held_out_leak", "held-out runs leak into the fit: every selected run is fitted",
             "bayes_scaling/selection.py",
             "fitted=rows[~held].reset_index(drop=True),",
             "fitted=rows.reset_index(drop=True),",
             ("tests/test_power_law.py",)),
    Mutation("warnings_never_raised", "sampling warnings never raised: Diagnostics.warnings returns nothing",
             "bayes_scaling/diagnostics.py",
             "        return found",
             "        return []",
             ("tests/test_diagnostics.py",)),
    Mutation("normal_likelihood", "the Student-t likelihood replaced by a normal one (nu ignored)",
             "bayes_scaling/model.py",
             'numpyro.sample("y", dist.StudentT(nu, mu, sigma), obs=y)',
             'numpyro.sample("y", dist.Normal(mu, sigma), obs=y)',
             ("tests/test_reliability.py",)),
    Mutation("form_error_dropped", "the form-error shift never added to the predicted mean",
             "bayes_scaling/laws/base.py",
             "            mean = mean + shift\n        noise",
             "            mean = mean\n        noise",
             ("tests/test_form_error.py",)),
)


def working_tree_copy(destination: Path) -> None:
    """Copy the files git would commit (tracked, and untracked but not ignored) to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.path
    text = path.read_text(encoding="utf-8")
    if text.count(mutation.before) != 1:
        raise SystemExit(f"mutation {mutation.name}: {mutation.before!r} occurs {text.count(mutation.before)} times "
                         f"in {mutation.path}, not once (the code moved: update the mutation)")
    path.write_text(text.replace(mutation.before, mutation.after), encoding="utf-8")


def run_tests(tree: Path, tests: list[str], workers: str, timeout: float) -> tuple[str, str, float]:
    """Run pytest in the mutated copy; returns (verdict, first failing test or note, seconds)."""
    # The copy goes first on the path, ahead of the editable install of the real tree.
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", workers, *tests]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"no verdict in {timeout:.0f} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, flags=re.MULTILINE)
    if done.returncode == 0:
        return "survived", "every test passed", seconds
    if done.returncode == 1 and failed:
        return "caught", failed[0], seconds
    return "error", f"pytest exit {done.returncode}: {done.stdout[-300:]}{done.stderr[-300:]}", seconds


def check_import(tree: Path) -> None:
    """Fail loudly if the copy would import the real package instead of the mutated one."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    found = subprocess.run([sys.executable, "-c", "import bayes_scaling; print(bayes_scaling.__file__)"], cwd=tree,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the mutated copy imports {found}, not its own package")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the whole default suite for every mutation")
    parser.add_argument("--only", default="", help="mutations to run, comma-separated (default all)")
    parser.add_argument("--workers", default="0", help="pytest-xdist workers per run (default 0: one process)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per mutation (default 1800)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"option --only: unknown mutation {sorted(unknown)[0]!r}; "
                     f"known: {', '.join(m.name for m in MUTATIONS)}")

    rows = []
    for mutation in chosen:
        with tempfile.TemporaryDirectory(prefix=f"mutant_{mutation.name}_") as folder:
            tree = Path(folder)
            working_tree_copy(tree)
            apply(mutation, tree)
            check_import(tree)
            tests = [] if args.full else list(mutation.tests)
            verdict, detail, seconds = run_tests(tree, tests, args.workers, args.timeout)
        rows.append((mutation.name, verdict, detail, seconds))
        print(f"{mutation.name:24s} {verdict:9s} {seconds:6.0f} s  {detail}   ({mutation.what})", flush=True)
    caught = sum(verdict == "caught" for _, verdict, _, _ in rows)
    scope = "the default suite" if args.full else "the tests listed with each mutation"
    print(f"\n{caught} of {len(rows)} mutations caught by {scope}.")
    return 0 if caught == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
