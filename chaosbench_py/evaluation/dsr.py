"""Evaluation protocol of dynamical-systems reconstruction (DSR) as in the GTF paper.

Hess et al., "Generalized Teacher Forcing for Learning Chaotic Dynamics", ICML 2023 (the authors' code
``DurstewitzLab/GTF-shPLRNN``, ``src/evaluation.jl``), for a test series ``X (T, N)``:

1. Free run of ``1.25·T`` steps from the first test point (latent state ``init_state(X_0)``, the
   observation-model inversion; no further forcing); the first ``0.25·T`` are dropped as transient.
2. ``D_stsp``: binned KL divergence, 30 bins per dimension (:func:`physics_metrics.state_space_divergence_binned`;
   for ``N >= 6`` the GTF code uses the Gaussian-mixture variant, here too).
3. ``D_H``: Hellinger distance of Gaussian-smoothed power spectra, ``σ = 20`` (:func:`physics_metrics.power_spectrum_hellinger`).
4. ``PE(20)``: mean squared 20-step-ahead error from every test point (:func:`physics_metrics.prediction_error_n_step`).
5. The model's Lyapunov spectrum (tangent QR on its one-step latent map,
   :func:`physics_metrics.lyapunov_spectrum_map`), converted to the data's time units with
   ``time_step``, and the relative error of the largest exponent against the data's.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn

import physics_metrics as pm

from ..errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["DSREvaluation", "evaluate_dsr", "free_run", "n_step_predictions"]


@dataclass
class DSREvaluation:
    """Scores of one model on one test series (``nan`` where not computed).

    d_stsp, d_h, pe: the GTF metrics (``pe`` is PE(``pe_steps``)). lyapunov_spectrum: the model's
    exponents per time unit (per step if ``time_step`` was 1). lambda_max_true: the data's largest
    exponent in the same unit. lambda_max_rel_error: ``|λ1_model - λ1_true| / |λ1_true|``.
    diverged: the free run left the finite range (metrics then ``inf``).
    """

    d_stsp: float
    d_h: float
    pe: float
    pe_steps: int
    lyapunov_spectrum: tuple[float, ...] = ()
    lambda_max_true: float = math.nan
    lambda_max_rel_error: float = math.nan
    diverged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "d_stsp": self.d_stsp,
            "d_h": self.d_h,
            "pe": self.pe,
            "pe_steps": self.pe_steps,
            "lyapunov_spectrum": list(self.lyapunov_spectrum),
            "lambda_max": self.lyapunov_spectrum[0] if self.lyapunov_spectrum else math.nan,
            "lambda_max_true": self.lambda_max_true,
            "lambda_max_rel_error": self.lambda_max_rel_error,
            "diverged": self.diverged,
        }


def _as_series(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(
        x.values if hasattr(x, "values") and not isinstance(x, np.ndarray) else x, dtype=np.float64
    )
    if arr.ndim != 2:
        raise InputError(f"{name} must have shape (time, dim), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or inf")
    return arr


@torch.no_grad()
def free_run(model: nn.Module, x0: Any, n_steps: int) -> np.ndarray:
    """Observations ``(n_steps, N)`` of a free run; row 0 is ``observe(init_state(x0))``.

    ``model`` provides ``init_state``, ``step``, ``observe`` (e.g. :class:`emulators.plrnn.ShPLRNN`).
    """
    if n_steps < 1:
        raise InputError(f"n_steps must be >= 1, got {n_steps!r}")
    p = next(model.parameters())
    z = model.init_state(torch.as_tensor(np.asarray(x0), dtype=p.dtype, device=p.device).reshape(1, -1))
    out = torch.empty(n_steps, model.observe(z).shape[-1], dtype=p.dtype, device=p.device)
    out[0] = model.observe(z)[0]
    for t in range(1, n_steps):
        z = model.step(z)
        out[t] = model.observe(z)[0]
    return out.cpu().double().numpy()


@torch.no_grad()
def n_step_predictions(model: nn.Module, x: Any, n: int, batch_size: int = 65536) -> np.ndarray:
    """``f^n(x_t)`` for ``t = 0 .. T-n-1``: latent inversion of each ``x_t``, ``n`` free steps, read-out.

    ``x (T, N)`` → ``(T-n, N)`` (the ``predictions`` argument of :func:`physics_metrics.prediction_error_n_step`).
    """
    arr = _as_series(x, "x")
    if not 1 <= n < arr.shape[0]:
        raise InputError(f"n must be in [1, T), got {n!r} for T={arr.shape[0]}")
    p = next(model.parameters())
    starts = torch.as_tensor(arr[:-n], dtype=p.dtype, device=p.device)
    out = []
    for i in range(0, starts.shape[0], batch_size):
        z = model.init_state(starts[i : i + batch_size])
        for _ in range(n):
            z = model.step(z)
        out.append(model.observe(z).cpu().double())
    return torch.cat(out).numpy()


def _model_lyapunov(
    model: nn.Module,
    z0: torch.Tensor,
    n_steps: int,
    transient: int,
    time_step: float,
    n_exponents: int | None,
) -> np.ndarray:
    m64 = copy.deepcopy(model).double().eval()
    for param in m64.parameters():
        param.requires_grad_(False)
    res = pm.lyapunov_spectrum_map(
        m64.step,
        z0.double(),
        n_steps=n_steps,
        transient_steps=transient,
        time_step=time_step,
        n_exponents=n_exponents,
    )
    return np.sort(np.asarray(res.exponents, dtype=np.float64))[::-1]


def _true_lambda(lyapunov_true: float | str | None) -> float:
    if lyapunov_true is None:
        return math.nan
    if isinstance(lyapunov_true, str):
        from chaosbench_py.systems import get_system

        lam = get_system(lyapunov_true).info.invariants.max_lyapunov
        if lam is None:
            raise InputError(f"lyapunov_true: catalog system {lyapunov_true!r} has no max_lyapunov")
        return float(lam)
    return float(lyapunov_true)


def evaluate_dsr(
    model: nn.Module | None,
    x_test: Any,
    *,
    trajectory: Any = None,
    predictions: Any = None,
    n_bins: int = 30,
    smoothing_sigma: float = 20.0,
    pe_steps: int = 20,
    length_factor: float = 1.25,
    lyapunov: bool = True,
    lyapunov_true: float | str | None = None,
    time_step: float = 1.0,
    lyapunov_steps: int = 20000,
    lyapunov_transient: int = 1000,
    lyapunov_initial_conditions: int = 4,
    n_exponents: int | None = None,
) -> DSREvaluation:
    """Score ``model`` on the test series ``x_test (T, N)`` by the GTF protocol (module docstring).

    Parameters
    ----------
    model:
        Latent model with ``init_state``/``step``/``observe`` (and ``jacobian``-free: the Lyapunov
        spectrum uses forward-mode AD of ``step``). ``None`` when ``trajectory`` and ``predictions``
        are given (models of other shapes: neural ODE, reservoir).
    trajectory:
        Optional precomputed free run ``(≥ length_factor·T, N)`` from ``x_test[0]`` (then the first
        ``(length_factor-1)·T`` rows are dropped here).
    predictions:
        Optional precomputed ``f^{pe_steps}(x_t)``, ``(T - pe_steps, N)``.
    n_bins, smoothing_sigma, pe_steps, length_factor:
        Protocol constants (GTF: 30, 20, 20, 1.25).
    lyapunov_true:
        The data's largest exponent **per time unit** (float) or a catalog system name; with
        ``time_step`` = the data's sampling step in time units both come out per time unit.
    lyapunov_steps, lyapunov_transient, lyapunov_initial_conditions, n_exponents:
        Settings of the tangent-QR estimate (initial conditions taken from the free run).
    """
    x = _as_series(x_test, "x_test")
    t_len, _ = x.shape
    if length_factor < 1.0:
        raise InputError(f"length_factor must be >= 1, got {length_factor!r}")
    if model is None and (trajectory is None or predictions is None):
        raise InputError("model: required unless both trajectory and predictions are given")
    n_total = int(round(length_factor * t_len))
    if trajectory is None:
        gen = free_run(model, x[0], n_total)
    else:
        gen = np.asarray(trajectory, dtype=np.float64)
        if gen.ndim != 2 or gen.shape[0] < n_total or gen.shape[1] != x.shape[1]:
            raise InputError(f"trajectory must have shape (>= {n_total}, {x.shape[1]}), got {gen.shape}")
    gen = gen[n_total - t_len : n_total]
    if not np.isfinite(gen).all() or np.abs(gen).max() > 1e6:
        logger.warning("free run diverged; metrics set to inf")
        return DSREvaluation(math.inf, 1.0, math.inf, pe_steps, diverged=True)
    if x.shape[1] < 6:
        d_stsp = float(pm.state_space_divergence_binned(x, gen, n_bins))
    else:
        d_stsp = float(pm.state_space_divergence_gmm(x, gen, 1.0, seed=0))
    if np.ptp(gen, axis=0).min() == 0.0:  # a constant component (fixed point): spectrum undefined
        logger.warning("free run has a constant dimension (fixed point); D_H set to its maximum 1")
        d_h = 1.0
    else:
        d_h = float(pm.power_spectrum_hellinger(x, gen, smoothing_sigma))
    if predictions is None:
        predictions = n_step_predictions(model, x, pe_steps)
    pe = float(pm.prediction_error_n_step(x, pe_steps, predictions=np.asarray(predictions, dtype=np.float64)))
    result = DSREvaluation(d_stsp, d_h, pe, pe_steps)
    if lyapunov and model is not None and hasattr(model, "step"):
        p = next(model.parameters())
        idx = np.linspace(0, gen.shape[0] - 1, lyapunov_initial_conditions).astype(int)
        with torch.no_grad():
            z_start = model.init_state(torch.as_tensor(gen[idx], dtype=p.dtype, device=p.device))
        spec = _model_lyapunov(model, z_start, lyapunov_steps, lyapunov_transient, time_step, n_exponents)
        lam_true = _true_lambda(lyapunov_true)
        result.lyapunov_spectrum = tuple(float(v) for v in spec)
        result.lambda_max_true = lam_true
        if math.isfinite(lam_true) and lam_true != 0:
            result.lambda_max_rel_error = abs(float(spec[0]) - lam_true) / abs(lam_true)
    return result
