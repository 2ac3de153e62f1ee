"""``python -m diffbt.bench NAME [args]``: run one benchmark of this machine by name.

Names: metrics, runner, model, headline, forecast, suite (the last is `diffbt bench`). The
research benchmarks (Stocks scores, quality tables, baselines' facts, GPU run) live in the
``benchmarks/`` folder of a checkout: ``python -m benchmarks.stocks ...``.
"""

from __future__ import annotations

import importlib
import sys

NAMES = ("metrics", "runner", "model", "headline", "forecast", "suite")
RESEARCH = ("stocks", "quality", "facts", "gpu")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in RESEARCH:
        sys.stderr.write(f"{args[0]} is a research benchmark: from a checkout of diffbt run "
                         f"`python -m benchmarks.{args[0]}`\n")
        raise SystemExit(2)
    if not args or args[0] not in NAMES:
        sys.stderr.write(f"usage: python -m diffbt.bench {{{','.join(NAMES)}}} [args]\n")
        raise SystemExit(2)
    name, rest = args[0], args[1:]
    if name == "suite":
        from diffbt.cli import main as cli_main

        cli_main(["bench", *rest])
        return
    module = importlib.import_module(f"diffbt.bench.{name}")
    sys.argv = [f"python -m diffbt.bench {name}", *rest]
    entry = getattr(module, "main", None)
    if entry is None:  # scripts that only run under __main__
        import runpy

        runpy.run_module(f"diffbt.bench.{name}", run_name="__main__")
    else:
        result = entry(rest)
        if isinstance(result, int) and not isinstance(result, bool):
            raise SystemExit(result)


if __name__ == "__main__":
    main()
