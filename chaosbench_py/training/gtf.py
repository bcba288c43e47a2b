"""Generalized teacher forcing (GTF) of latent RNN emulators (shPLRNN): the forcing, the loss, adaptive α.

Hess, Monfared, Brenner, Durstewitz, "Generalized Teacher Forcing for Learning Chaotic Dynamics",
ICML 2023; procedure as in the authors' Julia code ``DurstewitzLab/GTF-shPLRNN``
(``src/tf_training/{tfrecur,forcing,alpha_estimation,training}.jl``).

This module is the mathematics only (no loop, no data): the task ``gtf`` of the generic trainer
(:class:`chaosbench_py.training.tasks.GTFTask`) and the notebook front end
:class:`chaosbench_py.training.GTFTrainer` use it.

Forward pass on a batch of sequences ``x (S, T+1, N)``::

    z_0 = init_state(x_0)
    for t = 1..T:  z_t = F(z̃_{t-1});   output x̂_t = observe(z_t)   (before forcing)
                   z̃_t = (1 - α) z_t + α ẑ_t,   ẑ_t = forcing_signal(x_t)

With partial forcing (identity read-out, ``M > N``) only the first ``N`` latent units are mixed; the
others run free. Loss ``MSE(x̂_{1:T}, x_{1:T}) + λ_lat R_lat + λ_obs R_obs``. Back-propagating
through the forced states multiplies the Jacobians by ``(1 - α)`` per step:
``∂z_t/∂z_r = (1-α)^{t-r} ∏ J``, which keeps gradients bounded for ``α >= 1 - 1/σ_max``.

Adaptive α (aGTF, ``alpha_method != "constant"``): every ``alpha_update_interval`` optimiser steps
``α_est = max(0, 1 - 1/𝒩)`` with ``𝒩`` a Jacobian norm estimated at the forcing signals of the batch
(:func:`estimate_alpha`), then ``α ← α_est`` if ``α_est > α`` else ``α ← γ α + (1 - γ) α_est``
(``γ = alpha_decay = 0.999``, initial ``α = 1``): up at once, down slowly.

Sparse teacher forcing (STF, Mikhaeil et al. 2022) baseline: ``forcing="sparse"`` replaces the
observed latent units by the data every ``stf_interval`` steps and runs free in between. (The
paper's Table-1 "shPLRNN+STF" runs instead use GTF with ``α = 0`` and short sequences, which is
``forcing="gtf", alpha=0, alpha_method="constant"`` here.)

Optimisation as published: RAdam, learning rate decayed exponentially once per epoch from
``lr_start`` to ``lr_end`` over ``epochs`` (floor ``lr_end``), ``batches_per_epoch`` optimiser steps
per epoch, sequences sampled uniformly with replacement, no gradient clipping by default.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from emulators.plrnn import ShPLRNN
from emulators.plrnn_bptt import forced_rollout

from ..errors import InputError, InputTypeError, UnknownNameError

logger = logging.getLogger(__name__)

__all__ = [
    "ALPHA_METHODS",
    "GTFConfig",
    "estimate_alpha",
    "fast_path_available",
    "gtf_forward",
    "gtf_loss",
    "sparse_forcing_forward",
    "update_alpha",
]

ALPHA_METHODS = (
    "constant",
    "product_upper_bound",
    "arithmetic_mean",
    "batch_maximum",
    "jacobian_upper_bound",
)
_FORCING = ("gtf", "sparse")


@dataclass
class GTFConfig:
    """Training settings (defaults: the GTF repository's ``defaults.json`` / the paper's runs).

    sequence_length: T, predicted steps per sequence (each sequence holds T+1 points).
    batch_size: S sequences per optimiser step. epochs, batches_per_epoch: schedule length.
    lr_start, lr_end: RAdam learning rate, exponential decay per epoch from start to end (floor end).
    optimizer: ``"radam"`` (published) or ``"adam"``.
    alpha: constant α, or the initial α of the adaptive rule (published 1.0).
    alpha_method: one of :data:`ALPHA_METHODS`. alpha_update_interval: optimiser steps between
    estimates (5). alpha_decay: γ of the annealing rule (0.999).
    partial_forcing: mix only the observed units when M > N (identity model).
    forcing: ``"gtf"`` or ``"sparse"`` (STF baseline). stf_interval: τ for STF.
    lambda_latent, lambda_observation: weights of the latent L2 and observation-condition regulariser.
    gradient_clip_norm: clip the total gradient 2-norm to this value (0: no clipping, published).
    seed: seeds the sequence sampler. device: ``"cpu"``, ``"cuda"``... bf16: autocast the forward
    pass to bfloat16 (GPU). checkpoint_every: write a checkpoint every this many steps (0: only at the end).
    progress: show a tqdm bar. fast_path: use the analytic-BPTT rollout for a shPLRNN (see
    :func:`gtf_forward`; ``False``: the step-by-step loop under autograd). forcing_gradient: also
    differentiate through the forcing signals ``ẑ = pinv(B) x`` (``False``: constants of the step, as
    the reference code; only an affine read-out is affected).
    """

    sequence_length: int = 200
    batch_size: int = 16
    epochs: int = 5000
    batches_per_epoch: int = 50
    lr_start: float = 1e-3
    lr_end: float = 1e-6
    optimizer: str = "radam"
    alpha: float = 1.0
    alpha_method: str = "product_upper_bound"
    alpha_update_interval: int = 5
    alpha_decay: float = 0.999
    partial_forcing: bool = True
    forcing: str = "gtf"
    stf_interval: int = 10
    lambda_latent: float = 1e-5
    lambda_observation: float = 0.0
    gradient_clip_norm: float = 0.0
    seed: int = 0
    device: str = "cpu"
    bf16: bool = False
    checkpoint_every: int = 0
    progress: bool = True
    fast_path: bool = True
    forcing_gradient: bool = False

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value, hint = getattr(self, f.name), hints[f.name]
            ok = isinstance(value, (int, float)) if hint is float else isinstance(value, hint)
            if not ok or (hint in (int, float) and isinstance(value, bool)):
                raise InputTypeError(f"GTFConfig.{f.name} must be {hint.__name__}, got {value!r}")
            if hint is float:
                setattr(self, f.name, float(value))
        for key in ("sequence_length", "batch_size", "epochs", "batches_per_epoch", "alpha_update_interval",
                    "stf_interval"):  # fmt: skip
            if getattr(self, key) < 1:
                raise InputError(f"GTFConfig.{key} must be >= 1, got {getattr(self, key)!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise InputError(f"GTFConfig.alpha must lie in [0, 1], got {self.alpha!r}")
        if not 0.0 <= self.alpha_decay <= 1.0:
            raise InputError(f"GTFConfig.alpha_decay must lie in [0, 1], got {self.alpha_decay!r}")
        if self.alpha_method not in ALPHA_METHODS:
            raise InputError(
                f"GTFConfig.alpha_method must be one of {ALPHA_METHODS}, got {self.alpha_method!r}"
            )
        if self.forcing not in _FORCING:
            raise InputError(f"GTFConfig.forcing must be one of {_FORCING}, got {self.forcing!r}")
        if self.optimizer not in ("radam", "adam"):
            raise InputError(f"GTFConfig.optimizer must be 'radam' or 'adam', got {self.optimizer!r}")
        if not 0.0 < self.lr_end <= self.lr_start:
            raise InputError(f"GTFConfig.lr_end must satisfy 0 < lr_end <= lr_start, got {self.lr_end!r}")
        for key in ("lambda_latent", "lambda_observation", "gradient_clip_norm", "checkpoint_every"):
            if getattr(self, key) < 0:
                raise InputError(f"GTFConfig.{key} must be >= 0, got {getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> GTFConfig:
        """Validate a mapping (e.g. parsed YAML): unknown keys raise ``KeyError`` naming them."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise UnknownNameError(f"GTFConfig: unknown key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**values)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.batches_per_epoch

    @property
    def lr_gamma(self) -> float:
        """Per-epoch decay factor ``exp(log(lr_end / lr_start) / epochs)``."""
        return math.exp(math.log(self.lr_end / self.lr_start) / self.epochs)


# ---------------------------------------------------------------------------- forcing
def _forcing_targets(
    model: nn.Module, x: torch.Tensor, partial: bool, forcing_gradient: bool = False
) -> tuple[torch.Tensor, bool]:
    """Forcing signals for ``x (S, T, N)`` computed once: ``(ẑ (S, T, M or N), partial?)``.

    ``forcing_gradient=False`` (the reference code): ``ẑ`` is a constant of the step's gradient, as
    the Julia code computes it before ``Flux.gradient`` (``training.jl``); with an affine read-out the
    loss then reaches ``B`` only through the initial state and the read-out, not through ``pinv(B) x_t``.
    """
    n = x.shape[-1]
    with torch.no_grad():
        m = model.init_state(x[:, :1]).shape[-1]
    if partial and getattr(model, "B", None) is None and m > n:
        return x, True
    zhat = model.forcing_signal(x)
    return (zhat if forcing_gradient else zhat.detach()), False


def _mix(z: torch.Tensor, target: torch.Tensor, alpha: float, partial: bool) -> torch.Tensor:
    """Forced state ``(1-α) z + α ẑ``; partial forcing mixes only the first N units."""
    if partial:
        n = target.shape[-1]
        return torch.cat([(1.0 - alpha) * z[..., :n] + alpha * target, z[..., n:]], dim=-1)
    return (1.0 - alpha) * z + alpha * target


def _check_sequences(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] < 2:
        raise InputError(f"x must have shape (S, T+1, N) with T >= 1, got {tuple(getattr(x, 'shape', ()))}")


def fast_path_available(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether :func:`gtf_forward` can use the analytic-BPTT rollout (:func:`emulators.plrnn_bptt.forced_rollout`).

    True for an :class:`emulators.plrnn.ShPLRNN` (clipped or not, identity or affine read-out) whose
    ``step`` is not overridden, with ``x`` in the parameters' dtype and no autocast active. Otherwise
    (another model, a subclass with its own step, bf16 autocast, mixed dtypes) the eager loop runs.
    """
    if not isinstance(model, ShPLRNN) or type(model).step is not ShPLRNN.step:
        return False
    if torch.is_autocast_enabled(x.device.type):
        return False
    return x.dtype == model.A.dtype and x.device == model.A.device


def _forced_latents(
    model: nn.Module,
    x: torch.Tensor,
    alphas: list[float],
    partial_forcing: bool,
    forcing_gradient: bool = False,
) -> torch.Tensor:
    """Fast path: latent states ``z_1..z_T (S, T, M)`` before forcing, per-step ``α_t``, analytic BPTT."""
    z0 = model.init_state(x[:, 0])
    targets = None
    if any(a != 0.0 for a in alphas):
        targets, _ = _forcing_targets(model, x[:, 1:], partial_forcing, forcing_gradient)
    return forced_rollout(model, z0, targets, alphas)


def gtf_forward(
    model: nn.Module,
    x: torch.Tensor,
    alpha: float,
    partial_forcing: bool = True,
    fast_path: bool = True,
    forcing_gradient: bool = False,
) -> torch.Tensor:
    """GTF forward pass: ``x (S, T+1, N)`` → predicted observations ``x̂_{1:T}`` of shape ``(S, T, N)``.

    ``model`` needs ``init_state``, ``step``, ``observe``, ``forcing_signal`` (e.g. :class:`emulators.plrnn.ShPLRNN`).
    ``α = 0``: free run from ``init_state(x_0)`` (plain BPTT); ``α = 1``: classic teacher forcing.

    ``fast_path`` (default): for a shPLRNN (:func:`fast_path_available`) the forced recurrence runs as
    one autograd function with an analytic backward pass (:func:`emulators.plrnn_bptt.forced_rollout`;
    same loss and gradients as the step-by-step loop up to rounding; ~9× the optimiser steps per
    second on one CPU thread at the GTF paper's sizes, see ``benchmarks/RESULTS.md``; first-order
    gradients only). ``fast_path=False`` forces the step-by-step loop under autograd (e.g. for double
    backward or ``torch.func`` transforms).

    ``forcing_gradient``: whether the gradient also flows through the forcing signals
    ``ẑ_t = forcing_signal(x_t)`` (with an affine read-out, into ``B`` through ``pinv(B) x_t``).
    ``False`` (default) is the reference code, which computes ``ẑ`` outside the differentiated
    function; the initial state ``init_state(x_0)`` is differentiated in both.
    """
    _check_sequences(x)
    if fast_path and fast_path_available(model, x):
        alphas = [float(alpha)] * (x.shape[1] - 1)
        return model.observe(_forced_latents(model, x, alphas, partial_forcing, forcing_gradient))
    z = model.init_state(x[:, 0])
    if alpha != 0.0:
        targets, partial = _forcing_targets(model, x[:, 1:], partial_forcing, forcing_gradient)
    outs = []
    for t in range(1, x.shape[1]):
        z = model.step(z)
        outs.append(model.observe(z))
        if alpha != 0.0:
            z = _mix(z, targets[:, t - 1], alpha, partial)
    return torch.stack(outs, dim=1)


def sparse_forcing_forward(
    model: nn.Module, x: torch.Tensor, interval: int, fast_path: bool = True, forcing_gradient: bool = False
) -> torch.Tensor:
    """Sparse teacher forcing: like :func:`gtf_forward` with ``α = 1`` at ``t ≡ 0 (mod interval)``, else 0.

    ``fast_path``, ``forcing_gradient``: as in :func:`gtf_forward` (per-step ``α_t ∈ {0, 1}``).
    """
    _check_sequences(x)
    if interval < 1:
        raise InputError(f"interval must be >= 1, got {interval!r}")
    if fast_path and fast_path_available(model, x):
        alphas = [1.0 if t % interval == 0 else 0.0 for t in range(1, x.shape[1])]
        return model.observe(_forced_latents(model, x, alphas, True, forcing_gradient))
    z = model.init_state(x[:, 0])
    targets, partial = _forcing_targets(model, x[:, 1:], True, forcing_gradient)
    outs = []
    for t in range(1, x.shape[1]):
        z = model.step(z)
        outs.append(model.observe(z))
        if t % interval == 0:
            z = _mix(z, targets[:, t - 1], 1.0, partial)
    return torch.stack(outs, dim=1)


def gtf_loss(
    model: nn.Module, x: torch.Tensor, alpha: float, config: GTFConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training loss (total, MSE part) on a batch ``x (S, T+1, N)`` under ``config``'s forcing."""
    if config.forcing == "sparse":
        pred = sparse_forcing_forward(
            model, x, config.stf_interval, config.fast_path, config.forcing_gradient
        )
    else:
        pred = gtf_forward(model, x, alpha, config.partial_forcing, config.fast_path, config.forcing_gradient)
    mse = torch.mean((pred.float() - x[:, 1:].float()) ** 2)
    loss = mse
    if config.lambda_latent > 0:
        loss = loss + config.lambda_latent * model.latent_regularization()
    if config.lambda_observation > 0:
        loss = loss + config.lambda_observation * model.observation_regularization()
    return loss, mse


# ---------------------------------------------------------------------------- adaptive alpha
def _spectral_norm(jac: torch.Tensor) -> torch.Tensor:
    """``||J||₂`` of a stack ``(..., M, M)`` as ``sqrt(λ_max(JᵀJ))`` (float64: ~1.5× faster than ``svdvals``)."""
    return torch.linalg.eigvalsh(jac.mT @ jac)[..., -1].clamp_min(0.0).sqrt()


@torch.no_grad()
def estimate_alpha(model: nn.Module, x: torch.Tensor, method: str = "product_upper_bound") -> float:
    """``α_est = max(0, 1 - 1/𝒩)`` from Jacobians at the forcing signals ``ẑ_{1:T}`` of ``x (S, T+1, N)``.

    ``𝒩`` (GTF ``alpha_estimation.jl``):
    ``product_upper_bound``: ``max_s exp(mean_t log ||J(ẑ_{s,t})||₂)`` (geometric mean per sequence);
    ``arithmetic_mean``: ``max_s ||mean_t J(ẑ_{s,t})||₂``; ``batch_maximum``: ``max_{s,t} ||J||₂``;
    ``jacobian_upper_bound``: the model bound ``max|A| + ||W1||₂ ||W2||₂``.
    """
    if method not in ALPHA_METHODS or method == "constant":
        raise InputError(f"method must be one of {ALPHA_METHODS[1:]}, got {method!r}")
    if method == "jacobian_upper_bound":
        norm = float(model.norm_upper_bound())
    else:
        zhat = model.forcing_signal(x[:, 1:].to(next(model.parameters()).dtype))  # (S, T, M)
        jac = model.jacobian(zhat).double()  # (S, T, M, M)
        if method == "arithmetic_mean":
            norm = float(_spectral_norm(jac.mean(dim=1)).max())
        else:
            sv = _spectral_norm(jac)  # (S, T)
            if method == "batch_maximum":
                norm = float(sv.max())
            else:
                norm = float(torch.exp(torch.log(sv.clamp_min(1e-300)).mean(dim=1)).max())
    if not math.isfinite(norm) or norm <= 0:
        return 0.0
    return max(0.0, 1.0 - 1.0 / norm)


def update_alpha(alpha: float, alpha_est: float, decay: float) -> float:
    """aGTF rule: ``α_est`` if ``α_est > α`` else ``decay·α + (1 - decay)·α_est``; result in ``[0, 1]``."""
    new = alpha_est if alpha_est > alpha else decay * alpha + (1.0 - decay) * alpha_est
    return min(1.0, max(0.0, new))
