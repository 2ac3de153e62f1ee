import pytest
import torch

from diffbt.model.denoiser import Denoiser
from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion


def _randomize(net: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_default_denoiser_size_is_small():
    d = GaussianDiffusion(DiffusionConfig(channels=10, n_regimes=4, jumps=True))
    n = sum(p.numel() for p in d.parameters())
    assert 300_000 <= n <= 1_000_000


@pytest.mark.parametrize("stride, lengths", [(1, (8, 13)), (4, (8, 64))])
def test_denoiser_output_shape(stride, lengths):
    net = Denoiser(4, hidden=16, n_blocks=2, n_regimes=3, jumps=True, stride=stride)
    for length in lengths:
        x = torch.randn(5, 4, length)
        out = net(x, torch.randint(0, 100, (5,)), None)
        assert out.shape == x.shape
    if stride > 1:
        with pytest.raises(ValueError, match="divisible"):
            net(torch.randn(1, 4, 10), torch.tensor([1]))


@pytest.mark.parametrize("stride", [1, 4])
def test_denoiser_mixes_assets_across_channels(stride):
    # output of asset 0 at bar 5 must depend on asset 1's inputs, at that bar and others
    net = Denoiser(4, hidden=16, n_blocks=2, attention=False, context=False, stride=stride)
    _randomize(net)
    x = torch.randn(1, 4, 16, requires_grad=True)
    net(x, torch.tensor([10]))[0, 0, 5].backward()
    assert x.grad[0, 2:, 5].abs().sum() > 0
    assert x.grad[0, 2:, 12].abs().sum() > 0


def test_denoiser_labels_change_output_and_null_is_distinct():
    net = Denoiser(2, hidden=16, n_blocks=2, n_regimes=2, jumps=True, context=False).eval()
    _randomize(net)
    x, t = torch.randn(3, 2, 8), torch.tensor([5, 5, 5])
    a = net(x, t, {"regime": torch.tensor([0, 1, 2]), "jumps": torch.tensor([1.0, 1.0, 1.0])})
    assert not torch.allclose(a[0], a[1]) and not torch.allclose(a[1], a[2])
    b = net(x, t, {"regime": torch.tensor([2, 2, 2]), "jumps": torch.full((3,), float("nan"))})
    c = net(x, t, None)  # missing labels mean null
    torch.testing.assert_close(b, c)
    assert torch.isfinite(b).all()


def test_denoiser_context_channels_are_used():
    net = Denoiser(2, hidden=16, n_blocks=2).eval()
    _randomize(net)
    x, t = torch.randn(2, 2, 8), torch.tensor([3, 3])
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[:, :4] = True
    a = net(x, t, {"context": torch.zeros(2, 2, 8), "context_mask": mask})
    b = net(x, t, {"context": torch.ones(2, 2, 8), "context_mask": mask})
    assert not torch.allclose(a, b)
    # no mask == nothing known
    none = net(x, t, {"context": torch.ones(2, 2, 8),
                      "context_mask": torch.zeros(2, 8, dtype=torch.bool)})
    torch.testing.assert_close(none, net(x, t, None))


def test_diffusion_to_moves_buffers_and_model():
    d = GaussianDiffusion(DiffusionConfig(channels=2, hidden=8, n_blocks=1, timesteps=10))
    assert d.device == torch.device("cpu")
    d = d.to(torch.float64)
    assert d.alphas_cumprod.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_diffusion_runs_on_cuda():
    from diffbt.model.samplers import sample

    d = GaussianDiffusion(DiffusionConfig(channels=2, hidden=8, n_blocks=1, timesteps=10,
                                          n_regimes=2)).to("cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    out = sample(d, (3, 2, 8), sampler="ddim", steps=5, generator=g,
                 cond={"regime": torch.tensor([0, 1, 2], device="cuda")}, guidance=2.0)
    assert out.x.device.type == "cuda"


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    cfg = DiffusionConfig(channels=2, hidden=8, n_blocks=1, timesteps=10)
    state = torch.get_rng_state()
    a, b = GaussianDiffusion(cfg, seed=5), GaussianDiffusion(cfg, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
