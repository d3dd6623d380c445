"""Run the benchmarks: ``python -m benchmarks [--smoke] [--leads N] [--only NAME]``.

The full run uses the 4,000,000-lead company (about 10 million stage events); ``--smoke`` a
tiny one, to check that the benchmarks still run and agree (the test suite does this).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from benchmarks import (
    bench_attribution,
    bench_backends,
    bench_clv,
    bench_funnel,
    bench_import,
    bench_scale,
    bench_suite,
    bench_web,
)
from benchmarks.common import machine

BENCHMARKS = {
    "funnel": bench_funnel.run,
    "import": bench_import.run,
    "suite": bench_suite.run,
    "clv": bench_clv.run,
    "attribution": bench_attribution.run,
    "web": bench_web.run,
    "backends": bench_backends.run,
    "scale": bench_scale.run,
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the selected benchmarks and print their results as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--leads", type=int, default=None, help="leads in the company")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    args = parser.parse_args(argv)
    leads = args.leads or (2_000 if args.smoke else 4_000_000)
    repeats = 1 if args.smoke else 3

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results: dict[str, Any] = {"machine": machine(), "leads": leads}
    for name in args.only or sorted(BENCHMARKS):
        log(f"== {name}")
        results[name] = BENCHMARKS[name](leads, args.seed, repeats, log)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
