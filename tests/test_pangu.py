"""Pangu-style 3D Earth-specific transformer (emulators.pangu)."""

from __future__ import annotations

import itertools
import math
import time

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

from emulators import EmulatorInputError
from emulators.pangu import (
    MASK_VALUE,
    EarthAttention3D,
    EarthSpecificBlock,
    PanguConfig,
    PanguModel,
    earth_position_index,
    pangu_preset,
    pangu_token_grids,
    shifted_window_mask,
)
from emulators.registry import build_model


def _inputs(config: PanguConfig, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    upper = torch.randn(batch, config.n_upper_vars, config.n_levels, *config.grid, generator=g)
    surface = torch.randn(batch, config.n_surface_vars, *config.grid, generator=g)
    return upper, surface


# ---------------------------------------------------------------- shapes and contract


@pytest.mark.parametrize("grid", [(32, 64), (121, 240), (37, 50)])
def test_shapes_on_several_grids(grid):
    torch.manual_seed(0)
    config = pangu_preset("cpu", grid=grid)
    model = PanguModel(config).eval()
    upper, surface = _inputs(config)
    with torch.no_grad():
        out_up, out_sfc = model(upper, surface)
    assert out_up.shape == upper.shape and out_sfc.shape == surface.shape
    assert torch.isfinite(out_up).all() and torch.isfinite(out_sfc).all()


def test_token_grids_paper_and_lite():
    assert pangu_token_grids(pangu_preset("paper")) == ((8, 181, 360), (8, 91, 180))
    assert pangu_token_grids(pangu_preset("lite")) == ((8, 91, 180), (8, 46, 90))
    assert pangu_token_grids(pangu_preset("paper", grid=(121, 240))) == ((8, 31, 60), (8, 16, 30))


def test_odd_levels_and_variables():
    torch.manual_seed(0)
    config = pangu_preset("cpu", grid=(20, 36), n_levels=3, n_upper_vars=2, n_surface_vars=1, n_masks=0)
    model = PanguModel(config).eval()
    upper, surface = _inputs(config, batch=1)
    out_up, out_sfc = model(upper, surface)
    assert out_up.shape == (1, 2, 3, 20, 36) and out_sfc.shape == (1, 1, 20, 36)


def test_stacked_helper_matches_forward():
    torch.manual_seed(0)
    config = pangu_preset("cpu")
    model = PanguModel(config).eval()
    upper, surface = _inputs(config)
    stacked = PanguModel.merge_channels(upper, surface)
    assert stacked.shape == (2, 4 + 5 * 5, 32, 64)
    up2, sfc2 = model.split_channels(stacked)
    assert torch.equal(up2, upper) and torch.equal(sfc2, surface)
    with torch.no_grad():
        assert torch.equal(model.forward_stacked(stacked), PanguModel.merge_channels(*model(upper, surface)))


def test_masks_buffer_and_argument():
    torch.manual_seed(0)
    config = pangu_preset("cpu")
    model = PanguModel(config).eval()
    upper, surface = _inputs(config)
    masks = torch.randn(3, 32, 64)
    with torch.no_grad():
        without = model(upper, surface)[1]
        with_arg = model(upper, surface, masks)[1]
        model.set_constant_masks(masks)
        with_buffer = model(upper, surface)[1]
        batched = model(upper, surface, masks.expand(2, -1, -1, -1))[1]
    assert not torch.allclose(without, with_arg)
    assert torch.equal(with_arg, with_buffer) and torch.equal(with_arg, batched)


def test_bad_inputs_name_the_argument():
    config = pangu_preset("cpu")
    model = PanguModel(config)
    upper, surface = _inputs(config)
    with pytest.raises(
        EmulatorInputError, match=r"upper: expected shape \(B, 5, 5, 32, 64\), got \(2, 5, 4, 32, 64\)"
    ):
        model(upper[:, :, :4], surface)
    with pytest.raises(
        EmulatorInputError, match=r"surface: .*got \(2, 4, 32, 63\) \(63 longitudes instead of 64\)"
    ):
        model(upper, surface[..., :63])
    with pytest.raises(EmulatorInputError, match=r"expected shape \(B, 29, 32, 64\), got \(2, 28, 32, 64\)"):
        model.forward_stacked(torch.zeros(2, 28, 32, 64))
    with pytest.raises(ValueError, match="masks"):
        model(upper, surface, torch.zeros(2, 32, 64))
    with pytest.raises(ValueError, match="masks"):
        model.set_constant_masks(torch.zeros(3, 32, 65))
    with pytest.raises(ValueError, match="num_heads"):
        pangu_preset("cpu", num_heads=(5, 4, 4, 2))
    with pytest.raises(ValueError, match="window_size"):
        pangu_preset("cpu", window_size=(2, 4))
    with pytest.raises(ValueError, match="norm_placement"):
        pangu_preset("cpu", norm_placement="middle")
    with pytest.raises(KeyError, match="windw_size"):
        pangu_preset("cpu", windw_size=(2, 4, 8))
    with pytest.raises(KeyError, match="preset"):
        pangu_preset("huge")


def test_registry_builds_from_dict_with_lists():
    model = build_model("pangu", {**vars(pangu_preset("cpu")), "window_size": [2, 4, 8]})
    assert isinstance(model, PanguModel) and model.config.window_size == (2, 4, 8)


# ---------------------------------------------------------------- parameters


def _expected_parameter_count(cfg: PanguConfig) -> int:
    """Independent count from the layer list in reference/weather.md A2–A4."""
    c, (pz, ph, pw), (wz, wh, ww) = cfg.embed_dim, cfg.patch_size, cfg.window_size
    (z, h1, _), (_, h2, _) = pangu_token_grids(cfg)
    table_rows = (2 * ww - 1) * wh * wh * wz * wz

    def block(d: int) -> int:  # 2 LayerNorms, qkv, proj, MLP
        hidden = int(d * cfg.mlp_ratio)
        return 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d)

    def types(h: int) -> int:  # window types: pressure windows x latitude windows
        return math.ceil(z / wz) * math.ceil(h / wh)

    d1, d2, d3, d4 = cfg.depths
    n1, n2, n3, n4 = cfg.num_heads
    total = cfg.n_upper_vars * pz * ph * pw * c + c + (cfg.n_surface_vars + cfg.n_masks) * ph * pw * c + c
    total += d1 * (block(c) + table_rows * types(h1) * n1) + d4 * (block(c) + table_rows * types(h1) * n4)
    total += d2 * (block(2 * c) + table_rows * types(h2) * n2) + d3 * (
        block(2 * c) + table_rows * types(h2) * n3
    )
    total += 2 * 4 * c + 4 * c * 2 * c  # DownSample: LayerNorm(4C), Linear(4C -> 2C)
    total += 2 * c * 4 * c + 2 * c + c * c  # UpSample: Linear(2C -> 4C), LayerNorm(C), Linear(C -> C)
    total += 2 * c * cfg.n_upper_vars * pz * ph * pw + cfg.n_upper_vars  # ConvTranspose3d
    total += 2 * c * cfg.n_surface_vars * ph * pw + cfg.n_surface_vars  # ConvTranspose2d
    return total


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_cpu_matches_formula():
    for grid in [(32, 64), (121, 240)]:
        config = pangu_preset("cpu", grid=grid)
        assert _count(PanguModel(config)) == _expected_parameter_count(config)


def test_paper_parameter_count(capsys):
    with torch.device("meta"):
        paper = PanguModel(pangu_preset("paper"))
        lite = PanguModel(pangu_preset("lite"))
    n_paper, n_lite = _count(paper), _count(lite)
    bias = sum(p.numel() for name, p in paper.named_parameters() if name.endswith("earth_specific_bias"))
    with capsys.disabled():
        print(f"\nPangu paper config at 0.25 deg: {n_paper:,} parameters ({bias:,} Earth-specific bias)")
        print(f"Pangu lite config at 0.25 deg: {n_lite:,} parameters")
    assert abs(n_paper - 64.2e6) / 64.2e6 < 0.02
    # physicsnemo's Pangu() counts (reference/weather.md A4, A9): 64,220,169 / 44,603,913, bias 40,379,904
    assert n_paper == 64_220_169 and n_lite == 44_603_913 and bias == 40_379_904
    assert n_paper == _expected_parameter_count(pangu_preset("paper"))
    shapes = {tuple(p.shape) for name, p in paper.named_parameters() if name.endswith("earth_specific_bias")}
    assert shapes == {(3312, 124, 6), (3312, 64, 12)}


# ---------------------------------------------------------------- Earth-specific bias


@pytest.mark.parametrize("window", [(2, 6, 12), (2, 4, 8), (1, 3, 5), (3, 2, 2)])
def test_bias_index_matches_published_formula(window):
    wz, wh, ww = window
    idx = earth_position_index(window)
    n = wz * wh * ww
    assert idx.shape == (n, n) and idx.dtype == torch.int64
    coords = list(itertools.product(range(wz), range(wh), range(ww)))  # C order over (z, h, w)
    for i, (zi, hi, wi) in enumerate(coords):
        for j, (zj, hj, wj) in enumerate(coords):
            direct = (
                (zi + wz * zj) * (2 * ww - 1) * wh * wh + (hi + wh * hj) * (2 * ww - 1) + (wi - wj + ww - 1)
            )
            assert idx[i, j] == direct
    # absolute pairs in pressure/latitude and relative longitude use every table row exactly as often
    # as the longitude offset occurs
    rows = (2 * ww - 1) * wh * wh * wz * wz
    assert idx.min() == 0 and idx.max() == rows - 1
    assert torch.unique(idx).numel() == rows


def test_bias_gather_and_sharing_across_longitude():
    torch.manual_seed(0)
    attn = EarthAttention3D(dim=8, num_heads=2, window_size=(2, 2, 3), n_window_types=5)
    bias = attn.bias()
    assert bias.shape == (5, 2, 12, 12)
    idx = earth_position_index((2, 2, 3))
    table = attn.earth_specific_bias
    for t, h, i, j in [(0, 0, 0, 0), (4, 1, 11, 3), (2, 0, 5, 7)]:
        assert bias[t, h, i, j] == table[idx[i, j], t, h]
    # same relative longitude offset, same absolute (z, h) pairs -> same bias
    # token (z, h, w) -> 6 z + 3 h + w ; pairs (w_i, w_j) = (0, 1) and (1, 2)
    assert torch.equal(bias[:, :, 0, 1], bias[:, :, 1, 2])


def test_attention_matches_explicit_computation():
    torch.manual_seed(0)
    attn = EarthAttention3D(dim=8, num_heads=2, window_size=(2, 2, 2), n_window_types=3)
    with torch.no_grad():
        attn.earth_specific_bias.normal_()  # make the bias matter
    x = torch.randn(2, 3, 4, 8, 8)  # (B, T, nW, N, C)
    mask = torch.where(torch.rand(3, 8, 8) < 0.3, MASK_VALUE, 0.0)
    mask.diagonal(dim1=1, dim2=2).zero_()
    out = attn(x, mask)
    w = attn.qkv.weight.view(3, 2, 4, 8)
    b = attn.qkv.bias.view(3, 2, 4)
    q = torch.einsum("btwnc,hdc->btwhnd", x, w[0]) + b[0][:, None]
    k = torch.einsum("btwnc,hdc->btwhnd", x, w[1]) + b[1][:, None]
    v = torch.einsum("btwnc,hdc->btwhnd", x, w[2]) + b[2][:, None]
    logits = q @ k.transpose(-1, -2) / math.sqrt(4) + attn.bias()[None, :, None] + mask[None, :, None, None]
    y = (logits.softmax(-1) @ v).permute(0, 1, 2, 4, 3, 5).reshape(2, 3, 4, 8, 8)
    torch.testing.assert_close(out, attn.proj(y), atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- shifted windows


@pytest.mark.parametrize(
    "padded, window", [((4, 12, 16), (2, 4, 8)), ((8, 12, 24), (2, 6, 12)), ((6, 6, 6), (3, 3, 2))]
)
def test_shifted_mask_against_brute_force(padded, window):
    """Masked iff the +w//2 roll brought the two tokens together across the pressure or latitude ends."""
    mask = shifted_window_mask(padded, window)
    zp, hp, wp = padded
    wz, wh, ww = window
    sz, sh = wz // 2, wh // 2
    nz, nh = zp // wz, hp // wh
    assert mask.shape == (nz * nh, wz * wh * ww, wz * wh * ww)
    for t in range(nz * nh):
        iz, ih = divmod(t, nh)
        tokens = [
            (iz * wz + a, ih * wh + b, c) for a, b, c in itertools.product(range(wz), range(wh), range(ww))
        ]
        for i, (zi, hi, _) in enumerate(tokens):
            for j, (zj, hj, _) in enumerate(tokens):
                # original (unrolled) positions: rolled index r holds original (r - s) mod size
                oz_i, oz_j = (zi - sz) % zp, (zj - sz) % zp
                oh_i, oh_j = (hi - sh) % hp, (hj - sh) % hp
                wrapped = (oz_i - oz_j) != (zi - zj) or (oh_i - oh_j) != (hi - hj)
                assert mask[t, i, j] == (MASK_VALUE if wrapped else 0.0)


def _input_gradient(block, grid, query):
    x = torch.randn(1, *grid, 8, requires_grad=True)
    # a random projection (a plain sum would vanish through the post-norm LayerNorm's zero mean)
    (block(x)[(0, *query)] * torch.randn(8)).sum().backward()
    return x.grad[0].abs().sum(-1)  # (Z, H, W): influence of each input token on the query's output


def test_shifted_block_never_attends_across_pressure_or_latitude_ends_but_wraps_longitude():
    torch.manual_seed(0)
    grid, window = (4, 8, 16), (2, 4, 8)
    shifted = EarthSpecificBlock(8, 2, grid, window, shifted=True)
    plain = EarthSpecificBlock(8, 2, grid, window, shifted=False)
    # query at the first latitude row / lowest level: in the shifted grid it shares a window with the
    # last latitude rows / top levels, which must get exactly zero weight
    influence = _input_gradient(shifted, grid, (0, 0, 0))
    assert influence[:, -2:, :].eq(0).all() and influence[-1:, :, :].eq(0).all()
    # ... while the longitude seam is periodic: the last longitude columns do influence it
    assert influence[0, 0, -4:].gt(0).all()
    # plain windows: w = 0 and w = 15 are in different windows
    influence_plain = _input_gradient(plain, grid, (0, 0, 0))
    assert influence_plain[0, 0, -4:].eq(0).all() and influence_plain[0, 0, 1:8].gt(0).all()
    # interior query of the shifted block: its rolled window holds original rows 2..5 and levels 1..2
    inner = _input_gradient(shifted, grid, (1, 3, 5))
    support = inner.gt(0).nonzero().tolist()
    assert {z for z, _, _ in support} == {1, 2} and {h for _, h, _ in support} == {2, 3, 4, 5}


def test_longitude_roll_by_whole_windows_is_equivariant():
    """Bias shared across longitude windows + periodic longitude shift => rolling the input by a whole
    (stage-2) window in longitude rolls the output by the same amount."""
    torch.manual_seed(0)
    config = pangu_preset(
        "cpu", grid=(16, 64), n_levels=4, patch_size=(2, 2, 2), window_size=(2, 2, 4), embed_dim=16
    )
    # stage-1 tokens 32, stage-2 tokens 16 in longitude: both multiples of 4 (no longitude padding)
    model = PanguModel(config).eval()
    upper, surface = _inputs(config, batch=1)
    masks = torch.randn(3, 16, 64)
    roll = 2 * 2 * 4  # patch_lon * downsample * window_lon grid points
    check_roll_equivariance(model, (upper, surface, masks), shifts=(roll, 2 * roll), atol=2e-5)
    # control: one patch is not a whole window, so the output is not simply rolled
    assert roll_error(model, (upper, surface, masks), 2) > 1e-3


# ---------------------------------------------------------------- training behaviour


def test_gradient_flow_all_parameters():
    torch.manual_seed(0)
    config = pangu_preset("cpu")
    model = PanguModel(config).train()
    grads = check_gradients(model, _inputs(config))
    assert len(grads) == len(list(model.parameters()))
    # every window type of every bias table is used
    for name, grad in grads.items():
        if name.endswith("earth_specific_bias"):
            assert grad.abs().sum(dim=(0, 2)).gt(0).all(), name


def test_activation_checkpointing_gives_same_outputs_and_grads():
    torch.manual_seed(0)
    config = pangu_preset("cpu")
    plain = PanguModel(config).train()
    ckpt = PanguModel(pangu_preset("cpu", use_checkpoint=True)).train()
    ckpt.load_state_dict(plain.state_dict())
    upper, surface = _inputs(config)
    losses = []
    for model in (plain, ckpt):
        out = model(upper, surface)
        loss = out[0].square().mean() + out[1].square().mean()
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_pre_norm_variant_runs():
    config = pangu_preset("cpu", norm_placement="pre")
    upper, surface = _inputs(config, batch=1)
    out = PanguModel(config)(upper, surface)
    assert out[0].shape == upper.shape


def test_bf16_autocast_forward_cpu():
    torch.manual_seed(0)
    config = pangu_preset("cpu")
    model = PanguModel(config).eval()
    (up, sfc), _ = check_bf16_autocast(model, _inputs(config))
    assert up.dtype == torch.bfloat16 and sfc.dtype == torch.bfloat16


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    config = pangu_preset("cpu", grid=(37, 50))
    model = PanguModel(config).eval()
    model.set_constant_masks(torch.randn(3, 37, 50))
    loaded, _ = check_save_load(model, _inputs(config), tmp_path, extra={"channels": "z q t u v"})
    assert isinstance(loaded, PanguModel) and loaded.config == config
    assert torch.equal(loaded.constant_masks, model.constant_masks)


def test_tiny_overfit_one_batch():
    torch.manual_seed(0)
    config = pangu_preset("cpu", grid=(16, 32), n_levels=2, embed_dim=16, window_size=(2, 2, 4), n_masks=0)
    model = PanguModel(config).train()
    start = time.perf_counter()
    check_overfit(
        model,
        _inputs(config, batch=1),
        _inputs(config, batch=1, seed=1),
        max_steps=300,
        lr=3e-3,
        min_steps=20,
    )
    assert time.perf_counter() - start < 60
