import json
import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from diffbt.errors import DataError
from diffbt.model.checkpoint import (
    VERSION,
    CheckpointError,
    load_checkpoint,
    load_diffusion,
    save_checkpoint,
    save_diffusion,
)
from diffbt.model.diffusion import DiffusionConfig, GaussianDiffusion


def test_checkpoint_roundtrip(tmp_path):
    path = tmp_path / "a.safetensors"
    tensors = {"w": torch.randn(3, 4), "step": torch.tensor(7), "u8": torch.arange(5,
                                                                                  dtype=torch.uint8)}
    meta = {"config": {"a": 1}, "scalers": [1.5, 2.5], "labels": ["bull", "bear"]}
    save_checkpoint(path, tensors, meta)
    got, got_meta = load_checkpoint(path)
    assert got_meta == meta
    assert set(got) == set(tensors)
    for k in tensors:
        assert torch.equal(got[k], tensors[k]) and got[k].dtype == tensors[k].dtype
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]  # no temp file left


def test_save_diffusion_roundtrip_same_outputs(tmp_path):
    d = GaussianDiffusion(DiffusionConfig(channels=2, hidden=8, n_blocks=1, timesteps=20,
                                          n_regimes=3))
    with torch.no_grad():
        for p in d.model.parameters():
            p.add_(0.1)
    path = save_diffusion(tmp_path / "m.safetensors", d, extra={"assets": ["BTC", "ETH"]})
    d2, extra = load_diffusion(path)
    assert extra == {"assets": ["BTC", "ETH"]} and d2.config == d.config
    x, t = torch.randn(2, 2, 8), torch.tensor([3, 9])
    with torch.no_grad():
        assert torch.equal(d.eval().model(x, t), d2.model(x, t))


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.safetensors"
    save_checkpoint(path, {"w": torch.randn(100, 10)}, {"x": 1})
    return path


def test_load_rejects_truncated_file(good, tmp_path):
    data = good.read_bytes()
    for cut in (4, 100, len(data) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="damaged or truncated") as e:
            load_checkpoint(bad)
        assert str(bad) in str(e.value)


def test_load_rejects_foreign_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="foreign"):
        load_checkpoint(foreign)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"diffbt": json.dumps(
        {"format": "something-else", "version": 1, "meta": {}})})
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello world, definitely not tensors")
    with pytest.raises(CheckpointError):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    assert issubclass(CheckpointError, DataError) and issubclass(CheckpointError, ValueError)


def test_load_rejects_newer_version(tmp_path):
    path = tmp_path / "new.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"diffbt": json.dumps(
        {"format": "diffbt-model", "version": VERSION + 1, "meta": {}})})
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(path)


class _Boom:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):  # unpickling would create the flag directory
        return (os.mkdir, (self.flag,))


def test_pickle_file_is_rejected_without_executing(tmp_path):
    flag = tmp_path / "executed"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"state_dict": _Boom(str(flag))}))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_diffusion(path)
    assert not flag.exists()
    # sanity: the payload really would execute if unpickled
    pickle.loads(path.read_bytes())
    assert flag.exists()


def test_load_diffusion_rejects_mismatched_weights(tmp_path):
    path = tmp_path / "m.safetensors"
    cfg = DiffusionConfig(channels=2, hidden=8, n_blocks=1, timesteps=20)
    save_checkpoint(path, {"model.bogus": torch.zeros(1)},
                    {"kind": "diffusion", "config": cfg.to_dict()})
    with pytest.raises(CheckpointError, match="weights"):
        load_diffusion(path)
    save_checkpoint(path, {}, {"kind": "diffusion", "config": {"channels": -1}})
    with pytest.raises(CheckpointError, match="config"):
        load_diffusion(path)
