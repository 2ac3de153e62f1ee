"""Denoiser network: a small 1-D residual conv net over channel-first windows.

All assets and features are channels of one tensor ``(batch, assets*features, window)``, and
every convolution mixes all channels, so the net models the assets jointly. Time and label
conditions enter through FiLM (per-channel scale and shift) in each residual block; a context
prefix enters as extra input channels (known values times mask, and the mask). With
``stride > 1`` the residual blocks run on a time-downsampled stream (a strided conv in, a
transposed conv out, plus a full-resolution skip), which is what makes the default net cheap
enough to train on a 2-core CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Denoiser"]

DILATIONS = (1, 2, 4, 8)


# helpers ------------------------------------------------------------------------------


def _groups(channels: int, wanted: int = 8) -> int:
    """Largest divisor of ``channels`` that is <= ``wanted``."""
    for g in range(min(wanted, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


class SinusoidalPosEmb(nn.Module):
    """Sinusoidal embedding of the (integer) diffusion step."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        half = self.dim // 2
        scale = math.log(10000) / max(half - 1, 1)
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)
        args = t.float()[:, None] * freqs[None, :]
        return torch.cat((args.sin(), args.cos()), dim=-1)


# blocks -------------------------------------------------------------------------------


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> dilated conv -> FiLM -> SiLU -> dropout -> conv, plus skip."""

    def __init__(self, dim: int, emb_dim: int, *, dilation: int, dropout: float) -> None:
        super().__init__()
        g = _groups(dim)
        self.norm1 = nn.GroupNorm(g, dim)
        self.conv1 = nn.Conv1d(dim, dim, 3, padding=dilation, dilation=dilation)
        self.norm2 = nn.GroupNorm(g, dim)
        self.film = nn.Linear(emb_dim, 2 * dim)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(dim, dim, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return x + h


class TimeAttention(nn.Module):
    """Multi-head self-attention over the time axis, pre-norm, residual."""

    def __init__(self, dim: int, *, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(dim), dim)
        self.attn = nn.MultiheadAttention(dim, heads if dim % heads == 0 else 1, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(x).transpose(1, 2)  # (B, L, D)
        h, _ = self.attn(h, h, h, need_weights=False)
        return x + h.transpose(1, 2)


# network ------------------------------------------------------------------------------


class Denoiser(nn.Module):
    """Predicts the diffusion target (eps, x0 or v) for a noisy window.

    Parameters
    ----------
    channels : int
        Data channels C = assets * features.
    hidden : int
        Width of the residual stream.
    n_blocks : int
        Residual blocks; dilations cycle through 1, 2, 4, 8.
    dropout : float
        Dropout inside the blocks.
    attention : bool
        Add one self-attention block over time in the middle.
    n_regimes : int
        Number of regime labels; 0 disables the label. Id ``n_regimes`` is the null label.
    jumps : bool
        Condition on a jump scalar per window (NaN = null).
    context : bool
        Accept a known prefix: input gets ``C`` value channels and one mask channel more.
    stride : int
        Time downsampling of the residual stream (1 = full resolution). The blocks run on
        ``L / stride`` steps (about ``stride`` times cheaper); a full-resolution skip around
        them keeps per-bar detail. ``L`` must be divisible by ``stride``.
    n_state : int
        Size of a continuous state vector ``cond["state"]`` ``(B, n_state)`` (0 = none);
        missing means null (a learned embedding).
    """

    def __init__(
        self,
        channels: int,
        *,
        hidden: int = 96,
        n_blocks: int = 4,
        dropout: float = 0.0,
        attention: bool = True,
        n_regimes: int = 0,
        jumps: bool = False,
        context: bool = True,
        stride: int = 1,
        n_state: int = 0,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.n_regimes = n_regimes
        self.use_jumps = jumps
        self.use_context = context
        self.stride = stride
        emb_dim = 2 * hidden

        self.time_emb = nn.Sequential(
            SinusoidalPosEmb(hidden), nn.Linear(hidden, emb_dim), nn.SiLU(),
            nn.Linear(emb_dim, emb_dim),
        )
        self.regime_emb = nn.Embedding(n_regimes + 1, emb_dim) if n_regimes > 0 else None
        if jumps:
            self.jump_emb = nn.Sequential(nn.Linear(1, emb_dim), nn.SiLU(),
                                          nn.Linear(emb_dim, emb_dim))
            self.jump_null = nn.Parameter(torch.zeros(emb_dim))
        else:
            self.jump_emb = None
            self.register_parameter("jump_null", None)
        if n_state > 0:
            self.state_emb = nn.Sequential(nn.Linear(n_state, emb_dim), nn.SiLU(),
                                           nn.Linear(emb_dim, emb_dim))
            self.state_null = nn.Parameter(torch.zeros(emb_dim))
        else:
            self.state_emb = None
            self.register_parameter("state_null", None)

        in_ch = 2 * channels + 1 if context else channels
        self.inp = nn.Conv1d(in_ch, hidden, 3, padding=1)
        blocks = [
            ResBlock(hidden, emb_dim, dilation=DILATIONS[i % len(DILATIONS)], dropout=dropout)
            for i in range(n_blocks)
        ]
        if stride > 1:
            self.pool = nn.Conv1d(hidden, hidden, stride, stride=stride)
            self.unpool = nn.ConvTranspose1d(hidden, hidden, stride, stride=stride)
        half = n_blocks // 2
        self.blocks_in = nn.ModuleList(blocks[:half])
        self.mid = TimeAttention(hidden) if attention else nn.Identity()
        self.blocks_out = nn.ModuleList(blocks[half:])
        self.out_norm = nn.GroupNorm(_groups(hidden), hidden)
        self.out = nn.Conv1d(hidden, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, t: Tensor, cond: dict[str, Tensor] | None) -> Tensor:
        """Sum of time and label embeddings, shape ``(B, 2*hidden)``."""
        emb = self.time_emb(t)
        cond = cond or {}
        if self.regime_emb is not None:
            regime = cond.get("regime")
            if regime is None:
                regime = torch.full_like(t, self.n_regimes, dtype=torch.long)
            emb = emb + self.regime_emb(regime.long())
        if self.jump_emb is not None:
            jumps = cond.get("jumps")
            if jumps is None:
                emb = emb + self.jump_null
            else:
                jumps = jumps.to(emb.dtype)
                null = torch.isnan(jumps)[:, None]
                j = self.jump_emb(torch.nan_to_num(jumps, nan=0.0)[:, None])
                emb = emb + torch.where(null, self.jump_null.expand_as(j), j)
        if self.state_emb is not None:
            state = cond.get("state")
            emb = emb + (self.state_null if state is None
                         else self.state_emb(state.to(emb.dtype)))
        return emb

    def forward(self, x: Tensor, t: Tensor, cond: dict[str, Tensor] | None = None) -> Tensor:
        """Network output for noisy ``x`` ``(B, C, L)`` at steps ``t`` ``(B,)``.

        ``cond`` may hold ``regime`` (long ``(B,)``), ``jumps`` (float ``(B,)``, NaN = null),
        ``state`` (float ``(B, n_state)``),
        ``context`` (``(B, C, L)``) and ``context_mask`` (``(B, L)``, True where known).
        Missing entries mean null / nothing known. Returns ``(B, C, L)``.
        """
        if self.use_context:
            cond = cond or {}
            mask = cond.get("context_mask")
            if mask is None:
                known = torch.zeros_like(x)
                m = torch.zeros_like(x[:, :1])
            else:
                m = mask.to(x.dtype)[:, None, :]
                known = cond["context"].to(x.dtype) * m
            x = torch.cat((x, known, m), dim=1)
        if x.shape[-1] % self.stride:
            raise ValueError(f"window length {x.shape[-1]} is not divisible by stride "
                             f"{self.stride}")
        emb = self.embed(t, cond)
        h0 = self.inp(x)
        h = self.pool(h0) if self.stride > 1 else h0
        for block in self.blocks_in:
            h = block(h, emb)
        h = self.mid(h)
        for block in self.blocks_out:
            h = block(h, emb)
        if self.stride > 1:
            h = self.unpool(h) + h0
        return self.out(F.silu(self.out_norm(h)))
