"""``data.smoothing_window``: Savitzky–Golay denoising of trajectory training data (sequence tasks)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chaosbench_py.errors import ConfigError
from chaosbench_py.training import config_from_dict
from chaosbench_py.training.tasks import GTFTask


def _cfg(**data):
    return config_from_dict({
        "model": {"name": "shplrnn", "config": {"latent_dim": 3, "hidden_dim": 8}},
        "data": {"kind": "trajectories", "path": "<in memory>", "train_fraction": 0.75, **data},
        "task": {"kind": "gtf", "gtf": {"sequence_length": 10}},
        "train": {"steps": 1, "batch_size": 2},
    })  # fmt: skip


def _local_cubic_fit(y: np.ndarray, centre: int, half: int, order: int) -> np.ndarray:
    """Independent Savitzky–Golay value: least-squares polynomial through the window, read at its centre."""
    t = np.arange(-half, half + 1, dtype=np.float64)
    return np.array([np.polyval(np.polyfit(t, y[centre - half : centre + half + 1, j], order), 0.0)
                     for j in range(y.shape[1])])  # fmt: skip


def test_training_and_held_out_parts_are_smoothed_separately_by_local_polynomial_fits():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 20, 800)
    clean = np.stack([np.sin(t), np.cos(0.7 * t), 0.1 * t], axis=1)
    noisy = clean + 0.05 * rng.standard_normal(clean.shape)
    task = GTFTask(_cfg(smoothing_window=21, smoothing_order=3), torch.device("cpu"), series=noisy,
                   dtype=torch.float64)  # fmt: skip
    train, held = task.train[0].numpy(), task.valid[0].numpy()
    assert train.shape == (600, 3) and held.shape == (200, 3)
    for centre in (10, 300, 589):  # interior points of the training part
        np.testing.assert_allclose(train[centre], _local_cubic_fit(noisy[:600], centre, 10, 3), atol=1e-10)
    np.testing.assert_allclose(held[50], _local_cubic_fit(noisy[600:], 50, 10, 3), atol=1e-10)
    # the noise is mostly removed, the signal kept
    assert np.std(train - clean[:600]) < 0.4 * np.std(noisy[:600] - clean[:600])


def test_off_by_default_leaves_the_series_untouched():
    x = np.random.default_rng(1).standard_normal((200, 3))
    task = GTFTask(_cfg(), torch.device("cpu"), series=x, dtype=torch.float64)
    np.testing.assert_array_equal(task.train[0].numpy(), x[:150])


@pytest.mark.parametrize(
    ("data", "fragment"),
    [({"smoothing_window": 20}, "odd number of points"),
     ({"smoothing_window": 3, "smoothing_order": 3}, "odd number of points > data.smoothing_order (3)"),
     ({"smoothing_window": -5}, "got -5")],
)  # fmt: skip
def test_bad_windows_are_config_errors_naming_the_key(data, fragment):
    with pytest.raises(ConfigError, match="data.smoothing_window") as info:
        _cfg(**data)
    assert fragment in str(info.value)


def test_gridded_data_cannot_be_smoothed():
    with pytest.raises(
        ConfigError, match="data.smoothing_window: smoothing applies to data.kind 'trajectories' only"
    ):
        config_from_dict(
            {"model": {"name": "fno"}, "data": {"kind": "gridded", "path": "x.zarr", "smoothing_window": 5}}
        )


def test_a_series_shorter_than_the_window_names_the_part():
    x = np.random.default_rng(2).standard_normal((60, 3))
    with pytest.raises(ConfigError, match="held-out part of trajectory 0 has 15 points < the window 21"):
        GTFTask(_cfg(smoothing_window=21), torch.device("cpu"), series=x, dtype=torch.float64)
