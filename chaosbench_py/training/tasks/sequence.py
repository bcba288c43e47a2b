"""The data handling shared by the task kinds that train on low-dimensional trajectories ``(time, dim)``."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
import xarray as xr

from ...data.training_sources import load_sequences, open_trajectory_source
from ...errors import ConfigError
from .base import Task

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = ["SequenceTask"]


def _smooth(series: torch.Tensor, window: int, order: int, what: str) -> torch.Tensor:
    """Savitzky–Golay smoothing of ``series (time, dim)`` along time (``data.smoothing_window``)."""
    from scipy.signal import savgol_filter

    if series.shape[0] < window:
        raise ConfigError(f"data.smoothing_window: {what} has {series.shape[0]} points < the window {window}")
    out = savgol_filter(series.double().cpu().numpy(), window, order, axis=0, mode="interp")
    return torch.as_tensor(out, dtype=series.dtype)


class SequenceTask(Task):
    """Trajectory tasks: the series split in time, optional standardisation, random windows.

    The first ``data.train_fraction`` of every trajectory trains, the rest is held out; with
    ``data.standardize`` every series is shifted by the training mean and divided by the training std
    (per dimension); ``data.smoothing_window`` denoises every part first (Savitzky–Golay,
    :class:`~chaosbench_py.training.config.DataSection`). A step's global batch is ``train.batch_size`` windows of ``window + 1`` points drawn
    uniformly with replacement (trajectory ∝ its number of windows, then start) from a generator seeded
    with ``train.seed``; its state is the data position (the task state in a checkpoint). Every process
    draws the same global batch and keeps windows ``rank, rank + world, …``.

    Args:
        cfg: the run config (``data.path`` is read unless ``series`` is given).
        device: where the series live.
        window: points per window minus one (the steps a window's loss covers).
        series: in-memory data instead of ``data.path`` (anything :func:`chaosbench_py.data.load_sequences`
            takes: array, tensor, DataArray, Dataset).
        dtype: floating dtype of the series (the model's: ``float64`` for a double-precision model).
    """

    data_kinds = ("trajectories",)

    def __init__(
        self,
        cfg: RunConfig,
        device: torch.device,
        window: int,
        series: Any = None,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(cfg, device)
        d = cfg.data
        self.time_step = math.nan  # time units per sample, when the store records its time axis
        if series is None:
            source = open_trajectory_source(d.path)
            if isinstance(source, xr.Dataset) and "time" in source.coords and source.sizes.get("time", 0) > 1:
                t = np.asarray(source["time"].values[:2], dtype=np.float64)
                self.time_step = float(t[1] - t[0])
            series = load_sequences(source, name="data.path", dtype=dtype)
        else:
            series = load_sequences(series, name="data", dtype=dtype)
        self.path = d.path
        self.train_fraction = d.train_fraction
        self.window = window
        self.batch_size = cfg.train.batch_size
        split = [max(int(round(s.shape[0] * d.train_fraction)), 1) for s in series]
        train = [s[:n] for s, n in zip(series, split)]
        held = [s[n:] for s, n in zip(series, split) if s.shape[0] - n > window]
        if d.smoothing_window:
            train = [_smooth(s, d.smoothing_window, d.smoothing_order, f"training part of trajectory {i}")
                     for i, s in enumerate(train)]  # fmt: skip
            held = [_smooth(s, d.smoothing_window, d.smoothing_order, f"held-out part of trajectory {i}")
                    for i, s in enumerate(held)]  # fmt: skip
        cat = torch.cat(train)
        self.mean = cat.mean(0) if d.standardize else torch.zeros(cat.shape[-1], dtype=dtype)
        self.std = cat.std(0) if d.standardize else torch.ones(cat.shape[-1], dtype=dtype)
        self.train = [((s - self.mean) / self.std).to(device) for s in train]
        self.valid = [((s - self.mean) / self.std).to(device) for s in held]
        for i, s in enumerate(self.train):
            if s.shape[0] < window + 1:
                raise ConfigError(
                    f"data: training part of trajectory {i} has {s.shape[0]} points < window + 1 = {window + 1} "
                    "(the sequence / rollout length + 1)"
                )
        self.dim = int(cat.shape[-1])
        lengths = torch.tensor([s.shape[0] - window for s in self.train], dtype=torch.float64)
        self._weights = lengths / lengths.sum()
        self.generator = torch.Generator().manual_seed(cfg.train.seed)
        self._last: tuple[int, Any] | None = None

    def _draw(self) -> torch.Tensor:
        s, t1 = self.batch_size, self.window + 1
        traj = torch.multinomial(self._weights, s, replacement=True, generator=self.generator)
        u = torch.rand(s, generator=self.generator, dtype=torch.float64)
        out = []
        for i in range(s):
            series = self.train[int(traj[i])]
            start = int(u[i] * (series.shape[0] - t1 + 1))
            out.append(series[start : start + t1])
        return torch.stack(out)

    def batch(self, step: int, rank: int = 0, world: int = 1) -> dict[str, torch.Tensor]:
        """``{"x": local windows (B / world, window + 1, dim), "global": all B windows}``."""
        if self._last is None or self._last[0] != step:
            self._last = (step, self._draw())
        full = self._last[1]
        return {"x": full[rank::world], "global": full}

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": "trajectories",
            "channel_names": [f"x{i}" for i in range(self.dim)],
            "normalisation": {"mean": self.mean.double(), "std": self.std.double()},
            "schema": {"dims": ["batch", "time", "dim"], "time_step": self.time_step},
            "data_path": str(self.path),
            "train_fraction": self.train_fraction,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"sampler_rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["sampler_rng"])
        self._last = None

    def validation_windows(self, length: int, limit: int = 256) -> list[torch.Tensor]:
        """Non-overlapping held-out windows of ``length`` points (at most ``limit``)."""
        return [
            s[i : i + length] for s in self.valid for i in range(0, s.shape[0] - length + 1, max(length, 1))
        ][:limit]

    @torch.no_grad()
    def validation_loss(self, model: nn.Module, step: int) -> float | None:
        windows = self.validation_windows(self.window + 1)
        if not windows:
            return None
        return float(self.compute_loss(model, {"x": torch.stack(windows), "global": None}, step)[0])
