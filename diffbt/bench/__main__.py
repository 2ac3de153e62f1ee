"""``python -m diffbt.bench NAME [args]``: run one benchmark by name.

Names: stocks, quality, facts, metrics, runner, model, headline, gpu, suite (the last is
`diffbt bench`).
"""

from __future__ import annotations

import importlib
import sys

NAMES = ("stocks", "quality", "facts", "metrics", "runner", "model", "headline", "gpu", "suite")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
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
