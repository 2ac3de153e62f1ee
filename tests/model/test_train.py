import math
from dataclasses import asdict, replace

import pytest
import torch

from diffbt.errors import DataError
from diffbt.model.checkpoint import CheckpointError, load_checkpoint, load_diffusion
from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion
from diffbt.model.samplers import sample
from diffbt.model.train import TrainConfig, Trainer, lr_at, train

CFG = DiffusionConfig(channels=2, window=16, hidden=16, n_blocks=2, timesteps=100,
                      n_regimes=2, jumps=True, dropout=0.1)


def toy_data(n=256, seed=0):
    """Two correlated 'assets': noisy sines with random phase; asset 2 = -asset 1 + noise."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    s = torch.sin(torch.linspace(0, 2 * math.pi, 16)[None, :] + phase)
    a = s + 0.1 * torch.randn(n, 16, generator=g)
    b = -s + 0.1 * torch.randn(n, 16, generator=g)
    x = torch.stack((a, b), dim=1)
    cond = {"regime": torch.randint(0, 2, (n,), generator=g),
            "jumps": torch.randint(0, 3, (n,), generator=g).float()}
    return x, cond


def fresh():
    return GaussianDiffusion(CFG, seed=0)


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(steps=110, lr=1.0, warmup=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(110, cfg) == pytest.approx(0.1)


def test_train_config_validation_and_json():
    assert TrainConfig(**asdict(TrainConfig())) == TrainConfig()
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="cond_dropout"):
        TrainConfig(cond_dropout=1.5)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=-1)


def test_tiny_training_run_loss_decreases():
    x, cond = toy_data()
    seen = []
    cfg = TrainConfig(steps=90, batch_size=32, lr=3e-3, warmup=10, val_every=30, seed=1)
    res = train(fresh(), x, cond=cond, val_data=x[:64], val_cond={k: v[:64] for k, v in
                                                                   cond.items()},
                config=cfg, progress=lambda s, info: seen.append((s, info)))
    assert res.step == 90 and len(res.train_losses) == 90
    first = sum(res.train_losses[:10]) / 10
    last = sum(res.train_losses[-10:]) / 10
    assert last < 0.7 * first  # measured 0.75 -> 0.38
    assert [s for s, _ in res.val_losses] == [30, 60, 90]
    assert res.val_losses[-1][1] < res.val_losses[0][1]
    assert [s for s, _ in seen] == list(range(1, 91))
    assert "val_loss" in seen[29][1] and "val_loss" not in seen[28][1]
    assert not res.ema.training
    out = sample(res.ema, (4, 2, 16), sampler="ddim", steps=5,
                 generator=torch.Generator().manual_seed(0), cond={"regime": torch.zeros(4,
                                                                   dtype=torch.long)})
    assert torch.isfinite(out.x).all()


class Interrupt(Exception):
    pass


def test_resume_after_interruption_is_bit_identical(tmp_path):
    x, cond = toy_data(64)
    cfg = TrainConfig(steps=12, batch_size=8, warmup=3, ckpt_every=5, val_every=4,
                      context_prob=0.5, cond_dropout=0.3, seed=3)
    val = dict(val_data=x[:16], val_cond={k: v[:16] for k, v in cond.items()})
    full = train(fresh(), x, cond=cond, config=cfg, **val)

    path = tmp_path / "run.safetensors"

    def stop_at_8(step, info):
        if step == 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(fresh(), x, cond=cond, config=cfg, checkpoint_path=path, progress=stop_at_8,
              **val)
    assert load_checkpoint(path)[1]["step"] == 5
    # resume into a model with *different* initial weights: everything comes from the file
    resumed = train(GaussianDiffusion(CFG, seed=99), x, cond=cond, config=cfg, checkpoint_path=path,
                    resume=True, **val)
    assert resumed.step == 12
    assert resumed.train_losses == full.train_losses
    assert resumed.val_losses == full.val_losses
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    for a, b in zip(full.ema.state_dict().values(), resumed.ema.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    # the final checkpoint loads as a sampler-ready EMA model
    ema, _ = load_diffusion(path)
    for a, b in zip(full.ema.model.state_dict().values(), ema.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_resume_rejects_changed_config(tmp_path):
    x, cond = toy_data(32)
    path = tmp_path / "run.safetensors"
    cfg = TrainConfig(steps=2, batch_size=4, warmup=1)
    train(fresh(), x, cond=cond, config=cfg, checkpoint_path=path)
    with pytest.raises(CheckpointError, match="lr"):
        train(fresh(), x, cond=cond, config=replace(cfg, lr=0.1), checkpoint_path=path,
              resume=True)
    other = GaussianDiffusion(replace(CFG, hidden=8), seed=0)
    with pytest.raises(CheckpointError, match="DiffusionConfig"):
        train(other, x, cond=cond, config=cfg, checkpoint_path=path, resume=True)
    # longer training continues from the checkpoint
    res = train(fresh(), x, cond=cond, config=replace(cfg, steps=4), checkpoint_path=path,
                resume=True)
    assert res.step == 4 and len(res.train_losses) == 4


@pytest.mark.parametrize("data, cond, match", [
    (torch.randn(4, 3, 16), None, "channels"),
    (torch.randn(4, 16), None, r"\(N, C, L\)"),
    (torch.full((4, 2, 16), math.nan), None, "NaN"),
    (torch.randn(4, 2, 16), {"regime": torch.tensor([0, 1, 2, 3])}, "regime"),
    (torch.randn(4, 2, 16), {"colour": torch.zeros(4)}, "unknown"),
])
def test_train_rejects_bad_data(data, cond, match):
    with pytest.raises(DataError, match=match):
        Trainer(fresh(), data, cond=cond, config=TrainConfig(steps=1))


@pytest.mark.slow
def test_trained_model_reproduces_cross_asset_correlation():
    # bars i.i.d. N(0, [[1, .8], [.8, 1]]): a jointly modelled pair keeps rho, a per-asset
    # model would give rho = 0
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2048, 2, 16, generator=g)
    x = torch.stack((z[:, 0], 0.8 * z[:, 0] + 0.6 * z[:, 1]), dim=1)
    cfg = DiffusionConfig(channels=2, window=16, hidden=32, n_blocks=2, timesteps=100,
                          stride=1, context=False)
    res = train(GaussianDiffusion(cfg, seed=0), x,
                config=TrainConfig(steps=400, batch_size=64, lr=2e-3, warmup=20, seed=0))
    out = sample(res.ema, (512, 2, 16), sampler="dpm", steps=20,
                 generator=torch.Generator().manual_seed(1)).x
    a, b = out[:, 0].flatten(), out[:, 1].flatten()
    rho = torch.corrcoef(torch.stack((a, b)))[0, 1].item()
    assert abs(rho - 0.8) < 0.1
    assert abs(a.std().item() - 1) < 0.15 and abs(b.std().item() - 1) < 0.15


def test_keep_best_returns_the_ema_of_the_lowest_validation_loss_and_survives_resume(tmp_path):
    """With keep_best the result holds the EMA weights saved at the best validation, equal to
    an independent re-validation; an interrupted run resumes to the same choice."""
    torch.manual_seed(0)
    data = torch.randn(64, 2, 8)
    val = torch.randn(32, 2, 8) * 3.0  # far from the training data: the loss moves
    cfg = TrainConfig(steps=12, batch_size=8, warmup=2, val_every=3, ckpt_every=3,
                      keep_best=True, seed=1)

    def net():
        torch.manual_seed(3)
        return GaussianDiffusion(DiffusionConfig(channels=2, window=8, hidden=8, n_blocks=1,
                                                 timesteps=20, context=False))

    res = train(net(), data, val_data=val, config=cfg)
    step, best = min(res.val_losses, key=lambda sv: sv[1])
    assert res.best_step == step
    check = Trainer(res.ema, data, val_data=val, config=cfg)
    check.ema = res.ema
    assert check.validate() == pytest.approx(best, rel=1e-6)
    # interrupted after 6 steps, resumed: the same best step and weights
    part = Trainer(net(), data, val_data=val, config=replace(cfg, steps=6))
    part.run(checkpoint_path=tmp_path / "t.ckpt")
    again = Trainer(net(), data, val_data=val, config=cfg)
    again.load(tmp_path / "t.ckpt")
    res2 = again.run()
    assert res2.best_step == res.best_step
    for a, b in zip(res.ema.state_dict().values(), res2.ema.state_dict().values(),
                    strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_context_noise_blurs_the_prefix_the_network_sees(noise):
    """Every training window is the same pattern, so what the network is shown as a revealed
    prefix minus the pattern is exactly the added noise: none without `context_noise`,
    per-window levels spread over [0, context_noise] with it."""
    pattern = torch.sin(torch.linspace(0, 6, 16)).expand(2, 16)
    data = pattern.expand(64, 2, 16).contiguous()
    seen = []

    def spy(_module, args):
        cond = args[2]
        if cond and "context_mask" in cond:
            seen.append((cond["context"] - pattern, cond["context_mask"]))

    net = GaussianDiffusion(replace(CFG, n_regimes=0, jumps=False), seed=0)
    net.model.register_forward_pre_hook(spy)
    train(net, data, config=TrainConfig(steps=4, batch_size=64, warmup=1, val_every=0,
                                        ckpt_every=0, context_prob=1.0, context_noise=noise))
    diff = torch.cat([d for d, _ in seen])
    mask = torch.cat([m for _, m in seen])
    level = torch.stack([diff[i][:, mask[i]].std() for i in range(len(diff))
                         if mask[i].sum() >= 8])
    if noise == 0.0:
        assert diff.abs().max() == 0.0
    else:
        assert level.max() < 1.5 * noise and level.min() < 0.2 * noise
        assert level.median() == pytest.approx(noise / 2, rel=0.25)
    with pytest.raises(ValueError, match="context_noise"):
        TrainConfig(context_noise=-0.1)
