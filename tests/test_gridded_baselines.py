"""Gridded baselines: persistence, climatology, UNet, ResNet-CNN under the common model interface."""

from __future__ import annotations

import pytest
import torch
from model_harness import (
    check_bf16_autocast,
    check_gradients,
    check_overfit,
    check_roll_equivariance,
    check_save_load,
    roll_error,
    single_thread,  # noqa: F401  (autouse fixture)
)

from emulators import EmulatorInputError, build_model
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
    check_save_load(model, (x,), tmp_path)
    check_roll_equivariance(model, x, shifts=(1, 5), atol=0)
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
    loaded, _ = check_save_load(model, (x, torch.tensor([1, 60, 366])), tmp_path)
    assert torch.equal(loaded.climatology, clim)
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
    grads = check_gradients(model, (torch.randn(2, 3, 32, 64),))
    assert len(grads) == len(list(model.parameters()))


@pytest.mark.parametrize(
    "make,kw", [(_tiny_unet, {}), (_tiny_resnet, {"base_width": 8, "decoder_widths": (32, 32, 16)})]
)
def test_tiny_overfit(make, kw):
    torch.manual_seed(0)
    model = make(in_channels=2, out_channels=2, **kw)
    x = torch.randn(4, 2, 16, 32)
    y = torch.roll(x, 1, -1) * 0.5
    check_overfit(model, (x,), y, max_steps=500)  # stops once the loss has fallen 10x


@pytest.mark.parametrize("name,make", [("unet", _tiny_unet), ("resnet", _tiny_resnet)])
def test_save_load_round_trip(tmp_path, name, make):
    model = make(padding_mode="circular")
    model(torch.randn(4, 3, 16, 32))  # update BatchNorm running statistics
    loaded, _ = check_save_load(model, (torch.randn(2, 3, 16, 32),), tmp_path, name=f"{name}.pt")
    assert loaded.model_name == name
    # the BatchNorm running statistics travel with the weights
    bn = [k for k in model.state_dict() if k.endswith("running_mean")]
    assert bn and all(torch.equal(loaded.state_dict()[k], model.state_dict()[k]) for k in bn)


@pytest.mark.parametrize("make", [_tiny_unet, _tiny_resnet])
def test_bf16_autocast_forward(make):
    torch.manual_seed(0)
    check_bf16_autocast(make().eval(), (torch.randn(2, 3, 32, 64),))


def test_circular_padding_gives_roll_equivariance_for_unet():
    torch.manual_seed(0)
    model = _tiny_unet(padding_mode="circular").double().eval()
    x = torch.randn(1, 3, 16, 32, dtype=torch.float64)
    # pooling by 2 twice: rolls by multiples of 4 cells commute
    check_roll_equivariance(model, x, shifts=(4, 8), atol=1e-10)
    # ... a roll by 2 cells does not (pooling windows differ), nor zero padding at the seam
    assert roll_error(model, x, 2) > 1e-6
    zeros = _tiny_unet(padding_mode="zeros").double().eval()
    assert roll_error(zeros, x, 4) > 1e-6


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="padding_mode"):
        _tiny_unet(padding_mode="reflect")
    with pytest.raises(
        EmulatorInputError, match=r"x: expected shape \(batch, 3, lat, lon\), got \(1, 4, 16, 32\)"
    ):
        _tiny_resnet()(torch.randn(1, 4, 16, 32))
    with pytest.raises(EmulatorInputError, match=r"grid \(3, 5\) is too small for a UNet of 3 levels"):
        _tiny_unet()(torch.randn(2, 3, 3, 5))
    with pytest.raises(EmulatorInputError, match="BatchNorm cannot normalise in training mode"):
        _tiny_resnet()(torch.randn(1, 3, 8, 8))
    assert _tiny_resnet().eval()(torch.randn(1, 3, 8, 8)).shape == (1, 2, 8, 8)  # eval mode is fine
    with pytest.raises(ValueError, match="residual"):
        _tiny_unet(in_channels=2, out_channels=3, residual=True)
    with pytest.raises(KeyError, match="widthz"):
        build_model("unet", {"widthz": (4, 8)})
    assert isinstance(build_model("climatology", ClimatologyConfig(nlat=2, nlon=4)), Climatology)
