"""The Stocks benchmark (TimeGAN / Diffusion-TS Table 1): Google daily prices, window 24.

Run ``python -m benchmarks.stocks --out DIR [--data PATH] [--steps N] [--runs 5]
[--quick]``. It trains a diffusion model on the 3,662 min-max scaled windows, samples as many
with the default sampler, writes ``DIR/stocks_synthetic.npy`` ``(3662, 24, 6)`` in the
protocol's [0, 1] scaling (raw, not clipped) and ``DIR/stocks_scores.json``, and prints a
Markdown table. The reference data are not part of diffbt; see ``docs/stocks.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from benchmarks.scores import SCORES, memorisation, score_all
from diffbt.errors import DataError
from diffbt.model.denoiser import SinusoidalPosEmb
from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion
from diffbt.model.samplers import SPACINGS, sample
from diffbt.model.train import TrainConfig, train

__all__ = [
    "COLUMNS",
    "DEFAULT_DATA",
    "PUBLISHED",
    "MLPDenoiser",
    "WindowWhitener",
    "build_diffusion",
    "load_stocks",
    "run_stocks",
    "to_markdown",
]

log = logging.getLogger(__name__)

COLUMNS = ("Open", "High", "Low", "Close", "Adj_Close", "Volume")
WINDOW = 24
DEFAULT_DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "stocks_goog_daily"
                / "stock_data.csv")

# the sampler curve of ``--curve``: (sampler, steps); ddpm 1000 is the full ancestral sampler
CURVE = (("dpm", 5), ("dpm", 10), ("dpm", 20), ("dpm", 50), ("dpm", 100), ("dpm", 250),
         ("ddpm", 1000))
CURVE_SCORES = ("disc", "corr", "disc_strong")

# Diffusion-TS (ICLR 2024) Table 1, Stocks, window 24: (mean, 95 % half-width)
PUBLISHED = {
    "Diffusion-TS": {"disc": (0.067, 0.015), "pred": (0.036, 0.000), "corr": (0.004, 0.001)},
    "TimeGAN": {"disc": (0.102, 0.021), "pred": (0.038, 0.001), "corr": (0.063, 0.005)},
    "TimeVAE": {"disc": (0.145, 0.120), "pred": (0.039, 0.000), "corr": (0.095, 0.008)},
    "DiffTime": {"disc": (0.097, 0.016), "pred": (0.038, 0.001), "corr": (0.006, 0.002)},
}


# data ---------------------------------------------------------------------------------


def load_stocks(path: str | Path = DEFAULT_DATA, *, window: int = WINDOW) -> np.ndarray:
    """Min-max scaled stride-1 windows of the Stocks CSV, oldest first.

    Parameters
    ----------
    path : path-like
        ``stock_data.csv`` with columns ``Open,High,Low,Close,Adj_Close,Volume``.
    window : int
        Window length (the benchmark uses 24).

    Returns
    -------
    ndarray
        ``(rows - window + 1, window, 6)`` float64 in [0, 1]; window ``i`` starts at row ``i``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    DataError
        Missing columns, non-numeric or non-finite values, constant column, too few rows.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"reference data not found at {path}; pass --data")
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"missing columns {missing}", file=str(path))
    values = np.empty((len(df), len(COLUMNS)))
    for k, c in enumerate(COLUMNS):
        col = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(col))
        if len(bad):
            raise DataError("not a finite number", file=str(path), column=c, row=int(bad[0]))
        values[:, k] = col
    lo, hi = values.min(0), values.max(0)
    if (hi <= lo).any():
        raise DataError("constant column", file=str(path),
                        column=COLUMNS[int(np.argmax(hi <= lo))])
    if len(values) < window:
        raise DataError(f"{len(values)} rows < window {window}", file=str(path))
    scaled = (values - lo) / (hi - lo)
    win = np.lib.stride_tricks.sliding_window_view(scaled, window, axis=0)  # (N, 6, L)
    return np.ascontiguousarray(win.transpose(0, 2, 1))


# representation -----------------------------------------------------------------------


class WindowWhitener:
    """PCA whitening of flattened windows: the diffusion model works on ``z``.

    ``z = ((w - mu) V) / sqrt(max(lambda, floor))`` over the ``L * F`` flattened window, with
    ``V, lambda`` the eigenvectors and eigenvalues of the real windows' covariance. Every
    direction (the price level, the within-window trend, the day-to-day moves, the spreads
    between the price columns) gets unit variance, so the network's errors in the small
    directions are scaled back down on decoding.

    Parameters
    ----------
    windows : ndarray
        ``(N, L, F)`` real windows.
    floor : float
        Lower bound on the eigenvalues (``Close`` and ``Adj_Close`` coincide, so some are 0).
    """

    def __init__(self, windows: np.ndarray, *, floor: float = 1e-8) -> None:
        w = np.asarray(windows, dtype=np.float64)
        self.shape = w.shape[1:]
        flat = w.reshape(len(w), -1)
        self.mean = flat.mean(0)
        lam, vec = np.linalg.eigh(np.cov(flat, rowvar=False))
        self.vectors = vec
        self.scale = np.sqrt(np.maximum(lam, floor))

    def encode(self, windows: np.ndarray) -> np.ndarray:
        """``(N, L, F)`` windows -> ``(N, L * F)`` whitened coordinates."""
        flat = np.asarray(windows, dtype=np.float64).reshape(len(windows), -1)
        return ((flat - self.mean) @ self.vectors) / self.scale

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: ``(N, L * F)`` -> ``(N, L, F)``."""
        flat = (np.asarray(z, dtype=np.float64) * self.scale) @ self.vectors.T + self.mean
        return flat.reshape(len(z), *self.shape)


# model --------------------------------------------------------------------------------


class _MLPBlock(nn.Module):
    def __init__(self, dim: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.film = nn.Linear(emb_dim, 2 * dim)
        self.fc2 = nn.Linear(dim, dim)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        z = self.fc1(nn.functional.silu(self.norm(h)))
        scale, shift = self.film(emb).chunk(2, dim=-1)
        z = nn.functional.silu(z * (1 + scale) + shift)
        return h + self.fc2(z)


class MLPDenoiser(nn.Module):
    """Residual MLP over the flattened window ``C * L`` with FiLM time conditioning.

    ``forward(x, t, cond)`` with ``x`` ``(B, C, L)``; ``cond`` is ignored (unconditional).
    """

    def __init__(self, channels: int, window: int, *, hidden: int = 256,
                 n_blocks: int = 4) -> None:
        super().__init__()
        self.channels, self.window = channels, window
        emb_dim = hidden // 2
        self.time_emb = nn.Sequential(SinusoidalPosEmb(128), nn.Linear(128, emb_dim),
                                      nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.inp = nn.Linear(channels * window, hidden)
        self.blocks = nn.ModuleList(_MLPBlock(hidden, emb_dim) for _ in range(n_blocks))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, channels * window)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor, t: Tensor, cond: dict[str, Tensor] | None = None) -> Tensor:
        if x.shape[1:] != (self.channels, self.window):
            raise ValueError(f"expected (B, {self.channels}, {self.window}), "
                             f"got {tuple(x.shape)}")
        emb = self.time_emb(t)
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = block(h, emb)
        return self.out(nn.functional.silu(self.out_norm(h))).view_as(x)


ARCHS = ("mlp", "conv")


def build_diffusion(arch: str = "mlp", *, channels: int = 6, window: int = WINDOW,
                    hidden: int | None = None, n_blocks: int | None = None,
                    target: str = "v") -> GaussianDiffusion:
    """The benchmark's diffusion model: ``"mlp"`` (:class:`MLPDenoiser`) or ``"conv"``
    (diffbt's default :class:`~diffbt.model.denoiser.Denoiser`), cosine schedule, T = 1000.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; options: {', '.join(ARCHS)}")
    if arch == "conv":
        cfg = DiffusionConfig(channels=channels, window=window, target=target, context=False,
                              hidden=hidden or 96, n_blocks=n_blocks or 4)
        return GaussianDiffusion(cfg)
    cfg = DiffusionConfig(channels=channels, window=window, target=target, context=False,
                          hidden=hidden or 256, n_blocks=n_blocks or 4)
    return GaussianDiffusion(cfg, model=MLPDenoiser(channels, window, hidden=cfg.hidden,
                                                    n_blocks=cfg.n_blocks))


# benchmark ----------------------------------------------------------------------------


def _reference_rows(real: np.ndarray, *, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"real data": real.copy(),
            "real + N(0, 0.02)": real + rng.normal(0.0, 0.02, real.shape)}


def run_stocks(
    data: str | Path = DEFAULT_DATA,
    *,
    out: str | Path | None = None,
    arch: str = "conv",
    whiten: bool = False,
    steps: int = 3000,
    batch_size: int = 128,
    lr: float = 1e-3,
    sampler: str = "dpm",
    sampler_steps: int | None = None,
    spacing: str = "time",
    extra_steps: tuple[int, ...] = (),
    curve: bool = False,
    runs: int = 5,
    quick: bool = False,
    references: bool = True,
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train, sample and score the Stocks benchmark; optionally write the results to ``out``.

    Parameters
    ----------
    data : path-like
        The Stocks CSV.
    out : path-like, optional
        Folder for ``stocks_synthetic.npy`` and ``stocks_scores.json``.
    arch, steps, batch_size, lr
        Model (see :func:`build_diffusion`) and training length.
    whiten : bool
        Train on :class:`WindowWhitener` coordinates instead of the windows scaled to
        [-1, 1] (``"mlp"`` only).
    sampler, sampler_steps
        Sampler name and steps (None: the sampler's default, 20 for ``dpm``).
    spacing : str
        Step grid of the dpm/ddim samplers (``diffbt.model.samplers.timestep_grid``).
    extra_steps : tuple of int
        Also sample and score with these step counts (rows ``diffbt (<sampler>, <n> steps)``;
        not written to the ``.npy``).
    curve : bool
        Also score the sampler curve: ``CURVE`` settings (DPM-Solver++ at 5 to 250 steps and
        the full ancestral DDPM), each with ``CURVE_SCORES`` (report key ``"curve"``).
    runs : int
        Runs per score.
    quick : bool
        Smoke test: 200 training steps, 2 runs, 1/20 of the scoring iterations.
    references : bool
        Also score real data against itself and real data plus N(0, 0.02) noise.
    seed : int
        Seeds training, sampling and scoring.
    workers : int
        Threads for the scores (over runs).
    progress : callable, optional
        Receives a line of text at each stage.

    Returns
    -------
    dict
        What ``stocks_scores.json`` holds.
    """
    def note(msg: str) -> None:
        log.info(msg)
        if progress is not None:
            progress(msg)

    real = load_stocks(data)
    if quick:
        steps, runs = min(steps, 200), min(runs, 2)
    iters = {"iterations": 100, "pred_iterations": 250, "strong_iterations": 500} if quick \
        else {"iterations": 2000, "pred_iterations": 5000, "strong_iterations": 10_000}

    diffusion = build_diffusion(arch, channels=real.shape[2], window=real.shape[1])
    n_params = sum(p.numel() for p in diffusion.model.parameters())
    tcfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, warmup=min(200, steps // 10),
                       ema_decay=0.999, context_prob=0.0, val_every=0, ckpt_every=0, seed=seed)
    if whiten and arch != "mlp":
        raise ValueError("whiten needs arch='mlp' (the whitened window has no time axis)")
    whitener = WindowWhitener(real) if whiten else None
    if whitener is not None:
        z = whitener.encode(real).reshape(len(real), real.shape[2], real.shape[1])
    else:
        z = real.transpose(0, 2, 1) * 2.0 - 1.0
    x = torch.as_tensor(z, dtype=torch.float32)
    note(f"training {arch} ({n_params:,} parameters) for {steps} steps")
    t0 = time.perf_counter()
    last = [t0]

    def tick(step: int, info: dict[str, float]) -> None:
        if time.perf_counter() - last[0] > 60 or step == steps:
            last[0] = time.perf_counter()
            note(f"step {step}/{steps} loss {info['loss']:.4f} "
                 f"({last[0] - t0:.0f} s)")

    result = train(diffusion, x, config=tcfg, progress=tick)
    train_s = time.perf_counter() - t0

    note(f"sampling {len(real)} windows ({sampler}, steps={sampler_steps or 'default'})")
    t0 = time.perf_counter()
    g = torch.Generator(device=result.ema.device).manual_seed(seed + 1)
    grid = {} if sampler == "ddpm" else {"spacing": spacing}
    samp = sample(result.ema, tuple(x.shape), sampler=sampler, steps=sampler_steps,
                  generator=g, **grid)
    sample_s = time.perf_counter() - t0

    def windows(t: Tensor) -> np.ndarray:
        out_x = t.double().cpu().numpy()
        if whitener is not None:
            return whitener.decode(out_x.reshape(len(out_x), -1))
        return ((out_x + 1.0) / 2.0).transpose(0, 2, 1).copy()

    synth = windows(samp.x)
    rows = {"diffbt": synth}
    extra_seconds = {}
    for n in extra_steps:
        t0 = time.perf_counter()
        g = torch.Generator(device=result.ema.device).manual_seed(seed + 1)
        extra = sample(result.ema, tuple(x.shape), sampler=sampler, steps=n, generator=g,
                       **grid)
        extra_seconds[n] = time.perf_counter() - t0
        rows[f"diffbt ({sampler}, {n} steps)"] = windows(extra.x)
    curve_rows = []
    for name, n in CURVE if curve else ():
        note(f"curve: sampling with {name} {n} steps")
        t0 = time.perf_counter()
        g = torch.Generator(device=result.ema.device).manual_seed(seed + 1)
        out_c = sample(result.ema, tuple(x.shape), sampler=name, steps=n, generator=g,
                       **({} if name == "ddpm" else {"spacing": spacing}))
        seconds = time.perf_counter() - t0
        fake = windows(out_c.x)
        note(f"curve: scoring {name} {n} steps ({', '.join(CURVE_SCORES)})")
        curve_rows.append({
            "sampler": name, "steps": n, "denoiser_calls": out_c.n_calls,
            "sample_seconds": seconds,
            "std_ratio": float(fake.std() / real.std()),
            "scores": score_all(real, fake, runs=runs, seed=seed + 100, workers=workers,
                                which=CURVE_SCORES, **iters),
            "memorisation": memorisation(real, fake, window=real.shape[1]),
        })
    if references:
        rows.update(_reference_rows(real, seed=seed + 2))
    scores: dict[str, dict] = {}
    score_s: dict[str, float] = {}
    for name, fake in rows.items():
        note(f"scoring {name} ({runs} runs)")
        t0 = time.perf_counter()
        scores[name] = score_all(real, fake, runs=runs, seed=seed + 100, workers=workers,
                                 **iters)
        score_s[name] = time.perf_counter() - t0
    mems = {name: memorisation(real, fake, window=real.shape[1])
            for name, fake in rows.items() if name != "real data"}

    report = {
        "benchmark": "stocks",
        "data": str(Path(data).resolve()),
        "windows": list(real.shape),
        "scaling": "min-max per column over the whole file, [0, 1]; synthetic not clipped",
        "model": {"arch": arch, "whiten": whiten, "parameters": n_params,
                  "diffusion": diffusion.config.to_dict(),
                  "train": {k: getattr(tcfg, k) for k in tcfg.__dataclass_fields__}},
        "train_seconds": train_s,
        "final_loss": float(np.mean(result.train_losses[-100:])),
        "sampler": sampler,
        "spacing": spacing,
        "sampler_steps": sampler_steps if sampler_steps is not None else
        (20 if sampler == "dpm" else 50 if sampler == "ddim" else diffusion.num_timesteps),
        "sample_seconds": sample_s,
        "extra_sample_seconds": extra_seconds,
        "denoiser_calls": samp.n_calls,
        "synthetic_range": [float(synth.min()), float(synth.max())],
        "runs": runs,
        "quick": quick,
        "scoring": {"discriminative": f"TF1 GRU (hidden 3), {iters['iterations']} iterations",
                    "predictive": f"TF1 GRU (hidden 3), {iters['pred_iterations']} iterations",
                    "disc_strong": f"{iters['strong_iterations']} iterations",
                    "disc_strong_diff": f"{iters['strong_iterations']} iterations on first "
                                        "differences / real std", "seed": seed + 100},
        "scores": scores,
        "score_seconds": score_s,
        "memorisation": mems["diffbt"],
        "curve": curve_rows,
        "memorisation_rows": mems,
        "published": {k: {s: list(v) for s, v in d.items()} for k, d in PUBLISHED.items()},
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "stocks_synthetic.npy", synth)
        (out / "stocks_scores.json").write_text(json.dumps(report, indent=2))
        note(f"wrote {out / 'stocks_synthetic.npy'} and {out / 'stocks_scores.json'}")
    return report


def _fmt(s: dict | None) -> str:
    if s is None:
        return "—"
    hw = s.get("half_width")
    return f"{s['mean']:.3f} ± {hw:.3f}" if hw is not None and math.isfinite(hw) \
        else f"{s['mean']:.3f}"


def to_markdown(report: dict) -> str:
    """Scores (mean ± 95 % t half-width) beside the published ones, and memorisation."""
    head = ("| model | disc | pred | corr | strong disc | strong diff-disc |\n"
            "|---|---|---|---|---|---|\n")
    lines = []
    for name, sc in report["scores"].items():
        cells = [_fmt(sc.get(k)) for k in SCORES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, d in PUBLISHED.items():
        cells = [f"{d[k][0]:.3f} ± {d[k][1]:.3f}" for k in ("disc", "pred", "corr")]
        lines.append(f"| {name} (published) | " + " | ".join(cells) + " | — | — |")
    m = report["memorisation"]
    mem = (f"\nDistance to closest record: real (non-overlapping) median {m['real_median']:.4f},"
           f" 5th pct {m['real_p05']:.4f}; synthetic median {m['synthetic_median']:.4f}, "
           f"5th pct {m['synthetic_p05']:.4f}; synthetic closer than the real 5th pct: "
           f"{100 * m['frac_closer_than_real_p05']:.1f} %\n")
    text = head + "\n".join(lines) + "\n" + mem
    if report.get("curve"):
        text += ("\n| sampler | calls per window | seconds | disc | corr | strong disc | "
                 "std / real | closer than real 5th pct |\n|---|--:|--:|---|---|---|--:|--:|\n")
        for c in report["curve"]:
            cells = [_fmt(c["scores"].get(k)) for k in CURVE_SCORES]
            text += (f"| {c['sampler']} {c['steps']} | {c['denoiser_calls']} | "
                     f"{c['sample_seconds']:.1f} | " + " | ".join(cells) +
                     f" | {c['std_ratio']:.3f} | "
                     f"{100 * c['memorisation']['frac_closer_than_real_p05']:.1f} % |\n")
    return text


# command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stocks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="stock_data.csv")
    p.add_argument("--arch", default="conv", choices=ARCHS,
                   help="conv: the product's Denoiser (default); mlp: the residual MLP")
    p.add_argument("--whiten", action="store_true", help="train on PCA-whitened windows")
    p.add_argument("--steps", type=int, default=3000,
                   help="training steps (the product's default 3000; the MLP was run at 8000)")
    p.add_argument("--batch-size", type=int, default=128,
                   help="training batch (the product's default 128; the MLP was run at 256)")
    p.add_argument("--sampler", default="dpm")
    p.add_argument("--sampler-steps", type=int, default=None)
    p.add_argument("--spacing", default="time", choices=SPACINGS,
                   help="step grid of dpm/ddim (time: the product default)")
    p.add_argument("--extra-steps", type=int, nargs="*", default=[],
                   help="also score samples drawn with these step counts")
    p.add_argument("--curve", action="store_true",
                   help="also score the sampler curve (dpm 5-250 steps, ddpm 1000) with "
                        "disc, corr and the strong disc")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (more than the free cores makes training far slower)")
    p.add_argument("--workers", type=int, default=2, help="score threads (over runs)")
    p.add_argument("--no-references", action="store_true",
                   help="skip the real-vs-real and noise reference rows")
    p.add_argument("--quick", action="store_true", help="smoke test: tiny settings")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        report = run_stocks(a.data, out=a.out, arch=a.arch, whiten=a.whiten, steps=a.steps,
                            batch_size=a.batch_size,
                            sampler=a.sampler,
                            sampler_steps=a.sampler_steps, spacing=a.spacing,
                            extra_steps=tuple(a.extra_steps), curve=a.curve,
                            runs=a.runs, quick=a.quick,
                            references=not a.no_references, seed=a.seed,
                            workers=a.workers)
    except (FileNotFoundError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
