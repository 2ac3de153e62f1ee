"""Research benchmarks of diffbt, run from a checkout (not installed with the package).

Each module is a command, e.g.::

    python -m benchmarks.stocks --out DIR        # the Stocks table (TimeGAN / Diffusion-TS)
    python -m benchmarks.quality --out DIR       # the generator's quality tables
    python -m benchmarks.facts                   # the baselines' stylized facts
    python -m benchmarks.gpu --data DIR --out DIR  # CUDA checks and the big streaming run

The benchmarks that measure a user's machine ship with the package: ``diffbt bench`` and
``python -m diffbt.bench {metrics,runner,model,headline}``.
"""
