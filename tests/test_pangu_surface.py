"""Pangu-lite on single-layer data (``n_upper_vars = 0``): the 3-D Earth-specific transformer with one
vertical level, alone and trained end to end by the trainer on a level-less (shallow-water-like) store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from model_harness import (
    check_gradients,
    check_roll_equivariance,
    check_save_load,
    roll_error,
    single_thread,  # noqa: F401  (autouse fixture)
)

from emulators import EmulatorInputError
from emulators.pangu import PanguConfig, PanguModel, earth_position_index, pangu_token_grids

SMALL = {
    "grid": (16, 32),
    "n_levels": 1,
    "n_upper_vars": 0,
    "n_surface_vars": 3,
    "n_masks": 1,
    "embed_dim": 16,
    "depths": (2, 2, 2, 2),
    "num_heads": (2, 2, 2, 2),
    "window_size": (1, 4, 8),
    "patch_size": (1, 2, 2),
    "drop_path_rate": 0.0,
}


def _config(**overrides) -> PanguConfig:
    return PanguConfig(**{**SMALL, **overrides})


def _surface(config: PanguConfig, batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, config.n_surface_vars, *config.grid, generator=g)


# ---------------------------------------------------------------- model


def test_token_grid_has_one_level_and_no_upper_air_convolutions():
    config = _config()
    assert config.surface_only and config.effective_window_size == (1, 4, 8)
    assert pangu_token_grids(config) == ((1, 8, 16), (1, 4, 8))
    model = PanguModel(config)
    assert model.embedding.conv is None and model.recovery.conv is None
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith(("embedding.conv.", "recovery.conv.")) for n in names)
    block = model.layer1.blocks[0]
    assert block.padded == (1, 8, 16) and block.pads[0] == (0, 0)  # no padding along Z
    # the default 2-level window shrinks to depth 1: no zero level is attended to
    assert _config(window_size=(2, 4, 8)).effective_window_size == (1, 4, 8)
    assert PanguModel(_config(window_size=(2, 4, 8))).layer1.blocks[0].padded == (1, 8, 16)


def test_bias_table_size_implied_by_one_level():
    config = _config()
    model = PanguModel(config)
    (_, h1, _), (_, h2, _) = pangu_token_grids(config)
    wz, wh, ww = config.effective_window_size
    rows = (2 * ww - 1) * wh * wh * wz * wz
    assert rows == 15 * 16
    for layer, h in ((model.layer1, h1), (model.layer2, h2), (model.layer3, h2), (model.layer4, h1)):
        for block in layer.blocks:
            heads = block.attn.num_heads
            assert block.attn.earth_specific_bias.shape == (rows, -(-h // wh), heads)
    idx = earth_position_index((1, 4, 8))
    assert idx.shape == (32, 32) and int(idx.max()) == rows - 1


def test_shapes_upper_none_or_empty_and_stacked():
    torch.manual_seed(0)
    config = _config()
    model = PanguModel(config).eval()
    surface = _surface(config)
    masks = torch.randn(1, *config.grid)
    with torch.no_grad():
        up_none, sfc_none = model(None, surface, masks)
        up_empty, sfc_empty = model(torch.zeros(2, 0, 1, *config.grid), surface, masks)
        stacked = model.forward_stacked(surface, masks)
    assert up_none.shape == (2, 0, 1, 16, 32) and sfc_none.shape == surface.shape
    assert torch.isfinite(sfc_none).all()
    assert torch.equal(sfc_none, sfc_empty) and torch.equal(up_none, up_empty)
    assert torch.equal(stacked, sfc_none)
    up, sfc = model.split_channels(surface)
    assert up.shape == (2, 0, 1, 16, 32) and torch.equal(sfc, surface)


def test_batch_permutation_equivariance():
    torch.manual_seed(0)
    config = _config()
    model = PanguModel(config).eval()
    surface = _surface(config, batch=4)
    masks = torch.randn(4, 1, *config.grid)
    perm = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        out = model.forward_stacked(surface, masks)
        out_perm = model.forward_stacked(surface[perm], masks[perm])
    torch.testing.assert_close(out_perm, out[perm], atol=1e-6, rtol=1e-5)


def test_longitude_roll_by_whole_windows_is_equivariant():
    """Stage-1 tokens 16, stage-2 tokens 8 in longitude (multiples of w_w = 4, 8): a roll by
    patch · 2 · w_w = 16 grid points is a whole stage-2 window."""
    torch.manual_seed(0)
    config = _config(window_size=(1, 4, 4), grid=(16, 32))
    model = PanguModel(config).eval()
    surface = _surface(config, batch=1)
    masks = torch.randn(1, *config.grid)
    check_roll_equivariance(model.forward_stacked, (surface, masks), shifts=(16,), atol=2e-5)
    # control: one patch (2 grid points) is not a whole window, so the output is not simply rolled
    assert roll_error(model.forward_stacked, (surface, masks), 2) > 1e-3


def test_gradient_flow_all_parameters():
    torch.manual_seed(0)
    config = _config()
    model = PanguModel(config).train()
    surface = _surface(config)
    out = model.forward_stacked(surface, torch.randn(1, *config.grid))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
        if name.endswith("earth_specific_bias"):  # every window type is used
            assert p.grad.abs().sum(dim=(0, 2)).gt(0).all(), name
    model.zero_grad()
    empty = torch.zeros(2, 0, 1, *config.grid)
    grads = check_gradients(model, (empty, surface), forward=lambda m, u, s: m(u, s)[1])
    assert len(grads) == len(list(model.parameters()))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    config = _config()
    model = PanguModel(config).eval()
    model.set_constant_masks(torch.randn(1, *config.grid))
    loaded, _ = check_save_load(model, (None, _surface(config)), tmp_path)
    assert isinstance(loaded, PanguModel) and loaded.config == config


def test_bad_inputs():
    with pytest.raises(EmulatorInputError, match=r"n_upper_vars = 0 and n_surface_vars = 0"):
        _config(n_surface_vars=0)
    with pytest.raises(EmulatorInputError, match="n_upper_vars must be an integer >= 0"):
        _config(n_upper_vars=-1)
    with pytest.raises(EmulatorInputError, match="n_surface_vars must be an integer >= 1"):
        _config(n_upper_vars=2, n_surface_vars=0)
    config = _config(n_masks=0)
    model = PanguModel(config)
    surface = _surface(config)
    with pytest.raises(EmulatorInputError, match=r"surface: .*\(2 variables instead of 3\)"):
        model(None, surface[:, :2])
    with pytest.raises(EmulatorInputError, match=r"upper: expected shape \(B, 0, 1, 16, 32\)"):
        model(torch.zeros(2, 1, 1, 16, 32), surface)
    with pytest.raises(EmulatorInputError, match=r"expected shape \(B, 3, 16, 32\)"):
        model.forward_stacked(torch.zeros(2, 4, 16, 32))
    with pytest.raises(EmulatorInputError, match="surface batch 2 differs from upper batch 1"):
        model(torch.zeros(1, 0, 1, 16, 32), surface)
    upper_model = PanguModel(_config(n_upper_vars=1, window_size=(2, 4, 8), patch_size=(2, 2, 2)))
    with pytest.raises(EmulatorInputError, match="upper: None"):
        upper_model(None, surface)


# ---------------------------------------------------------------- trainer end to end


def _shallow_water_store(path: Path, n_times: int = 24) -> Path:
    """Canonical level-less store: z, u, v on (time, latitude, longitude), 16 × 32, plus static zs."""
    lat = np.linspace(87.0, -87.0, 16)
    lon = np.arange(32) * 11.25
    time_ = pd.date_range("2001-01-01", periods=n_times, freq="6h").values
    t = np.arange(n_times)[:, None, None]
    phase = 2 * np.pi * lon[None, None, :] / 360.0 - t * 2 * np.pi / 12
    coslat = np.cos(np.deg2rad(lat))[None, :, None]
    z = 9.81 * (8000 + 100 * coslat * np.sin(2 * phase))
    u = 10 * coslat * np.cos(2 * phase)
    v = 5 * coslat * np.sin(phase)
    zs = 9.81 * 500 * np.exp(-((lat[:, None] - 30) ** 2) / 400 - ((lon[None, :] - 90) ** 2) / 1000)
    dims = ("time", "latitude", "longitude")
    ds = xr.Dataset(
        {
            "z": (dims, z.astype(np.float32), {"units": "m**2 s**-2"}),
            "u": (dims, np.broadcast_to(u, z.shape).astype(np.float32), {"units": "m s**-1"}),
            "v": (dims, np.broadcast_to(v, z.shape).astype(np.float32), {"units": "m s**-1"}),
            "zs": (("latitude", "longitude"), zs.astype(np.float32), {"units": "m**2 s**-2"}),
        },
        coords={"time": time_, "latitude": lat, "longitude": lon},
    )
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


@pytest.mark.parametrize("constants", [[], ["zs"]])
def test_trainer_fits_checkpoint_loads_and_rolls_out(tmp_path, constants):
    from chaosbench_py.data import open_gridded
    from chaosbench_py.evaluation import rollout_gridded
    from chaosbench_py.training.trainer import Trainer
    from emulators import load_model

    start = time.perf_counter()
    store = _shallow_water_store(tmp_path / "sw.zarr")
    cfg = {
        "model": {"name": "pangu", "config": {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [2, 2, 2, 2],
                                              "window_size": [1, 4, 8], "patch_size": [1, 2, 2]}},
        "data": {"kind": "gridded", "path": str(store), "variables": ["z", "u", "v"], "constants": constants,
                 "train": ["2001-01-01", "2001-01-04"], "valid": ["2001-01-05", "2001-01-06"]},
        "task": {"kind": "next_step"},
        "optimizer": {"name": "adamw", "lr": 1e-3},
        "train": {"steps": 3, "batch_size": 4, "checkpoint_every": 0, "log_every": 1, "progress": False},
    }  # fmt: skip
    Trainer(cfg, tmp_path / "run").fit()
    model, extra = load_model(tmp_path / "run" / "model.pt")
    model.eval()
    assert isinstance(model, PanguModel)
    c = model.config
    assert (c.n_upper_vars, c.n_surface_vars, c.n_masks, c.grid) == (0, 3, len(constants), (16, 32))
    assert pangu_token_grids(c)[0] == (1, 8, 16)
    data = open_gridded(store)
    fc = rollout_gridded(
        model,
        data,
        variables=["z", "u", "v"],
        statistics=xr.Dataset(
            {
                key: ("channel", np.asarray(extra["normalisation"][key], dtype=np.float64))
                for key in ("mean", "std")
            },
            coords={"channel": list(extra["channel_names"])},
        ),
        constants={k: data[k] for k in constants} or None,
        init_times=data["time"].values[[20]],
        n_steps=1,
    )
    for name in ("z", "u", "v"):
        assert fc[name].sizes["latitude"] == 16 and fc[name].sizes["longitude"] == 32
        assert np.isfinite(fc[name].values).all()
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("upper_vars", [0, 2])
def test_residual_pangu_adds_the_input_to_what_the_network_predicts(upper_vars):
    cfg = _config(residual=True, n_upper_vars=upper_vars, n_levels=2 if upper_vars else 1,
                  patch_size=(2, 2, 2), window_size=(2, 4, 8))  # fmt: skip
    torch.manual_seed(0)
    model = PanguModel(cfg).eval()
    plain = PanguModel(_config(n_upper_vars=upper_vars, n_levels=cfg.n_levels, patch_size=(2, 2, 2),
                               window_size=(2, 4, 8))).eval()  # fmt: skip
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, cfg.n_surface_vars + upper_vars * cfg.n_levels, *cfg.grid)
    masks = torch.randn(1, *cfg.grid)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_stacked(x, masks), plain.forward_stacked(x, masks) + x)
        for conv in (model.recovery.conv_surface, model.recovery.conv):
            if conv is not None:
                conv.weight.zero_()
                conv.bias.zero_()
        torch.testing.assert_close(
            model.forward_stacked(x, masks), x, rtol=0, atol=0
        )  # zero increment: identity
    with pytest.raises(EmulatorInputError, match="residual"):
        _config(residual="yes")
