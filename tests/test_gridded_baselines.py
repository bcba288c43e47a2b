"""Gridded baselines: persistence, climatology, UNet, ResNet-CNN under the common model interface."""

from __future__ import annotations

import pytest
import torch
from gridded_inputs import overfit

from emulators import build_model, load_model, save_model
from emulators.baselines import (
    Climatology,
    ClimatologyConfig,
    Persistence,
    PersistenceConfig,
    ResNetCNN,
    ResNetConfig,
    UNet,
    UNetConfig,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models: one intra-op thread avoids spin-wait contention on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_unet(**kw) -> UNet:
    base = dict(in_channels=3, out_channels=2, widths=(4, 8, 16))
    base.update(kw)
    return UNet(UNetConfig(**base))


def _tiny_resnet(**kw) -> ResNetCNN:
    base = dict(
        in_channels=3, out_channels=2, layers=(1, 1), base_width=4, expansion=2, decoder_widths=(8, 8, 4)
    )
    base.update(kw)
    return ResNetCNN(ResNetConfig(**base))


def test_persistence_returns_input(tmp_path):
    model = Persistence(PersistenceConfig(in_channels=4, out_channels=3))
    x = torch.randn(2, 4, 8, 16)
    out = model(x)
    assert torch.equal(out, x[:, :3]) and out.data_ptr() != x.data_ptr()
    assert sum(p.numel() for p in model.parameters()) == 0
    save_model(model, tmp_path / "p.pt")
    loaded, _ = load_model(tmp_path / "p.pt")
    assert torch.equal(loaded(x), out)
    with pytest.raises(ValueError, match="out_channels"):
        Persistence(PersistenceConfig(in_channels=2, out_channels=3))


def test_climatology_lookup_and_round_trip(tmp_path):
    model = build_model("climatology", {"channels": 2, "nlat": 4, "nlon": 8, "n_doy": 366})
    clim = torch.arange(366 * 2 * 4 * 8, dtype=torch.float32).reshape(366, 2, 4, 8)
    model.set_climatology(clim)
    x = torch.randn(3, 2, 4, 8)
    out = model(x, torch.tensor([1, 60, 366]))
    assert torch.equal(out, clim[[0, 59, 365]])
    assert torch.equal(model(x, 32), clim[[31, 31, 31]])
    assert sum(p.numel() for p in model.parameters()) == 0
    save_model(model, tmp_path / "c.pt")
    loaded, _ = load_model(tmp_path / "c.pt")
    assert torch.equal(loaded(x, torch.tensor([1, 60, 366])), out)
    with pytest.raises(ValueError, match="doy"):
        model(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="doy"):
        model(x)
    with pytest.raises(ValueError, match="values"):
        model.set_climatology(torch.zeros(365, 2, 4, 8))


@pytest.mark.parametrize("size", [(32, 64), (121, 240), (33, 65), (16, 32)])
def test_unet_and_resnet_shapes(size):
    x = torch.randn(1, 3, *size)
    assert _tiny_unet()(x).shape == (1, 2, *size)
    assert _tiny_resnet()(x).shape == (1, 2, *size)


def test_unet_parameter_count():
    model = _tiny_unet(widths=(4, 8))

    def double(cin, cout):  # two bias-free 3x3 convs + two BatchNorms
        return 9 * cin * cout + 9 * cout * cout + 4 * cout

    expected = double(3, 4) + double(4, 8) + (8 * 4 * 4 + 4) + double(8, 4) + (4 * 2 + 2)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert sum(p.numel() for p in UNet(UNetConfig()).parameters()) == 31_074_300  # ChaosBench size, 60 → 60


def test_resnet_encoder_has_resnet50_size():
    # torchvision/timm resnet50: 25,557,032 parameters, of which the 1000-way fc has 2048·1000 + 1000.
    model = ResNetCNN(ResNetConfig(in_channels=3))
    assert sum(p.numel() for p in model.encoder.parameters()) == 25_557_032 - 2_049_000


@pytest.mark.parametrize("make", [_tiny_unet, _tiny_resnet])
def test_gradient_flow(make):
    torch.manual_seed(0)
    model = make()
    model(torch.randn(2, 3, 32, 64)).pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "make,kw", [(_tiny_unet, {}), (_tiny_resnet, {"base_width": 8, "decoder_widths": (32, 32, 16)})]
)
def test_tiny_overfit(make, kw):
    torch.manual_seed(0)
    model = make(in_channels=2, out_channels=2, **kw)
    x = torch.randn(4, 2, 16, 32)
    y = torch.roll(x, 1, -1) * 0.5
    first, last = overfit(model, x, y, max_steps=500)  # stops once the loss has fallen 10x
    assert last < first / 10, (first, last)


@pytest.mark.parametrize("name,make", [("unet", _tiny_unet), ("resnet", _tiny_resnet)])
def test_save_load_round_trip(tmp_path, name, make):
    model = make(padding_mode="circular")
    model(torch.randn(4, 3, 16, 32))  # update BatchNorm running statistics
    model.eval()
    x = torch.randn(2, 3, 16, 32)
    save_model(model, tmp_path / f"{name}.pt")
    loaded, _ = load_model(tmp_path / f"{name}.pt")
    loaded.eval()
    assert loaded.model_name == name and loaded.config == model.config
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("make", [_tiny_unet, _tiny_resnet])
def test_bf16_autocast_forward(make):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(2, 3, 32, 64)
    ref = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert (out.float() - ref).norm() / ref.norm() < 0.05


def test_circular_padding_gives_roll_equivariance_for_unet():
    torch.manual_seed(0)
    model = _tiny_unet(padding_mode="circular").double().eval()
    x = torch.randn(1, 3, 16, 32, dtype=torch.float64)
    # pooling by 2 twice: rolls by multiples of 4 cells commute
    torch.testing.assert_close(model(torch.roll(x, 4, -1)), torch.roll(model(x), 4, -1), rtol=0, atol=1e-10)


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="padding_mode"):
        _tiny_unet(padding_mode="reflect")
    with pytest.raises(ValueError, match="x:"):
        _tiny_resnet()(torch.randn(1, 4, 16, 32))
    with pytest.raises(ValueError, match="residual"):
        _tiny_unet(residual=True)
    with pytest.raises(KeyError, match="widthz"):
        build_model("unet", {"widthz": (4, 8)})
    assert isinstance(build_model("climatology", ClimatologyConfig(nlat=2, nlon=4)), Climatology)
