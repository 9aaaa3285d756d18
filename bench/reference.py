"""The reference run: the same benchmark on the commit that met its goal, on this host, in this run.

A goal such as "≥ 300 webhook req/s on 2 cores" was set and met on one machine; a machine of the
same size can be twice as slow (shared cores, another CPU), and then the absolute figure says
nothing about the code. So the webhook and import benchmarks also run the code of
``REFERENCE_COMMIT`` — wave 1 as measured when the goals were met (351 req/s, 13,460 rows/s on
that host) — from this repository's own history, in a temporary git worktree beside this one,
against a database of its own, with the same virtualenv. "No regression" means this code does at
least ``NO_REGRESSION_RATIO`` of what the reference does in the same run.

Needs the repository's history (a full clone); a shallow clone prints why the reference was skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_COMMIT = "83e9c7d"
# What the reference measured on the host where the goals were set (docs/benchmarks.md, 2026-11-23).
REFERENCE_HOST_FIGURES = {"webhook_rps": 351.0, "import_rows_per_s": 13_460.0}
# Run-to-run noise on a shared 2-core host is about ±5 %.
NO_REGRESSION_RATIO = 0.95


def run_reference(script: str, args: list[str], env: dict[str, str]) -> dict[str, str] | None:
    """Run ``bench/<script>`` of the reference commit; its ``key=value`` output, or None (printed why)."""
    if subprocess.run(["git", "cat-file", "-e", f"{REFERENCE_COMMIT}^{{commit}}"], cwd=ROOT,
                      capture_output=True).returncode != 0:
        print(f"reference_skipped=commit {REFERENCE_COMMIT} is not in this clone (shallow?): "
              "fetch the history")
        return None
    with tempfile.TemporaryDirectory(prefix="carerelay-reference-") as parent:
        tree = Path(parent) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), REFERENCE_COMMIT],
                       cwd=ROOT, check=True)
        try:
            (tree / ".venv").symlink_to(ROOT / ".venv")
            # This tree's development keys (var/dev-keys.json): the reference's database keeps
            # data keys wrapped by them from one run to the next.
            (ROOT / "var").mkdir(exist_ok=True)
            (tree / "var").symlink_to(ROOT / "var")
            done = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=tree,
                                  env={**os.environ, **env}, capture_output=True, text=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        print(f"reference_failed=exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line and " " not in line)


def compare(name: str, ours: float, reference: dict[str, str] | None) -> None:
    """Print the reference's figure, the ratio, and whether this code held its ground."""
    if reference is None or name not in reference:
        return
    theirs = float(reference[name])
    ratio = ours / theirs if theirs else 0.0
    print(f"reference_commit={REFERENCE_COMMIT}")
    print(f"reference_{name}={theirs:.0f}")
    print(f"{name}_vs_reference={ratio:.2f}")
    # The goal carried over to this host: what the reference did here, scaled like its figure there.
    print(f"reference_{name}_on_goal_host={REFERENCE_HOST_FIGURES[name]:.0f}")
    print(f"no_regression={ratio >= NO_REGRESSION_RATIO}")


def reference_database(url: str) -> str:
    """The reference's own database: the same server, ``<name>_reference``."""
    base, _, name = url.rpartition("/")
    return f"{base}/{name}_reference"
