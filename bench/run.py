"""Run every benchmark in ``bench/`` and print ONE JSON object with all their figures.

Each ``bench/bench_*.py`` module has ``run(quick: bool) -> dict[str, float]``; the figures of all of
them are merged into one object (a name two modules share is prefixed with the module's name).
``--quick`` runs small slices of everything in well under a minute; without it the full sizes
(three years of history, a year of backfill) take several minutes. ``--only NAME`` (repeatable)
runs just those modules, e.g. ``--only ingest``.

Usage: ``python bench/run.py [--quick] [--only NAME ...]``. The exit code is 1 when a benchmark
failed (its error goes to stderr and ``<module>_failed`` is set to 1 in the JSON).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import cast

BENCH_DIR = Path(__file__).resolve().parent

Runner = Callable[[bool], dict[str, float]]


def discover(only: list[str] | None = None) -> list[tuple[str, Runner]]:
    """``(name, run)`` of every ``bench_*.py`` next to this file, in name order."""
    found: list[tuple[str, Runner]] = []
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        name = path.stem
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        module = _load(name, path)
        runner = getattr(module, "run", None)
        if callable(runner):
            found.append((name, cast(Runner, runner)))
    return found


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"zapledger_bench.{name}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_all(quick: bool, only: list[str] | None = None) -> tuple[dict[str, float], bool]:
    """All figures merged, and whether every benchmark ran."""
    figures: dict[str, float] = {"quick": float(quick)}
    ok = True
    started = time.perf_counter()
    for name, runner in discover(only):
        t0 = time.perf_counter()
        try:
            result = runner(quick)
        except Exception:
            ok = False
            print(f"{name} failed:\n{traceback.format_exc()}", file=sys.stderr)
            figures[f"{name}_failed"] = 1.0
            continue
        for key, value in result.items():
            figures[key if key not in figures else f"{name}_{key}"] = value
        figures[f"{name}_seconds"] = round(time.perf_counter() - t0, 2)
    figures["total_seconds"] = round(time.perf_counter() - started, 2)
    return figures, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small slices, under a minute")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    args = parser.parse_args(argv)
    figures, ok = run_all(args.quick, args.only)
    print(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
