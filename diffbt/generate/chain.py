"""Window chaining: long paths (and forecasts) drawn window by window.

Each new window is conditioned on the last ``overlap`` bars of the previous one (context
inpainting), so level and volatility continue across the seam; the volatility state is
carried from window to window (`diffbt.generate.volstate`). Windows asked to carry a regime
or a jump count are checked with the fitted labeler and detector and redrawn up to
``max_tries`` rounds; `Chain` counts how many were accepted over all its windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from diffbt.data.features import RET
from diffbt.data.labels import JUMP_BUCKETS, REGIMES, TRENDS, VOLS, parse_regime
from diffbt.generate.codec import N_FEATURES, decode, encode, from_channels, to_channels
from diffbt.generate.config import GeneratorConfig
from diffbt.generate.state import GeneratorState
from diffbt.model.diffusion import GaussianDiffusion, prefix_mask
from diffbt.model.samplers import sample as run_sampler

__all__ = ["Chain", "DrawSpec", "regime_ids", "torch_generator"]


def torch_generator(rng: np.random.Generator | int | None, device: torch.device
                    ) -> torch.Generator:
    """A torch generator on `device` seeded from `rng` (a numpy generator or a seed)."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(2**63 - 1)))
    return gen


@dataclass(frozen=True)
class DrawSpec:
    """What windows are asked to carry, and how they are drawn.

    Attributes
    ----------
    regime_ids : ndarray, shape (n,)
        Full regime id per path (-1 = unconditioned).
    regime_schedule : sequence of ndarray, optional
        Regime ids per generated window (the last repeats); overrides `regime_ids` there.
    jumps : float, optional
        Jump events per window (None = unconditioned).
    guidance : float, optional
        Classifier-free guidance scale.
    sampler, sampler_steps
        See `MarketGenerator.sample`.
    """

    regime_ids: np.ndarray
    regime_schedule: Sequence[np.ndarray] | None = None
    jumps: float | None = None
    guidance: float | None = None
    sampler: str = "dpm"
    sampler_steps: int | None = 20

    @classmethod
    def unconditioned(cls, n: int, *, sampler: str = "dpm",
                      sampler_steps: int | None = 20) -> DrawSpec:
        return cls(np.full(n, -1), sampler=sampler, sampler_steps=sampler_steps)

    def ids(self, window: int) -> np.ndarray:
        """Regime ids of the `window`-th generated window."""
        if self.regime_schedule is None:
            return self.regime_ids
        return self.regime_schedule[min(window, len(self.regime_schedule) - 1)]


def regime_ids(state: GeneratorState, regime: str | None, n: int,
               rng: np.random.Generator) -> np.ndarray:
    """Full regime ids for a (possibly partial) regime name; -1 = unconditioned. The other
    half of a partial name is drawn with the training span's frequencies."""
    if regime is None:
        return np.full(n, -1)
    trend, vol = parse_regime(regime)
    freq = state.regime_freq.reshape(len(TRENDS), len(VOLS)) + 1e-9
    if trend is not None and vol is not None:
        return np.full(n, trend * len(VOLS) + vol)
    if trend is not None:
        p = freq[trend] / freq[trend].sum()
        return trend * len(VOLS) + rng.choice(len(VOLS), size=n, p=p)
    p = freq[:, vol] / freq[:, vol].sum()
    return rng.choice(len(TRENDS), size=n, p=p) * len(VOLS) + vol


class Chain:
    """Draws windows from a fitted network and chains them into paths.

    Parameters
    ----------
    diffusion : GaussianDiffusion
    state : GeneratorState
    config : GeneratorConfig
    device : torch.device
    """

    def __init__(self, diffusion: GaussianDiffusion, state: GeneratorState,
                 config: GeneratorConfig, device: torch.device) -> None:
        self.diffusion = diffusion
        self.state = state
        self.config = config
        self.device = device
        self.asked = 0  # windows checked against their labels
        self.accepted = 0  # ... and found to carry them

    @property
    def acceptance(self) -> float | None:
        """Share of label-checked windows that carried the labels asked for (None: none)."""
        return self.accepted / self.asked if self.asked else None

    def _cond(self, ids: np.ndarray, jumps: float | None, context: np.ndarray | None,
              rho: np.ndarray | None, generator: torch.Generator,
              context_jumps: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """Conditioning tensors; `context` in the network's scale, `rho` volatility ratios.

        Without `jumps`, each window's jump count is drawn from the jump bank given its
        state and its context's jump count `context_jumps` (`GeneratorConfig.draw_jumps`,
        with `generator`), or left null (NaN)."""
        n, dev = len(ids), self.device
        bank = self.state.jump_bank
        log_rho = None if rho is None else np.log(rho)
        if jumps is None and self.config.draw_jumps and bank is not None and rho is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator,
                                                          device=generator.device)))
            drawn = bank.draw(log_rho, rng, context_counts=context_jumps)
            counts = torch.as_tensor(drawn, dtype=torch.float32, device=dev)
        else:
            counts = torch.full((n,), math.nan if jumps is None else float(jumps), device=dev)
        cond = {"regime": torch.as_tensor(np.where(ids < 0, len(REGIMES), ids),
                                          dtype=torch.long, device=dev),
                "jumps": counts}
        if rho is not None:
            cond["state"] = torch.as_tensor(log_rho, dtype=torch.float32, device=dev)
        if context is not None:
            k = context.shape[1]
            full = np.zeros((n, self.config.window) + context.shape[2:], dtype=np.float64)
            full[:, :k] = context
            cond["context"] = torch.as_tensor(to_channels(full), dtype=torch.float32,
                                              device=dev)
            cond["context_mask"] = prefix_mask(n, self.config.window, k, device=dev)
        return cond

    def draw(self, ids: np.ndarray, spec: DrawSpec, *, context: np.ndarray | None,
             var: np.ndarray | None, generator: torch.Generator,
             hist: np.ndarray | None = None) -> np.ndarray:
        """One window per row of `ids`; `context` and the result are features (n, L, A, 5).

        `var` (n, A) is the volatility state before the window's first bar and `hist` (n,
        memory, A) the scaled returns before it (a mean filter's history; None: zeros).
        """
        n, st = len(ids), self.state
        shape = (n, st.n_assets * N_FEATURES, self.config.window)
        rho = None if var is None else st.vol.rho(var)
        per_bar = var is not None and st.vol.per_bar
        k = 0 if context is None else context.shape[1]
        ctx, after = None, var
        if per_bar and st.vol.mean is not None and hist is None:
            hist = np.zeros((n, st.vol.mean.memory, st.n_assets))
        if per_bar and context is not None:  # each context bar in its own units
            scaled, states, y = st.vol.filter_bars(context, var, hist)
            ctx, after = st.scaler.transform(scaled), states[:, -1]
            if hist is not None:  # the mean filter's history before the first new bar
                hist = np.concatenate([hist, y], axis=1)[:, -hist.shape[1]:]
        elif context is not None:
            ctx = encode(context, rho, st.scaler)
        ctx_jumps = None  # only where a bank with context counts will draw the label
        bank = st.jump_bank
        if (context is not None and spec.jumps is None and self.config.draw_jumps
                and bank is not None and bank.context_counts is not None):
            ctx_jumps = st.jumps.count_batch(context[..., RET])
        out = run_sampler(self.diffusion, shape, sampler=spec.sampler,
                          steps=None if spec.sampler == "ddpm" else spec.sampler_steps,
                          generator=generator,
                          cond=self._cond(ids, spec.jumps, ctx, rho, generator, ctx_jumps),
                          guidance=spec.guidance)
        z = from_channels(out.x, st.n_assets)
        shift = None if st.drift is None else st.drift.shift
        if not per_bar:
            return decode(z, rho, st.scaler, shift=shift, first=k)
        scale = None if st.scale is None else st.scale.scale
        scaled = decode(z[:, k:], None, st.scaler, shift=shift, scale=scale)
        new = st.vol.rebuild(scaled, after, hist)[0]
        return new if context is None else np.concatenate([context, new], axis=1)

    def matches(self, feats: np.ndarray, ids: np.ndarray, jumps: float | None) -> np.ndarray:
        """Which windows carry the labels asked for (by the fitted labeler and detector)."""
        ret = feats[..., RET]  # (n, window, A) log returns
        ok = np.ones(len(feats), dtype=bool)
        asked = ids >= 0
        if asked.any():
            trend, vol = self.state.regimes.label_windows(ret)
            ok &= ~asked | (trend * len(VOLS) + vol == ids)
        if jumps is not None:
            count = self.state.jumps.count_batch(ret)
            k = int(round(jumps))
            ok &= (count >= k) if k >= JUMP_BUCKETS else (count == k)
        return ok

    def windows(self, ids: np.ndarray, spec: DrawSpec, *, context: np.ndarray | None,
                var: np.ndarray | None, generator: torch.Generator,
                redraw_var: Callable[[np.ndarray], np.ndarray] | None = None,
                hist: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Windows carrying their labels, and the volatility states they started in.

        Windows whose own labels differ from those asked for are redrawn (up to
        ``config.max_tries`` rounds); for fresh paths (`redraw_var`) from a new state too.
        """
        z = self.draw(ids, spec, context=context, var=var, generator=generator, hist=hist)
        if self.config.max_tries <= 1 or (spec.jumps is None and not (ids >= 0).any()):
            return z, var
        ok = self.matches(z, ids, spec.jumps)
        for _ in range(self.config.max_tries - 1):
            if ok.all():
                break
            idx = np.flatnonzero(~ok)
            if redraw_var is not None and var is not None:
                var = var.copy()
                var[idx] = redraw_var(ids[idx])
            redo = self.draw(ids[idx], spec,
                             context=None if context is None else context[idx],
                             var=None if var is None else var[idx], generator=generator,
                             hist=None if hist is None else hist[idx])
            z[idx] = redo
            ok[idx] = self.matches(redo, ids[idx], spec.jumps)
        self.asked += len(ok)
        self.accepted += int(ok.sum())
        return z, var

    def extend(self, n: int, new_bars: int, spec: DrawSpec, *, context: np.ndarray | None,
               var: np.ndarray | None, generator: torch.Generator,
               rng: np.random.Generator | None = None, hist: np.ndarray | None = None
               ) -> np.ndarray:
        """`new_bars` feature bars (n, new_bars, A, 5) after `context` (n, k, A, 5).

        `var` is the volatility state (n, A) before the first context bar (or before the
        first new bar without context); ignored by models without a volatility state.
        `hist` (n, memory, A) are the scaled returns before that bar, for a mean filter
        (`VolState.history`; None: zeros). With `rng` and no context, label matching may
        also redraw a first window's state.
        """
        overlap = self.config.context_bars
        vol = self.state.vol
        if vol is None:
            var = None
        elif var is None:
            var = vol.neutral(n)
        if vol is None or vol.mean is None:
            hist = None
        elif hist is None:
            hist = np.zeros((n, vol.mean.memory, len(vol.var0)))

        def advance(var: np.ndarray, hist: np.ndarray | None, bars: np.ndarray,
                    generated: bool) -> tuple[np.ndarray, np.ndarray | None]:
            """The state (and the mean filter's history) after `bars` (n, k, A, 5)."""
            if hist is None:
                return vol.advance(var, bars[..., RET], generated=generated), None
            _, states, y = vol.filter_bars(bars, var, hist)
            return states[:, -1], np.concatenate([hist, y], axis=1)[:, -hist.shape[1]:]

        out: list[np.ndarray] = []
        produced, seg, tail = 0, 0, None
        if context is not None:
            tail = context[:, -overlap:]
            if vol is not None:
                var, hist = advance(var, hist, context[:, :-overlap], False)
        while produced < new_bars:
            redraw = None
            if seg == 0 and context is None and rng is not None and vol is not None:
                def redraw(r: np.ndarray) -> np.ndarray:
                    return vol.initial(r, rng)
            w, var = self.windows(spec.ids(seg), spec, context=tail, var=var,
                                  generator=generator, redraw_var=redraw, hist=hist)
            k = 0 if tail is None else tail.shape[1]
            out.append(w[:, k:])
            produced += w.shape[1] - k
            # to the next start; the first window's first bars are observed when given
            if vol is not None:
                var, hist = advance(var, hist, w[:, :w.shape[1] - overlap],
                                    seg > 0 or context is None)
            tail = w[:, -overlap:]
            seg += 1
        return np.concatenate(out, axis=1)[:, :new_bars]
