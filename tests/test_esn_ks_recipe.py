"""Recipe ``esn-ks`` (chaosbench_py/reproduce/spatiotemporal.py): data and VPT scoring, cheap parts."""

from __future__ import annotations

import numpy as np
from model_harness import single_thread  # noqa: F401  (autouse fixture)

from chaosbench_py.reproduce.registry import Budget, get_recipe
from chaosbench_py.reproduce.spatiotemporal import DT, KS_LAMBDA1, _fit_esn, _prepare, nrmse_vpt


def test_nrmse_vpt_counts_leading_steps_below_half_in_lyapunov_times():
    true = np.zeros((2, 10, 3))
    pred = true.copy()
    pred[0, 4:] = 0.6  # NRMSE 0.6 from step 4 on
    vpt, err = nrmse_vpt(true, pred, np.ones(3))
    np.testing.assert_allclose(vpt, [4 * DT * KS_LAMBDA1, 10 * DT * KS_LAMBDA1])
    assert err.shape == (2, 10) and np.isclose(err[0, 4], 0.6)


def test_data_has_zero_spatial_mean_and_the_esn_is_pathak_style(tmp_path):
    recipe = get_recipe("esn-ks")
    tiny = recipe.budgets["tiny"]
    params = {**tiny.params, "train_steps": 300, "n_test": 2, "horizon": 40, "rc_dim": 128}
    budget = Budget("t", tiny.steps, params)
    data = _prepare(tmp_path / "data", None, budget)
    # KS conserves the spatial mean; train and held-out runs must share it (zero), else a Galilean drift
    assert abs(data["train"].mean(axis=1)).max() < 1e-6
    assert abs(data["test"].mean(axis=2)).max() < 1e-9
    assert data["constants"]["lambda1"] == KS_LAMBDA1
    model = _fit_esn(data, budget, seed=0)
    cfg = model.config
    assert (cfg.input_connectivity, cfg.squared_half, cfg.leak_rate, cfg.bias_scaling) == (
        "one_per_node",
        True,
        1,
        0,
    )
    assert ((model.w_in != 0).sum(1) == 1).all() and bool(model.fitted)
