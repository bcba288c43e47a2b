"""Every registered model and the other public entry points of ``emulators``: bad tensors and bad calls raise
:class:`~emulators.EmulatorInputError` naming what was expected and what was given (split from
``test_models_registry.py``, whose small configs they use)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from model_harness import single_thread  # noqa: F401  (autouse fixture)
from test_models_registry import build_small

import emulators
from emulators import EmulatorInputError, list_models


# ----------------------------------------------------------------------------------- bad tensors
def _with(name: str, make: Callable[[tuple], tuple], method: str | None = None):
    def run():
        model, args = build_small(name)
        fn = getattr(model, method) if method else model
        return fn(*make(args))

    return run


BAD_TENSORS = [
    # (id, call, expected fragments of the message: expected and got shapes)
    ("fno-rank", _with("fno", lambda a: (a[0][0],)), ["(batch, 2, n_lat, n_lon)", "(2, 8, 12)"]),
    (
        "fno-channels",
        _with("fno", lambda a: (a[0][:, :1],)),
        ["(batch, 2, n_lat, n_lon)", "1 channels instead of 2"],
    ),
    ("fno-int", _with("fno", lambda a: (a[0].long(),)), ["floating-point", "torch.int64"]),
    ("fno-numpy", _with("fno", lambda a: (a[0].numpy(),)), ["torch.Tensor", "ndarray"]),
    ("fno-float64", _with("fno", lambda a: (a[0].double(),)), ["torch.float64", "model.to"]),
    ("fno-empty", _with("fno", lambda a: (a[0][:0],)), ["empty", "(0, 2, 8, 12)"]),
    ("sfno-grid", _with("sfno", lambda a: (a[0][..., :15],)), ["(batch, 2, 8, 16)", "(2, 2, 8, 15)"]),
    ("sfno-lat", _with("sfno", lambda a: (a[0][:, :, :6],)), ["6 latitudes instead of 8"]),
    ("unet-channels", _with("unet", lambda a: (a[0][:, :1],)), ["(batch, 2, lat, lon)", "(2, 1, 8, 8)"]),
    ("unet-small-grid", _with("unet", lambda a: (a[0][..., :1, :1],)), ["too small", "(1, 1)"]),
    (
        "resnet-rank",
        _with("resnet", lambda a: (a[0][:, :, None],)),
        ["(batch, 2, lat, lon)", "(2, 2, 1, 16, 16)"],
    ),
    (
        "persistence-channels",
        _with("persistence", lambda a: (a[0][:, :2],)),
        ["(batch, 3, lat, lon)", "(2, 2, 4, 8)"],
    ),
    (
        "climatology-grid",
        _with("climatology", lambda a: (a[0][..., :7], a[1])),
        ["(batch, 2, 4, 8)", "(3, 2, 4, 7)"],
    ),
    ("climatology-doy", _with("climatology", lambda a: (a[0], torch.tensor([0, 1, 2]))), ["doy", "1 … 366"]),
    (
        "climatology-doy-count",
        _with("climatology", lambda a: (a[0], torch.tensor([1, 2]))),
        ["doy", "expected 3"],
    ),
    (
        "pangu-levels",
        _with("pangu", lambda a: (a[0][:, :, :1], a[1])),
        ["(B, 2, 2, 16, 32)", "(2, 2, 1, 16, 32)"],
    ),
    (
        "pangu-surface",
        _with("pangu", lambda a: (a[0], a[1][..., :30])),
        ["surface", "30 longitudes instead of 32"],
    ),
    ("pangu-batch", _with("pangu", lambda a: (a[0], a[1][:1])), ["surface batch 1", "upper batch 2"]),
    ("pangu-masks", _with("pangu", lambda a: (a[0], a[1], torch.zeros(2, 16, 32))), ["masks", "(2, 16, 32)"]),
    (
        "pangu-stacked",
        _with("pangu", lambda a: (torch.zeros(2, 4, 16, 32),), "forward_stacked"),
        ["(B, 5, 16, 32)", "(2, 4, 16, 32)"],
    ),  # fmt: skip
    ("shplrnn-dim", _with("shplrnn", lambda a: (a[0][:, :2], a[1])), ["(..., 3)", "(2, 2)"]),
    ("shplrnn-steps", _with("shplrnn", lambda a: (a[0], -1)), ["n_steps", "-1"]),
    ("shplrnn-no-steps", _with("shplrnn", lambda a: (a[0],)), ["n_steps", "needs the number of steps"]),
    ("shplrnn-series", _with("shplrnn", lambda a: (torch.zeros(2, 10, 5),)), ["(..., 3)", "(2, 10, 5)"]),
    (
        "neural_ode-no-steps",
        _with("neural_ode", lambda a: (a[0],)),
        ["n_steps", "needs the number of output steps"],
    ),
    ("neural_ode-dim", _with("neural_ode", lambda a: (a[0][:, :2], a[1])), ["(B, 3) or (3,)", "(2, 2)"]),
    ("neural_ode-steps", _with("neural_ode", lambda a: (a[0], 2.5)), ["n_steps", "2.5"]),
    ("esn-dim", _with("esn", lambda a: (a[0][..., :1], 3)), ["(T, 2) or (B, T, 2)", "(1, 40, 1)"]),
    ("esn-nan", _with("esn", lambda a: (a[0] * float("nan"), 3)), ["warmup", "NaN"]),
    ("nvar-short", _with("nvar", lambda a: (a[0][:, :1], 3)), ["warmup", "at least 2 time steps", "got 1"]),
    ("phyxmamba-vars", _with("phyxmamba", lambda a: (a[0][..., :2],)), ["(batch, time, 3)", "(2, 10, 2)"]),
    ("phyxmamba-length", _with("phyxmamba", lambda a: (a[0][:, :7],)), ["multiple of token_size=5", "7"]),
    ("phyxmamba-forecast", _with("phyxmamba", lambda a: (a[0], 0), "forecast"), ["n_steps", "0"]),
]


@pytest.mark.parametrize(("call", "fragments"), [c[1:] for c in BAD_TENSORS], ids=[c[0] for c in BAD_TENSORS])
def test_bad_tensor_names_expected_and_got(call, fragments):
    with pytest.raises(EmulatorInputError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_bad_tensors_cover_every_model():
    covered = {c[0].split("-")[0] for c in BAD_TENSORS}
    assert covered == set(list_models()), set(list_models()) - covered


# ----------------------------------------------------------------------------------- other entry points
def _pxm():
    return build_small("phyxmamba")[0]


BAD_API_CALLS = [
    (
        "rollout-not-callable",
        lambda: emulators.rollout_hierarchical({6: "model.pt"}, 0, 6),
        ["lead(s) [6]", "str"],
    ),
    ("rollout-unreachable", lambda: emulators.rollout_hierarchical({6: lambda x: x}, 0, 5), ["lead_hours=5"]),
    ("plan-lead-negative", lambda: emulators.plan_lead(-5), ["lead_hours", "-5"]),
    (
        "gridded-step-n-dynamic",
        lambda: emulators.gridded_step(torch.nn.Identity(), torch.zeros(1, 3, 4, 8), 4),
        ["n_dynamic", "1 … 3", "4"],
    ),  # fmt: skip
    (
        "gridded-step-rank",
        lambda: emulators.gridded_step(torch.nn.Identity(), torch.zeros(3, 4, 8)),
        ["(3, 4, 8)"],
    ),
    ("pangu-preset-unknown", lambda: emulators.pangu_preset("tiny"), ["'tiny'", "cpu"]),
    ("pangu-preset-typo", lambda: emulators.pangu_preset("cpu", windw_size=(2, 4, 8)), ["windw_size"]),
    ("pangu-mlp-str", lambda: emulators.pangu_preset("cpu", mlp_ratio="4"), ["PanguConfig.mlp_ratio", "'4'"]),
    (
        "pangu-levels-float",
        lambda: emulators.pangu_preset("cpu", n_levels=5.0),
        ["PanguConfig.n_levels", "5.0"],
    ),
    (
        "pangu-masks-nan",
        lambda: build_small("pangu")[0].set_constant_masks(torch.full((1, 16, 32), float("nan"))),
        ["masks", "NaN"],
    ),  # fmt: skip
    ("phyxmamba-preset-typo", lambda: emulators.phyxmamba_preset("lorenz63", "cpu", d_modl=8), ["d_modl"]),
    ("phyxmamba-dropout-str", lambda: emulators.PhyxMambaConfig(dropout="0.1"), ["dropout", "'0.1'"]),
    (
        "phyxmamba-norm-nan",
        lambda: _pxm().set_normalization([0, float("nan"), 0], [1, 1, 1]),
        ["finite", "nan"],
    ),
    ("phyxmamba-norm-std", lambda: _pxm().set_normalization([0, 0, 0], [1, 0, 1]), ["std", "> 0"]),
    (
        "phyxmamba-norm-count",
        lambda: _pxm().set_normalization([0, 0], [1, 1]),
        ["expected 3 values", "got 2"],
    ),
    ("phyxmamba-rollout-0", lambda: _pxm().rollout(torch.zeros(1, 10, 3), 0), ["n_patches", "0"]),
    ("mamba-dt", lambda: emulators.MambaConfig(dt_min=0.5, dt_max=0.1), ["MambaConfig.dt_max", "> 0.5"]),
    ("mamba-A-range", lambda: emulators.MambaConfig(A_init_range=(0, 1)), ["A_init_range[0]", "> 0"]),
    (
        "mamba-u",
        lambda: emulators.Mamba2(emulators.MambaConfig(d_model=8, headdim=4))(torch.zeros(2, 5, 7)),
        ["u:", "(batch, length, 8)", "(2, 5, 7)"],
    ),  # fmt: skip
    (
        "mamba-cache",
        lambda: emulators.Mamba2(emulators.MambaConfig(d_model=8, headdim=4)).step(
            torch.zeros(2, 8), (1, 2, 3)
        ),
        ["cache", "(conv_state, ssm_state)"],
    ),  # fmt: skip
    (
        "ridge-nan",
        lambda: emulators.ridge_regression(torch.full((5, 2), float("nan")), torch.zeros(5, 1), 0.1),
        ["NaN or infinite"],
    ),  # fmt: skip
    (
        "ridge-shapes",
        lambda: emulators.ridge_regression(torch.zeros(5, 2), torch.zeros(4, 1), 0.1),
        ["(5, 2)", "(4, 1)"],
    ),
    (
        "ridge-negative",
        lambda: emulators.ridge_regression(torch.zeros(5, 2), torch.zeros(5, 1), -1.0),
        ["ridge", "-1.0"],
    ),
    (
        "esn-r0",
        lambda: build_small("esn")[0].listen(torch.zeros(20, 2), r0=torch.zeros(3)),
        ["r0", "(20,)", "(3,)"],
    ),
    (
        "esn-washout",
        lambda: build_small("esn")[0].fit(torch.zeros(50, 2), washout=100),
        ["at least 102 time steps"],
    ),
    (
        "esn-unfitted",
        lambda: emulators.build_model("esn", {"reservoir_dim": 10}).predict(torch.zeros(5, 3), 3),
        ["not fitted", "fit(series)"],
    ),  # fmt: skip
    (
        "shplrnn-generate",
        lambda: build_small("shplrnn")[0].generate(torch.zeros(1, 2), "5"),
        ["n_steps", "'5'"],
    ),
    ("delay-embed", lambda: emulators.delay_embed_causal(torch.zeros(1, 5, 2), 0, 1), ["embedding_dim", "0"]),
]


@pytest.mark.parametrize(
    ("call", "fragments"), [c[1:] for c in BAD_API_CALLS], ids=[c[0] for c in BAD_API_CALLS]
)
def test_bad_calls_of_other_entry_points(call, fragments):
    with pytest.raises(EmulatorInputError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_not_fitted_is_still_a_runtime_error():
    """Code that caught RuntimeError for an unfitted reservoir keeps working."""
    with pytest.raises(RuntimeError, match="not fitted"):
        emulators.build_model("nvar", {}).predict(torch.zeros(5, 3), 3)
