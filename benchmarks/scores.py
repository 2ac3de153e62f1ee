"""TimeGAN / Diffusion-TS scores for synthetic windows, and a memorisation check.

Windows are ``(N, L, F)`` float arrays (time on axis 1), as in the published protocol.

- discriminative: a post-hoc 1-layer GRU classifier (hidden ``F // 2``) tells real from
  synthetic; score ``|test accuracy - 0.5|`` (TimeGAN ``discriminative_metrics.py``).
- predictive: train-on-synthetic, test-on-real one-step-ahead GRU regression of the last
  feature from the others; score = MAE on all real windows (``predictive_metrics.py``).
- correlational: lag-0 cross-correlation difference (Diffusion-TS ``cross_correlation.py``).

The GRU is TensorFlow 1's ``GRUCell`` (reset gate applied to ``h`` *before* the hidden
matmul, gate bias initialised to 1, Glorot-uniform kernels) with TF1's Adam, written as numba
kernels with hand-written backpropagation through time (float64): on CPU a tiny GRU (hidden
3) is dominated by framework overhead, and these kernels are ~10x faster than a batched
autograd version. The tests check loss and gradients against a torch autograd twin.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from numba import njit

__all__ = [
    "SCORES",
    "correlational_score",
    "discriminative_score",
    "memorisation",
    "predictive_score",
    "score_all",
    "summarise",
]

Progress = Callable[[str], None]


# helpers ------------------------------------------------------------------------------


def _windows(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"{name} must be (N, L, F), got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 windows of length >= 2, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _pair(real, fake) -> tuple[np.ndarray, np.ndarray]:
    r, f = _windows(real, "real"), _windows(fake, "fake")
    if r.shape[1:] != f.shape[1:]:
        raise ValueError(f"real windows {r.shape[1:]} and fake windows {f.shape[1:]} differ")
    return r, f


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def gru_init(seed: int, n_in: int, hidden: int, n_out: int) -> np.ndarray:
    """Flat parameter vector of a TF1 ``GRUCell`` + dense head, initialised as in TF1.

    Layout: ``W_g (n_in + H, 2H)``, ``b_g (2H)`` = 1, ``W_c (n_in + H, H)``, ``b_c (H)`` = 0,
    ``W_o (H, n_out)``, ``b_o (n_out)`` = 0; kernels Glorot-uniform (see :func:`gru_unpack`).
    """
    rng = np.random.default_rng(seed)
    k = n_in + hidden
    return np.concatenate([
        _glorot(rng, k, 2 * hidden).ravel(), np.ones(2 * hidden),
        _glorot(rng, k, hidden).ravel(), np.zeros(hidden),
        _glorot(rng, hidden, n_out).ravel(), np.zeros(n_out),
    ])


@njit(cache=True, nogil=True)
def gru_unpack(theta, n_in, hidden, n_out):
    """Views ``(W_g, b_g, W_c, b_c, W_o, b_o)`` into a flat parameter (or gradient) vector."""
    k = n_in + hidden
    o = 0
    wg = theta[o:o + k * 2 * hidden].reshape(k, 2 * hidden)
    o += k * 2 * hidden
    bg = theta[o:o + 2 * hidden]
    o += 2 * hidden
    wc = theta[o:o + k * hidden].reshape(k, hidden)
    o += k * hidden
    bc = theta[o:o + hidden]
    o += hidden
    wo = theta[o:o + hidden * n_out].reshape(hidden, n_out)
    o += hidden * n_out
    bo = theta[o:o + n_out]
    return wg, bg, wc, bc, wo, bo


@njit(cache=True, nogil=True)
def _gru_forward_nb(theta, x, hidden, n_out, hs, rs, us, cs):
    """TF1 GRU over ``x (B, L, F)``; fills ``hs (B, L+1, H)`` (``hs[:, 0] = 0``), gates."""
    batch, length, n_in = x.shape
    wg, bg, wc, bc, _, _ = gru_unpack(theta, n_in, hidden, n_out)
    a = np.empty(2 * hidden)
    for b in range(batch):
        for j in range(hidden):
            hs[b, 0, j] = 0.0
        for t in range(length):
            for j in range(2 * hidden):
                s = bg[j]
                for f in range(n_in):
                    s += x[b, t, f] * wg[f, j]
                for i in range(hidden):
                    s += hs[b, t, i] * wg[n_in + i, j]
                a[j] = 1.0 / (1.0 + math.exp(-s))
            for j in range(hidden):
                rs[b, t, j] = a[j]
                us[b, t, j] = a[hidden + j]
            for j in range(hidden):
                s = bc[j]
                for f in range(n_in):
                    s += x[b, t, f] * wc[f, j]
                for i in range(hidden):
                    s += rs[b, t, i] * hs[b, t, i] * wc[n_in + i, j]
                cs[b, t, j] = math.tanh(s)
            for j in range(hidden):
                u = us[b, t, j]
                hs[b, t + 1, j] = u * hs[b, t, j] + (1.0 - u) * cs[b, t, j]


@njit(cache=True, nogil=True)
def _gru_backward_nb(theta, x, hs, rs, us, cs, dh_out, grad):
    """Adds to ``grad`` the gradient given ``dh_out (B, L, H)`` = dLoss/d``hs[:, 1:]``."""
    batch, length, n_in = x.shape
    hidden = hs.shape[2]
    n_out = (theta.shape[0] - (n_in + hidden) * 3 * hidden - 3 * hidden) // (hidden + 1)
    wg, _, wc, _, _, _ = gru_unpack(theta, n_in, hidden, n_out)
    gwg, gbg, gwc, gbc, _, _ = gru_unpack(grad, n_in, hidden, n_out)
    dh = np.empty(hidden)
    dprev = np.empty(hidden)
    dac = np.empty(hidden)
    dag = np.empty(2 * hidden)
    for b in range(batch):
        for j in range(hidden):
            dh[j] = 0.0
        for t in range(length - 1, -1, -1):
            for j in range(hidden):
                dh[j] += dh_out[b, t, j]
            for j in range(hidden):
                u, c, hp = us[b, t, j], cs[b, t, j], hs[b, t, j]
                dprev[j] = dh[j] * u
                dag[hidden + j] = dh[j] * (hp - c) * u * (1.0 - u)
                dac[j] = dh[j] * (1.0 - u) * (1.0 - c * c)
            for j in range(hidden):
                gbc[j] += dac[j]
                for f in range(n_in):
                    gwc[f, j] += x[b, t, f] * dac[j]
                for i in range(hidden):
                    gwc[n_in + i, j] += rs[b, t, i] * hs[b, t, i] * dac[j]
            for i in range(hidden):
                drh = 0.0
                for j in range(hidden):
                    drh += dac[j] * wc[n_in + i, j]
                r = rs[b, t, i]
                dprev[i] += drh * r
                dag[i] = drh * hs[b, t, i] * r * (1.0 - r)
            for j in range(2 * hidden):
                gbg[j] += dag[j]
                for f in range(n_in):
                    gwg[f, j] += x[b, t, f] * dag[j]
                for i in range(hidden):
                    gwg[n_in + i, j] += hs[b, t, i] * dag[j]
            for i in range(hidden):
                s = dprev[i]
                for j in range(2 * hidden):
                    s += dag[j] * wg[n_in + i, j]
                dh[i] = s


@njit(cache=True, nogil=True)
def _adam_nb(theta, grad, m, v, step, lr):
    """TF1 ``AdamOptimizer`` update (epsilon-hat form), ``step`` counted from 1."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    lr_t = lr * math.sqrt(1.0 - b2 ** step) / (1.0 - b1 ** step)
    for i in range(theta.shape[0]):
        g = grad[i]
        m[i] = b1 * m[i] + (1.0 - b1) * g
        v[i] = b2 * v[i] + (1.0 - b2) * g * g
        theta[i] -= lr_t * m[i] / (math.sqrt(v[i]) + eps)


@njit(cache=True, nogil=True)
def _last_logits_nb(theta, x, hidden):
    """Logits ``(B,)`` of the head on the last hidden state."""
    batch, length, n_in = x.shape
    hs = np.empty((batch, length + 1, hidden))
    rs = np.empty((batch, length, hidden))
    us = np.empty((batch, length, hidden))
    cs = np.empty((batch, length, hidden))
    _gru_forward_nb(theta, x, hidden, 1, hs, rs, us, cs)
    _, _, _, _, wo, bo = gru_unpack(theta, n_in, hidden, 1)
    out = np.empty(batch)
    for b in range(batch):
        s = bo[0]
        for j in range(hidden):
            s += hs[b, length, j] * wo[j, 0]
        out[b] = s
    return out


@njit(cache=True, nogil=True)
def _step_preds_nb(theta, x, hidden):
    """Sigmoid outputs ``(B, L)`` of the head on every hidden state."""
    batch, length, n_in = x.shape
    hs = np.empty((batch, length + 1, hidden))
    rs = np.empty((batch, length, hidden))
    us = np.empty((batch, length, hidden))
    cs = np.empty((batch, length, hidden))
    _gru_forward_nb(theta, x, hidden, 1, hs, rs, us, cs)
    _, _, _, _, wo, bo = gru_unpack(theta, n_in, hidden, 1)
    out = np.empty((batch, length))
    for b in range(batch):
        for t in range(length):
            s = bo[0]
            for j in range(hidden):
                s += hs[b, t + 1, j] * wo[j, 0]
            out[b, t] = 1.0 / (1.0 + math.exp(-s))
    return out


@njit(cache=True, nogil=True)
def _disc_loss_grad_nb(theta, x, hidden, label, grad):
    """Mean BCE of the last-state logits against ``label``; adds its gradient to ``grad``."""
    batch, length, n_in = x.shape
    hs = np.empty((batch, length + 1, hidden))
    rs = np.empty((batch, length, hidden))
    us = np.empty((batch, length, hidden))
    cs = np.empty((batch, length, hidden))
    _gru_forward_nb(theta, x, hidden, 1, hs, rs, us, cs)
    _, _, _, _, wo, bo = gru_unpack(theta, n_in, hidden, 1)
    _, _, _, _, gwo, gbo = gru_unpack(grad, n_in, hidden, 1)
    dh_out = np.zeros((batch, length, hidden))
    loss = 0.0
    for b in range(batch):
        z = bo[0]
        for j in range(hidden):
            z += hs[b, length, j] * wo[j, 0]
        zs = -z if label == 1.0 else z  # BCE = softplus(-z) for 1, softplus(z) for 0
        loss += max(zs, 0.0) + math.log1p(math.exp(-abs(zs)))
        dz = (1.0 / (1.0 + math.exp(-z)) - label) / batch
        gbo[0] += dz
        for j in range(hidden):
            gwo[j, 0] += hs[b, length, j] * dz
            dh_out[b, length - 1, j] = dz * wo[j, 0]
    _gru_backward_nb(theta, x, hs, rs, us, cs, dh_out, grad)
    return loss / batch


@njit(cache=True, nogil=True)
def _pred_loss_grad_nb(theta, x, y, hidden, grad):
    """Mean absolute error of the per-step sigmoid outputs against ``y (B, L)``."""
    batch, length, n_in = x.shape
    hs = np.empty((batch, length + 1, hidden))
    rs = np.empty((batch, length, hidden))
    us = np.empty((batch, length, hidden))
    cs = np.empty((batch, length, hidden))
    _gru_forward_nb(theta, x, hidden, 1, hs, rs, us, cs)
    _, _, _, _, wo, bo = gru_unpack(theta, n_in, hidden, 1)
    _, _, _, _, gwo, gbo = gru_unpack(grad, n_in, hidden, 1)
    dh_out = np.empty((batch, length, hidden))
    n = batch * length
    loss = 0.0
    for b in range(batch):
        for t in range(length):
            z = bo[0]
            for j in range(hidden):
                z += hs[b, t + 1, j] * wo[j, 0]
            p = 1.0 / (1.0 + math.exp(-z))
            e = p - y[b, t]
            loss += abs(e)
            sg = 1.0 if e > 0 else (-1.0 if e < 0 else 0.0)
            dz = sg * p * (1.0 - p) / n
            gbo[0] += dz
            for j in range(hidden):
                gwo[j, 0] += hs[b, t + 1, j] * dz
                dh_out[b, t, j] = dz * wo[j, 0]
    _gru_backward_nb(theta, x, hs, rs, us, cs, dh_out, grad)
    return loss / n


@njit(cache=True, nogil=True)
def _train_disc_nb(theta, xr, xf, idx_r, idx_f, hidden, lr):
    """Adam on ``BCE(real, 1) + BCE(fake, 0)``; row ``k`` of ``idx_*`` is batch ``k``."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    grad = np.empty_like(theta)
    iters, br = idx_r.shape
    bf = idx_f.shape[1]
    _, length, n_in = xr.shape
    bx_r = np.empty((br, length, n_in))
    bx_f = np.empty((bf, length, n_in))
    for k in range(iters):
        for b in range(br):
            bx_r[b] = xr[idx_r[k, b]]
        for b in range(bf):
            bx_f[b] = xf[idx_f[k, b]]
        grad[:] = 0.0
        _disc_loss_grad_nb(theta, bx_r, hidden, 1.0, grad)
        _disc_loss_grad_nb(theta, bx_f, hidden, 0.0, grad)
        _adam_nb(theta, grad, m, v, k + 1, lr)
    return theta


@njit(cache=True, nogil=True)
def _train_pred_nb(theta, x, y, idx, hidden, lr):
    """Adam on the per-step MAE; row ``k`` of ``idx`` is batch ``k``."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    grad = np.empty_like(theta)
    iters, bsz = idx.shape
    _, length, n_in = x.shape
    bx = np.empty((bsz, length, n_in))
    by = np.empty((bsz, length))
    for k in range(iters):
        for b in range(bsz):
            bx[b] = x[idx[k, b]]
            by[b] = y[idx[k, b]]
        grad[:] = 0.0
        _pred_loss_grad_nb(theta, bx, by, hidden, grad)
        _adam_nb(theta, grad, m, v, k + 1, lr)
    return theta


def _batches(rng: np.random.Generator, n: int, size: int, iterations: int) -> np.ndarray:
    """``(iterations, size)`` indices, each row drawn without replacement (TimeGAN)."""
    out = np.empty((iterations, size), dtype=np.int64)
    for k in range(iterations):
        out[k] = rng.choice(n, size, replace=False)
    return out


def _run_seeds(seed: int, runs: int) -> list[int]:
    return [int(seed) + r for r in range(runs)]


def _map(fn: Callable[[int], float], seeds: list[int], workers: int) -> np.ndarray:
    """``fn`` over the seeds, in ``workers`` threads (the kernels release the GIL)."""
    if workers <= 1 or len(seeds) == 1:
        return np.array([fn(s) for s in seeds])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.array(list(pool.map(fn, seeds)))


def _first_differences(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dr, df = np.diff(real, axis=1), np.diff(fake, axis=1)
    scale = dr.reshape(-1, dr.shape[2]).std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return dr / scale, df / scale


# discriminative -----------------------------------------------------------------------


def _discriminative_runs(real: np.ndarray, fake: np.ndarray, *, runs: int, iterations: int,
                         seed: int, diff: bool, batch_size: int = 128,
                         workers: int = 1) -> np.ndarray:
    if diff:
        real, fake = _first_differences(real, fake)
    real, fake = np.ascontiguousarray(real), np.ascontiguousarray(fake)
    feats = real.shape[2]
    hidden = max(feats // 2, 1)

    def one(s: int) -> float:
        rng = np.random.default_rng(s)
        pr, pf = rng.permutation(len(real)), rng.permutation(len(fake))
        nr, nf = int(len(real) * 0.8), int(len(fake) * 0.8)
        tr_r, te_r, tr_f, te_f = real[pr[:nr]], real[pr[nr:]], fake[pf[:nf]], fake[pf[nf:]]
        idx_r = _batches(rng, nr, min(batch_size, nr), iterations)
        idx_f = _batches(rng, nf, min(batch_size, nf), iterations)
        theta = gru_init(s, feats, hidden, 1)
        theta = _train_disc_nb(theta, tr_r, tr_f, idx_r, idx_f, hidden, 1e-3)
        correct = ((_last_logits_nb(theta, te_r, hidden) > 0).sum()
                   + (_last_logits_nb(theta, te_f, hidden) <= 0).sum())
        return abs(correct / (len(te_r) + len(te_f)) - 0.5)

    return _map(one, _run_seeds(seed, runs), workers)


def discriminative_score(real, fake, *, iterations: int = 2000, seed: int = 0,
                         diff: bool = False) -> float:
    """Post-hoc GRU discriminator score ``|accuracy - 0.5|`` (lower is better).

    Parameters
    ----------
    real, fake : array_like
        ``(N, L, F)`` and ``(M, L, F)`` windows.
    iterations : int
        Adam steps (batch 128 real + 128 fake); the published protocol uses 2,000.
    seed : int
        Seeds the 80/20 splits, the batches and the initial weights.
    diff : bool
        Classify first differences within each window (length ``L - 1``), each feature
        divided by the standard deviation of the real differences: blind to the level.

    Returns
    -------
    float
        In ``[0, 0.5]``.
    """
    r, f = _pair(real, fake)
    return float(_discriminative_runs(r, f, runs=1, iterations=iterations, seed=seed,
                                      diff=diff)[0])


# predictive ---------------------------------------------------------------------------


def _predictive_runs(real: np.ndarray, fake: np.ndarray, *, runs: int, iterations: int,
                     seed: int, batch_size: int = 128, workers: int = 1) -> np.ndarray:
    feats = real.shape[2]
    if feats < 2:
        raise ValueError("the predictive score needs at least 2 features")
    hidden = max(feats // 2, 1)
    fx = np.ascontiguousarray(fake[:, :-1, : feats - 1])
    fy = np.ascontiguousarray(fake[:, 1:, feats - 1])
    rx = np.ascontiguousarray(real[:, :-1, : feats - 1])
    ry = real[:, 1:, feats - 1]

    def one(s: int) -> float:
        rng = np.random.default_rng(s)
        idx = _batches(rng, len(fake), min(batch_size, len(fake)), iterations)
        theta = _train_pred_nb(gru_init(s, feats - 1, hidden, 1), fx, fy, idx, hidden, 1e-3)
        return float(np.abs(_step_preds_nb(theta, rx, hidden) - ry).mean())

    return _map(one, _run_seeds(seed, runs), workers)


def predictive_score(real, fake, *, iterations: int = 5000, seed: int = 0) -> float:
    """Train-on-synthetic, test-on-real one-step-ahead MAE (lower is better).

    A GRU over ``fake[:, :-1, :F-1]`` predicts ``fake[:, 1:, F-1]`` at every step (sigmoid
    output, L1 loss, batch 128); the score is the mean absolute error on all real windows.

    Returns
    -------
    float
    """
    r, f = _pair(real, fake)
    return float(_predictive_runs(r, f, runs=1, iterations=iterations, seed=seed)[0])


# correlational ------------------------------------------------------------------------


def _cross_corr(x: np.ndarray) -> np.ndarray:
    """Lag-0 cross-correlations over the lower triangle (diagonal included)."""
    flat = x.reshape(-1, x.shape[2])
    z = (flat - flat.mean(0)) / flat.std(0, ddof=1)
    rows, cols = np.tril_indices(x.shape[2])
    return (z[:, rows] * z[:, cols]).mean(0)


def correlational_score(real, fake, *, seed: int = 0, size: int | None = None,
                        resample: bool = True) -> float:
    """Diffusion-TS cross-correlation score (lower is better).

    Parameters
    ----------
    real, fake : array_like
        ``(N, L, F)`` and ``(M, L, F)`` windows.
    seed : int
        Seeds the resampling.
    size : int, optional
        Windows drawn (with replacement) from each set; default ``N // 5``, as in the
        Diffusion-TS notebook with 5 runs.
    resample : bool
        False uses all windows of both sets (deterministic).

    Notes
    -----
    Each feature is standardised over windows and time (``ddof=1``); ``c_ij`` is the mean
    of ``z_i z_j``; score ``= sum_{i >= j} |c_ij(fake) - c_ij(real)| / 10``.
    """
    r, f = _pair(real, fake)
    if resample:
        rng = np.random.default_rng(seed)
        n = size if size is not None else max(len(r) // 5, 1)
        r = r[rng.integers(0, len(r), n)]
        f = f[rng.integers(0, len(f), n)]
    return float(np.abs(_cross_corr(f) - _cross_corr(r)).sum() / 10.0)


# memorisation -------------------------------------------------------------------------


def memorisation(real_windows, synthetic_windows, *, window: int,
                 chunk: int = 1024) -> dict[str, float]:
    """Distance to closest record (L2 over the flattened window).

    Parameters
    ----------
    real_windows : array_like
        ``(N, L, F)`` stride-1 windows in time order (window ``i`` starts at step ``i``).
    synthetic_windows : array_like
        ``(M, L, F)``.
    window : int
        Real windows ``i, j`` with ``|i - j| < window`` overlap in time and are not
        compared.

    Returns
    -------
    dict
        ``real_median``, ``real_p05``: nearest non-overlapping real neighbour of each real
        window; ``synthetic_median``, ``synthetic_p05``: nearest real window of each
        synthetic one; ``frac_closer_than_real_p05``: share of synthetic windows nearer to
        the real data than the real 5th percentile (a generator that copies scores 1).
    """
    r = torch.tensor(_windows(real_windows, "real_windows")).reshape(
        len(real_windows), -1)
    s = torch.tensor(_windows(synthetic_windows, "synthetic_windows")).reshape(
        len(synthetic_windows), -1)
    if r.shape[1] != s.shape[1]:
        raise ValueError("real and synthetic windows have different shapes")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = len(r)
    pos = torch.arange(n)
    d_real = torch.empty(n, dtype=torch.float64)
    for i in range(0, n, chunk):
        d = torch.cdist(r[i:i + chunk], r)
        band = (pos[i:i + chunk, None] - pos[None, :]).abs() < window
        d_real[i:i + chunk] = d.masked_fill(band, math.inf).min(1).values
    d_syn = torch.cat([torch.cdist(s[i:i + chunk], r).min(1).values
                       for i in range(0, len(s), chunk)])
    if not torch.isfinite(d_real).all():
        raise ValueError(f"need more than {2 * window - 1} real windows for a reference")
    dr, ds = d_real.numpy(), d_syn.numpy()
    p05 = float(np.quantile(dr, 0.05))
    return {
        "real_median": float(np.median(dr)),
        "real_p05": p05,
        "synthetic_median": float(np.median(ds)),
        "synthetic_p05": float(np.quantile(ds, 0.05)),
        "frac_closer_than_real_p05": float((ds < p05).mean()),
    }


# all scores ---------------------------------------------------------------------------


def summarise(values) -> dict:
    """Runs, mean, sample std (``ddof=1``) and the 95 % t half-width Diffusion-TS prints.

    Notes
    -----
    ``half_width = t_{0.975, n-1} * std / sqrt(n)`` (``scipy.stats.sem`` times the t
    quantile, Diffusion-TS ``display_scores``).
    """
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    hw = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    return {"runs": [float(x) for x in v], "mean": float(v.mean()), "std": std,
            "half_width": hw}


SCORES = ("disc", "pred", "corr", "disc_strong", "disc_strong_diff")


def score_all(real, fake, *, runs: int = 5, seed: int = 0, strong: bool = True,
              strong_iterations: int = 10_000, iterations: int = 2000,
              pred_iterations: int = 5000, workers: int = 1,
              which: tuple[str, ...] | None = None,
              progress: Progress | None = None) -> dict[str, dict]:
    """All scores, ``runs`` times each, summarised by :func:`summarise`.

    Parameters
    ----------
    real, fake : array_like
        ``(N, L, F)`` windows.
    runs : int
        Independent runs (splits, batches, initial weights, resampling) per score.
    seed : int
        Run ``k`` uses seed ``seed + k`` (so run 0 equals the single-score functions).
    strong : bool
        Add ``disc_strong`` (``strong_iterations`` steps) and ``disc_strong_diff`` (the
        same on standardised first differences).
    iterations, pred_iterations : int
        Published: 2,000 and 5,000.
    workers : int
        Threads over runs (numba kernels without the GIL); results do not depend on it.
    which : tuple of str, optional
        Compute only these scores (names from ``SCORES``; ``strong`` is then ignored).
    progress : callable, optional
        Called with the name of each score as it starts.

    Returns
    -------
    dict
        ``{name: {"runs", "mean", "std", "half_width"}}`` for the names in ``SCORES``
        (strong ones only when ``strong``), or for ``which``.
    """
    r, f = _pair(real, fake)
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if which is None:
        which = SCORES if strong else SCORES[:3]
    unknown = sorted(set(which) - set(SCORES))
    if unknown:
        raise ValueError(f"unknown scores {unknown}; options: {', '.join(SCORES)}")

    def note(name: str) -> None:
        if progress is not None:
            progress(name)

    def disc(iters: int, diff: bool) -> dict:
        return summarise(_discriminative_runs(r, f, runs=runs, iterations=iters, seed=seed,
                                              diff=diff, workers=workers))

    compute = {
        "disc": lambda: disc(iterations, False),
        "pred": lambda: summarise(_predictive_runs(r, f, runs=runs, iterations=pred_iterations,
                                                   seed=seed, workers=workers)),
        "corr": lambda: summarise([correlational_score(r, f, seed=seed + k)
                                   for k in range(runs)]),
        "disc_strong": lambda: disc(strong_iterations, False),
        "disc_strong_diff": lambda: disc(strong_iterations, True),
    }
    out: dict[str, dict] = {}
    for name in SCORES:
        if name in which:
            note(name)
            out[name] = compute[name]()
    return out
