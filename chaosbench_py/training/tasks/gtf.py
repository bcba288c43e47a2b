"""Task ``gtf``: latent RNN emulators (shPLRNN) with generalized teacher forcing (:mod:`..gtf`)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from ...errors import ConfigError, InputError
from ..gtf import GTFConfig, estimate_alpha, gtf_loss, update_alpha
from .base import register_task
from .sequence import SequenceTask

if TYPE_CHECKING:
    from ..config import RunConfig

__all__ = ["GTF_KEYS", "GTFTask", "gtf_options"]

#: the keys of ``task.gtf`` (the forcing fields of :class:`GTFConfig`; the schedule is the run's own)
GTF_KEYS = ("sequence_length", "alpha", "alpha_method", "alpha_update_interval", "alpha_decay",
            "partial_forcing", "forcing", "stf_interval", "lambda_latent", "lambda_observation", "fast_path",
            "forcing_gradient")  # fmt: skip


def gtf_options(values: dict[str, Any]) -> GTFConfig:
    """``task.gtf`` → :class:`GTFConfig` (unknown keys and bad values raise :class:`ConfigError` naming them)."""
    bad = sorted(set(values) - set(GTF_KEYS))
    if bad:
        raise ConfigError(f"task.gtf.{bad[0]}: unknown key; valid keys: {list(GTF_KEYS)}")
    try:
        return GTFConfig.from_dict(dict(values))
    except InputError as exc:  # "GTFConfig.<key> must be ..." → "task.gtf.<key> must be ..."
        raise ConfigError(str(exc).replace("GTFConfig.", "task.gtf.")) from exc


@register_task("gtf")
class GTFTask(SequenceTask):
    """shPLRNN with generalized teacher forcing (:mod:`chaosbench_py.training.gtf`).

    ``task.gtf`` holds the forcing keys of :class:`GTFConfig` (:data:`GTF_KEYS`); the windows hold
    ``sequence_length + 1`` points. α is re-estimated every ``alpha_update_interval`` steps on the GLOBAL
    batch (so data-parallel processes and one process agree) in :meth:`prepare_step`, and carried in the
    task state. Logged: ``mse`` (the data term of the loss) and ``alpha``.
    """

    options_key = "gtf"
    data_fields = frozenset({"obs_dim"})
    log_columns = ["mse", "alpha"]

    @classmethod
    def check_config(cls, cfg: RunConfig) -> None:
        super().check_config(cfg)
        gtf_options(cfg.task.gtf)

    def __init__(
        self, cfg: RunConfig, device: torch.device, series: Any = None, dtype: torch.dtype = torch.float32
    ):
        self.gtf = gtf_options(cfg.task.gtf)
        super().__init__(cfg, device, self.gtf.sequence_length, series, dtype)
        self.alpha = self.gtf.alpha

    def model_config(self, name: str, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        out.setdefault("obs_dim", self.dim)
        return out

    def prepare_step(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict, step: int
    ) -> dict:
        """Adaptive α (aGTF): every ``alpha_update_interval`` steps, from the Jacobians at the global batch."""
        g = self.gtf
        if g.forcing == "gtf" and g.alpha_method != "constant" and step % g.alpha_update_interval == 0:
            self.alpha = update_alpha(
                self.alpha, estimate_alpha(model, batch["global"], g.alpha_method), g.alpha_decay
            )
        return {}

    def compute_loss(self, model: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        loss, mse = gtf_loss(model, batch["x"], self.alpha, self.gtf)
        return loss, {"mse": float(mse.detach()), "alpha": self.alpha}

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "gtf": dataclasses.asdict(self.gtf)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "alpha": self.alpha}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.alpha = float(state["alpha"])
