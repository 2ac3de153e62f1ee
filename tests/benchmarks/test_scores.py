"""Scores of the Stocks benchmark: GRU kernels against torch autograd, behaviour on
constructed data, closed forms; the benchmark's loader and command line on a tiny CSV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import scores as S
from benchmarks.stocks import (
    MLPDenoiser,
    WindowWhitener,
    load_stocks,
    main,
    run_stocks,
    to_markdown,
)
from diffbt.errors import DataError


def _walks(rng: np.random.Generator, n: int, length: int, feats: int) -> np.ndarray:
    """Smooth random-walk windows scaled into [0, 1]."""
    x = np.cumsum(rng.normal(0, 0.05, (n, length, feats)), axis=1)
    x += rng.uniform(0.3, 0.7, (n, 1, feats))
    return np.clip(x, 0, 1)


# GRU kernels ---------------------------------------------------------------------------


def _torch_gru_logits(theta: torch.Tensor, x: torch.Tensor, n_in: int, hidden: int):
    """Independent twin: TF1 GRUCell + dense head via torch autograd -> (B, L) logits."""
    k = n_in + hidden
    sizes = [k * 2 * hidden, 2 * hidden, k * hidden, hidden, hidden, 1]
    wg, bg, wc, bc, wo, bo = torch.split(theta, sizes)
    wg, wc, wo = wg.reshape(k, 2 * hidden), wc.reshape(k, hidden), wo.reshape(hidden, 1)
    h = torch.zeros(x.shape[0], hidden, dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        r, u = torch.sigmoid(torch.cat([x[:, t], h], 1) @ wg + bg).chunk(2, dim=1)
        c = torch.tanh(torch.cat([x[:, t], r * h], 1) @ wc + bc)
        h = u * h + (1 - u) * c
        out.append(h @ wo + bo)
    return torch.cat(out, 1)


def test_gru_discriminator_gradient_matches_autograd():
    rng = np.random.default_rng(0)
    n_in, hidden = 6, 3
    theta = S.gru_init(1, n_in, hidden, 1)
    theta += rng.normal(0, 0.3, theta.shape)
    x = rng.normal(size=(7, 5, n_in))
    for label in (1.0, 0.0):
        grad = np.zeros_like(theta)
        loss = S._disc_loss_grad_nb(theta, x, hidden, label, grad)
        th = torch.tensor(theta, requires_grad=True)
        z = _torch_gru_logits(th, torch.tensor(x), n_in, hidden)[:, -1]
        ref = torch.nn.functional.binary_cross_entropy_with_logits(
            z, torch.full_like(z, label))
        ref.backward()
        assert loss == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(grad, th.grad.numpy(), atol=1e-12)


def test_gru_predictor_gradient_matches_autograd():
    rng = np.random.default_rng(1)
    n_in, hidden = 5, 2
    theta = S.gru_init(2, n_in, hidden, 1) + rng.normal(0, 0.3, S.gru_init(2, n_in, hidden,
                                                                            1).shape)
    x, y = rng.normal(size=(6, 4, n_in)), rng.uniform(size=(6, 4))
    grad = np.zeros_like(theta)
    loss = S._pred_loss_grad_nb(theta, x, y, hidden, grad)
    th = torch.tensor(theta, requires_grad=True)
    p = torch.sigmoid(_torch_gru_logits(th, torch.tensor(x), n_in, hidden))
    ref = (p - torch.tensor(y)).abs().mean()
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, th.grad.numpy(), atol=1e-14)
    np.testing.assert_allclose(S._step_preds_nb(theta, x, hidden), p.detach().numpy(),
                               atol=1e-14)


def test_gru_init_follows_tf1():
    theta = S.gru_init(0, 6, 3, 1)
    wg, bg, wc, bc, wo, bo = S.gru_unpack(theta, 6, 3, 1)
    assert theta.shape == (9 * 6 + 6 + 9 * 3 + 3 + 3 + 1,)
    np.testing.assert_array_equal(bg, 1.0)  # TF1 GRUCell gate bias starts at 1
    np.testing.assert_array_equal(bc, 0.0)
    assert np.abs(wg).max() <= np.sqrt(6 / (9 + 6))
    assert np.abs(wc).max() <= np.sqrt(6 / (9 + 3))


def test_adam_matches_tf1_formula():
    theta, grad = np.array([1.0, -2.0]), np.array([0.5, -0.1])
    m, v = np.zeros(2), np.zeros(2)
    S._adam_nb(theta, grad, m, v, 1, 1e-3)
    # first TF1 step: lr * sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + eps) = lr * sign(g)
    lr_t = 1e-3 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expect = np.array([1.0, -2.0]) - lr_t * (0.1 * grad) / (np.sqrt(0.001 * grad**2) + 1e-8)
    np.testing.assert_allclose(theta, expect, rtol=1e-14)


# behaviour ------------------------------------------------------------------------------


def test_discriminative_score_near_zero_for_same_distribution():
    rng = np.random.default_rng(0)
    real, fake = _walks(rng, 500, 8, 4), _walks(rng, 500, 8, 4)
    d = S.discriminative_score(real, fake, iterations=150, seed=0)
    assert 0.0 <= d < 0.12  # test accuracy on 200 windows: sd 0.035 under the null


def test_discriminative_score_near_half_for_noise():
    rng = np.random.default_rng(1)
    real = _walks(rng, 500, 8, 4)
    fake = rng.uniform(0, 1, real.shape)
    assert S.discriminative_score(real, fake, iterations=1000, seed=0) > 0.3
    # blind to the level, the first-difference discriminator still sees the noise
    assert S.discriminative_score(real, fake, iterations=1000, seed=0, diff=True) > 0.3


def test_discriminative_diff_is_blind_to_level_shift():
    rng = np.random.default_rng(2)
    real = _walks(rng, 500, 8, 4)
    shifted = _walks(rng, 500, 8, 4) + 0.3
    assert S.discriminative_score(real, shifted, iterations=1000, seed=0) > 0.4
    assert S.discriminative_score(real, shifted, iterations=1000, seed=0, diff=True) < 0.12


def test_predictive_score_prefers_faithful_synthetic():
    rng = np.random.default_rng(3)
    real = _walks(rng, 400, 8, 3)
    real[:, 1:, 2] = real[:, :-1, 0]  # last feature = first feature one step earlier
    fake_good = real[rng.permutation(400)]
    fake_bad = real.copy()
    fake_bad[:, :, 2] = 1.0 - fake_bad[:, :, 2]
    good = S.predictive_score(real, fake_good, iterations=1500, seed=0)
    bad = S.predictive_score(real, fake_bad, iterations=1500, seed=0)
    assert good < 0.1 < bad


def test_correlational_score_zero_for_identical_sets():
    rng = np.random.default_rng(4)
    x = _walks(rng, 50, 6, 3)
    assert S.correlational_score(x, x, resample=False) == 0.0


def test_correlational_score_closed_form():
    # real: feature 1 = feature 0; fake: feature 1 = -feature 0; diagonals agree, so the
    # score is |(M-1)/M - (-(M-1)/M)| / 10 with M = N * L values per feature (ddof=1)
    rng = np.random.default_rng(5)
    a = rng.normal(size=(20, 5, 1))
    real, fake = np.concatenate([a, a], 2), np.concatenate([a, -a], 2)
    m = 20 * 5
    assert S.correlational_score(real, fake, resample=False) == pytest.approx(
        2 * (m - 1) / m / 10, rel=1e-12)


def test_correlational_score_resamples_like_diffusion_ts():
    rng = np.random.default_rng(6)
    x = _walks(rng, 100, 6, 3)
    assert S.correlational_score(x, x, seed=0) > 0  # N // 5 windows drawn with replacement
    assert S.correlational_score(x, x, seed=0) == S.correlational_score(x, x, seed=0)


def test_memorisation_copies_and_noise():
    rng = np.random.default_rng(7)
    series = np.cumsum(rng.normal(0, 0.05, (400, 2)), axis=0)
    real = np.lib.stride_tricks.sliding_window_view(series, 8, axis=0).transpose(0, 2, 1)
    copies = real[rng.integers(0, len(real), 100)]
    m = S.memorisation(real, copies, window=8)
    assert m["frac_closer_than_real_p05"] == 1.0
    assert m["synthetic_median"] == 0.0
    noise = rng.normal(0, 1.0, (100, 8, 2)) + series.mean(0)
    assert S.memorisation(real, noise, window=8)["frac_closer_than_real_p05"] == 0.0


def test_memorisation_real_reference_skips_overlapping_windows():
    # a straight line: every window is a shifted copy; nearest non-overlapping neighbour of
    # window i is i +- window, at L2 distance window * slope * sqrt(L * F)
    t = np.arange(100, dtype=float)[:, None] * 0.01
    real = np.lib.stride_tricks.sliding_window_view(t, 4, axis=0).transpose(0, 2, 1)
    m = S.memorisation(real, real[:3], window=4)
    assert m["real_median"] == pytest.approx(4 * 0.01 * np.sqrt(4), rel=1e-9)


def test_summarise_t_half_width():
    s = S.summarise([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["mean"] == 3.0
    assert s["std"] == pytest.approx(np.sqrt(2.5))
    # scipy.stats.t.ppf(0.975, 4) = 2.7764451051977987 (Diffusion-TS display_scores)
    assert s["half_width"] == pytest.approx(2.7764451051977987 * np.sqrt(2.5) / np.sqrt(5))


def test_score_all_run_zero_matches_single_scores():
    rng = np.random.default_rng(8)
    real, fake = _walks(rng, 200, 6, 2), _walks(rng, 200, 6, 2) + 0.05
    out = S.score_all(real, fake, runs=2, seed=3, iterations=20, pred_iterations=20,
                      strong_iterations=20)
    assert set(out) == set(S.SCORES)
    assert out["disc"]["runs"][0] == S.discriminative_score(real, fake, iterations=20, seed=3)
    assert out["pred"]["runs"][0] == S.predictive_score(real, fake, iterations=20, seed=3)
    assert out["corr"]["runs"][1] == S.correlational_score(real, fake, seed=4)
    assert out["disc_strong_diff"]["runs"][0] == S.discriminative_score(
        real, fake, iterations=20, seed=3, diff=True)


def test_score_all_which_computes_the_same_subset():
    rng = np.random.default_rng(9)
    real, fake = _walks(rng, 120, 6, 2), _walks(rng, 120, 6, 2) + 0.03
    kw = dict(runs=2, seed=1, iterations=15, pred_iterations=15, strong_iterations=15)
    full = S.score_all(real, fake, **kw)
    part = S.score_all(real, fake, which=("corr", "disc_strong"), **kw)
    assert part == {k: full[k] for k in ("corr", "disc_strong")}
    with pytest.raises(ValueError, match="unknown scores"):
        S.score_all(real, fake, which=("fid",), **kw)


def test_score_all_workers_do_not_change_results():
    rng = np.random.default_rng(10)
    real, fake = _walks(rng, 100, 5, 2), _walks(rng, 100, 5, 2)
    kw = dict(runs=3, seed=0, iterations=10, pred_iterations=10, strong=False)
    a = S.score_all(real, fake, workers=1, **kw)
    b = S.score_all(real, fake, workers=3, **kw)
    assert a == b


def test_scores_reject_bad_shapes():
    x = np.zeros((10, 5, 3))
    with pytest.raises(ValueError, match="differ"):
        S.discriminative_score(x, np.zeros((10, 5, 2)), iterations=1)
    with pytest.raises(ValueError, match=r"\(N, L, F\)"):
        S.correlational_score(np.zeros((10, 5)), x)
    with pytest.raises(ValueError, match="NaN"):
        S.memorisation(np.full((10, 5, 3), np.nan), x, window=2)


# benchmark plumbing -----------------------------------------------------------------------


def _csv(tmp_path, rows: int = 40):
    rng = np.random.default_rng(9)
    p = np.exp(np.cumsum(rng.normal(0, 0.01, rows))) * 100
    lines = ["Open,High,Low,Close,Adj_Close,Volume"]
    for k in range(rows):
        lines.append(f"{p[k]},{p[k] * 1.01},{p[k] * 0.99},{p[k]},{p[k]},{1000 + k}")
    path = tmp_path / "stock_data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, p


def test_load_stocks_scales_and_windows(tmp_path):
    path, p = _csv(tmp_path)
    w = load_stocks(path, window=24)
    assert w.shape == (40 - 24 + 1, 24, 6)
    assert w.min() == 0.0 and w.max() == 1.0
    np.testing.assert_allclose(w[3, :, 0], ((p - p.min()) / (p.max() - p.min()))[3:27])
    np.testing.assert_allclose(w[0, :, 5], np.arange(24) / 39)


def test_load_stocks_rejects_missing_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Open,High\n1,2\n")
    with pytest.raises(DataError, match="missing columns"):
        load_stocks(path)


def test_cli_reports_missing_data(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--data", str(tmp_path / "nope.csv")]) == 2
    assert "reference data not found at" in capsys.readouterr().err


def test_mlp_denoiser_shapes():
    net = MLPDenoiser(6, 24, hidden=32, n_blocks=2)
    x = torch.randn(5, 6, 24)
    assert net(x, torch.arange(5)).shape == x.shape


def test_window_whitener_round_trip_and_unit_variance():
    rng = np.random.default_rng(11)
    w = _walks(rng, 300, 6, 2)
    w[:, :, 1] = w[:, :, 0]  # identical columns: zero eigenvalues, floored
    wh = WindowWhitener(w)
    z = wh.encode(w)
    np.testing.assert_allclose(wh.decode(z), w, atol=1e-12)
    std = z.std(0, ddof=1)
    assert np.sum(np.isclose(std, 1.0)) == 6 and np.all(std[~np.isclose(std, 1.0)] < 1e-3)


@pytest.mark.slow
def test_run_stocks_quick_writes_outputs(tmp_path):
    path, _ = _csv(tmp_path, rows=80)
    report = run_stocks(path, out=tmp_path / "out", quick=True, steps=20)
    synth = np.load(tmp_path / "out" / "stocks_synthetic.npy")
    assert synth.shape == (80 - 24 + 1, 24, 6)
    assert set(report["scores"]) == {"diffbt", "real data", "real + N(0, 0.02)"}
    assert 0.0 <= report["memorisation"]["frac_closer_than_real_p05"] <= 1.0


@pytest.mark.slow
def test_run_stocks_curve_scores_every_sampler_setting(tmp_path):
    path, _ = _csv(tmp_path, rows=80)
    report = run_stocks(path, quick=True, steps=20, curve=True, references=False,
                        spacing="logsnr")
    assert report["spacing"] == "logsnr"
    assert [(c["sampler"], c["denoiser_calls"]) for c in report["curve"]] == [
        ("dpm", 5), ("dpm", 10), ("dpm", 20), ("dpm", 50), ("dpm", 100), ("dpm", 250),
        ("ddpm", 1000)]
    for c in report["curve"]:
        assert set(c["scores"]) == {"disc", "corr", "disc_strong"}
        assert 0.0 <= c["scores"]["disc_strong"]["mean"] <= 0.5
    assert "| ddpm 1000 | 1000 |" in to_markdown(report)
