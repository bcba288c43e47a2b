"""Lyapunov spectra of a trained weather emulator's one-step map and of the shallow-water solver (issue #15).

* :func:`emulator_step_map`: a checkpointed (or in-memory) gridded emulator as a torch map
  ``(B, C, H, W) → (B, C, H, W)`` in **physical units**, one model step exactly as
  :func:`chaosbench_py.evaluation.rollout_gridded` takes it: ``x̂ = (x − mean)/std``, the normalised
  constants appended, :func:`emulators.gridded_step`, ``y = ŷ·std + mean``.
* :func:`solver_step_map`: the shallow-water solver (:class:`chaosbench_py.simulate.ShallowWaterSolver`
  or anything with its ``step`` / ``to_grid`` / ``sht`` interface) over the same model step, as a map
  on the grid channels ``(z, u, v)`` (geopotential m² s⁻², winds m s⁻¹): grid → spectral
  (``Φ = forward(z)``, ``(ζ, δ) = vrtdiv_from_uv(u, v)``), ``n`` solver steps, → grid.
  :class:`SpectralSolverMap` is the same solver step on the packed real spectral coordinates (the
  map the grid map is conjugate to; used to check the grid map).
* :func:`compare_lyapunov_spectra`: the leading ``k`` exponents (per day) of both maps from the same
  initial states (:func:`physics_metrics.lyapunov_spectrum_gridded_map`), with λ1, the
  error-doubling time ``ln 2/λ1`` and the Kaplan–Yorke dimension of the leading set, as an
  ``xarray.Dataset`` for the report beside the scorecard.

The exponents are invariant under smooth changes of coordinates (grid ↔ spectral coefficients,
normalised ↔ physical units), so those of the emulator and of the solver are comparable although
the emulator works on normalised channels; both are per day here.

Cost (measured, 1 CPU thread, shared machine): 32 × 64 Gauss grid (T21), 12-hour model step = 48
RK4 substeps of 900 s, ``B = 4`` inits, ``k = 8``: about 8 s per tangent step of the solver (70
steps in 572 s); an untrained default FNO in float64 about 2 s per step. With the random balanced
flow (20 m/s rms, 5 days spin-up, 10 + 60 steps) the solver's median leading exponents are
0.029, 0.023, 0.021, 0.018, 0.014, 0.011, 0.009, −0.005 per day (spread over inits ≈ 0.01 per
day: 30 days are not converged), an error-doubling time of ≈ 24 days, and the KY dimension of the
leading 8 undetermined (their sum stays positive: ``D_KY ≥ 8``).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import xarray as xr

from emulators.stepping import gridded_step
from physics_metrics.lyapunov_gridded import (
    error_doubling_time,
    leading_kaplan_yorke_dimension,
    lyapunov_spectrum_gridded_map,
)

from ..errors import InputError, InputTypeError

logger = logging.getLogger(__name__)

__all__ = [
    "EmulatorStepMap",
    "SpectralSolverMap",
    "compare_lyapunov_spectra",
    "emulator_step_map",
    "solver_initial_states",
    "solver_step_map",
]

SOLVER_CHANNELS = ("z", "u", "v")
FLOAT32_TOLERANCE = 1e-5  # relative agreement of a float32 step with its float64 counterpart (stated)


# ------------------------------------------------------------------------------------------ emulator
def _cast_module(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of ``model`` with real parameters/buffers in ``dtype`` (complex ones in the matching complex)."""
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    out = copy.deepcopy(model)

    def cast(t: torch.Tensor) -> torch.Tensor:
        if t.is_floating_point():
            return t.to(dtype)
        return t.to(cdtype) if t.is_complex() else t

    out = out._apply(cast)
    for prm in out.parameters():  # a fixed map: no reverse-mode graph (forward-mode JVPs still work)
        prm.requires_grad_(False)
    return out


class EmulatorStepMap:
    """One emulator step in physical units: ``x (B, C, H, W) → y (B, C, H, W)`` (torch, differentiable).

    ``y = gridded_step(model, [(x − mean)/std, constants]) · std + mean``, channels ``channels``
    (the checkpoint's order), ``constants`` the normalised constant fields ``(K, H, W)`` appended as
    :func:`~chaosbench_py.evaluation.rollout_gridded` does. The model runs in ``dtype`` (a float64
    copy when possible); the input and output keep the caller's dtype. Attributes: ``model``
    (the copy, eval mode), ``dtype``, ``channels``, ``mean``, ``std`` (``(C,)`` float64),
    ``constants``, ``tolerance`` (stated relative accuracy of the step against the same model
    evaluated in float64: 0 for the float64 copy; ``1e-5`` of each channel's scale for a float32
    model — which is also how closely a float32 rollout step and the float64 map agree).
    """

    def __init__(
        self, model: nn.Module, channels, mean, std, constants=None, *, dtype=torch.float64, device="cpu"
    ):
        if dtype not in (torch.float32, torch.float64):
            raise InputTypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype!r}")
        self.channels = list(channels)
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if not (self.mean.size == self.std.size == len(self.channels)):
            raise InputError(
                f"statistics: mean ({self.mean.size}) and std ({self.std.size}) must have one entry per "
                f"channel {self.channels}"
            )
        self.device = torch.device(device)
        self.constants = None if constants is None else np.asarray(constants, dtype=np.float64)
        if self.constants is not None and self.constants.ndim != 3:
            raise InputError(
                f"constants: expected normalised fields (K, H, W), got shape {self.constants.shape}"
            )
        self._source = model
        self.model = _cast_module(model, dtype).to(self.device).eval()
        self.dtype = dtype
        self._checked = dtype == torch.float32
        self.tolerance = 0.0 if dtype == torch.float64 else FLOAT32_TOLERANCE

    def _check_float64(self, inp: torch.Tensor) -> None:
        """On the first call: does the float64 copy run? Otherwise fall back to float32 (logged)."""
        self._checked = True
        try:
            with torch.no_grad():
                gridded_step(self.model, torch.zeros_like(inp[:1]), n_dynamic=len(self.channels))
        except (RuntimeError, TypeError, ValueError) as exc:  # a float64 input refused: run in float32
            logger.warning("emulator_step_map: the model does not run in float64 (%s); float32, tolerance %g",
                           exc, FLOAT32_TOLERANCE)  # fmt: skip
            self.model = _cast_module(self._source, torch.float32).to(self.device).eval()
            self.dtype, self.tolerance = torch.float32, FLOAT32_TOLERANCE

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c = len(self.channels)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != c:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise InputError(
                f"x: expected a tensor (B, C={c}, H, W) with channels {self.channels}, got {shape}"
            )
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)[:, None, None]
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)[:, None, None]
        inp = ((x - mean) / std).to(device=self.device, dtype=self.dtype)
        if self.constants is not None:
            if tuple(self.constants.shape[1:]) != tuple(x.shape[2:]):
                raise InputError(
                    f"x: grid {tuple(x.shape[2:])} differs from the constants' {self.constants.shape[1:]}"
                )
            const = torch.as_tensor(self.constants, dtype=self.dtype, device=self.device)
            inp = torch.cat([inp, const.expand(x.shape[0], -1, -1, -1)], 1)
        if not self._checked:
            self._check_float64(inp.detach())
            inp = inp.to(self.dtype)
        out = gridded_step(self.model, inp, n_dynamic=c)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (x.shape[0], c, *x.shape[2:]):
            shape = tuple(out.shape) if hasattr(out, "shape") else type(out).__name__
            raise InputError(f"model: returned shape {shape}, expected {(x.shape[0], c, *x.shape[2:])}")
        return out.to(device=x.device, dtype=x.dtype) * std + mean


def emulator_step_map(
    run_dir_or_model: str | os.PathLike | nn.Module,
    *,
    statistics: xr.Dataset | None = None,
    channels: list[str] | None = None,
    constants: Any = None,
    data: xr.Dataset | str | os.PathLike | None = None,
    variables: list[str] | None = None,
    levels: list[float] | None = None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> EmulatorStepMap:
    """The trained emulator's one-step map in physical units (:class:`EmulatorStepMap`).

    ``run_dir_or_model``: a trainer's run folder (or its ``model.pt``): model, channels and
    normalisation come from the checkpoint (:func:`chaosbench_py.evaluation.pipeline._load_run`,
    :func:`statistics_from_metadata`); its configured constant fields are read from ``data`` (default
    the checkpoint's ``data_path``) and normalised as the rollout does. Or an ``nn.Module`` with
    ``statistics`` (``mean``/``std`` by ``channel``) and ``channels`` (default: those of
    ``variables``/``levels`` in ``data``, else every channel of ``statistics``); ``constants``: ``None``,
    a normalised ``(K, H, W)`` array, or raw fields (mapping / Dataset, needs ``data`` and
    ``variables``) normalised like :class:`~chaosbench_py.data.WindowDataset`.
    ``dtype``: float64 by default (a cast copy; float32 with tolerance 1e-5 if the model refuses).
    """
    from chaosbench_py.data import channel_layout
    from chaosbench_py.data.statistics import normalisation_arrays

    from .pipeline import _load_run, statistics_from_metadata
    from .rollout import _normalised_constants

    if isinstance(run_dir_or_model, nn.Module):
        model = run_dir_or_model
        if statistics is None:
            raise InputError("statistics: required with an in-memory model (mean/std per channel)")
    elif isinstance(run_dir_or_model, str | os.PathLike):
        model, extra, _ = _load_run(run_dir_or_model)
        statistics = statistics_from_metadata(extra)
        channels = list(extra["channel_names"])
        dcfg = extra["run_config"]["data"]
        variables, levels = list(dcfg["variables"]), dcfg.get("levels")
        names = list(dcfg.get("constants") or [])
        if names:
            if data is None:
                data = extra["data_path"]
            constants = names
    else:
        raise InputTypeError(
            f"run_dir_or_model: expected a run folder or an nn.Module, got {type(run_dir_or_model).__name__}"
        )
    if isinstance(data, str | os.PathLike):
        from chaosbench_py.data import open_gridded

        data = open_gridded(data)
    if channels is None:
        if data is not None and variables is not None:
            channels = [ch.name for ch in channel_layout(data, variables, levels)]
        else:
            channels = [str(c) for c in statistics["channel"].values]
    mean, std = normalisation_arrays(statistics, channels)
    if constants is not None and not isinstance(constants, np.ndarray | torch.Tensor):
        if data is None or variables is None:
            raise InputError("constants: raw constant fields need data= and variables= to normalise them")
        if isinstance(constants, list):
            constants = {c: data[c] for c in constants}
        if not isinstance(constants, Mapping | xr.Dataset):
            raise InputTypeError(
                f"constants: expected an array, a mapping or a Dataset, got {type(constants).__name__}"
            )
        _, constants = _normalised_constants(data, variables, levels, statistics, constants, len(channels))
    elif isinstance(constants, torch.Tensor):
        constants = constants.detach().cpu().double().numpy()
    return EmulatorStepMap(model, channels, mean, std, constants, dtype=dtype, device=device)


# ------------------------------------------------------------------------------------------ solver
def _substeps(dt_model_seconds: float, substep_seconds: float) -> int:
    for name, v in (("dt_model_seconds", dt_model_seconds), ("substep_seconds", substep_seconds)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise InputError(f"{name}: expected a positive finite number, got {v!r}")
    n = round(dt_model_seconds / substep_seconds)
    if n < 1 or abs(n * substep_seconds - dt_model_seconds) > 1e-9 * dt_model_seconds:
        raise InputError(
            f"substep_seconds={substep_seconds}: must divide dt_model_seconds={dt_model_seconds} a whole number of times"
        )
    return int(n)


def _spectral_from_grid(solver, x: torch.Tensor) -> torch.Tensor:
    s = solver.sht
    if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (s.nlat, s.nlon):
        raise InputError(
            f"x: expected grid states (B, 3, {s.nlat}, {s.nlon}) with channels {SOLVER_CHANNELS}, got {tuple(x.shape)}"
        )
    phi = s.forward(x[:, 0])
    vrt, div = s.vrtdiv_from_uv(x[:, 1], x[:, 2])
    return torch.stack([phi, vrt, div], dim=-3)


def _grid_from_spectral(solver, state: torch.Tensor) -> torch.Tensor:
    g = solver.to_grid(state)
    return torch.stack([g["z"], g["u"], g["v"]], dim=1)


def solver_step_map(solver, dt_model_seconds: float, substep_seconds: float | None = None) -> Callable:
    """The solver over one model step as a grid map ``(B, 3, nlat, nlon) → (B, 3, nlat, nlon)`` on ``(z, u, v)``.

    grid → spectral (``Φ = sht.forward(z)``, ``(ζ, δ) = sht.vrtdiv_from_uv(u, v)``), ``n =
    dt_model_seconds / substep_seconds`` calls of ``solver.step(state, substep_seconds)``, →
    ``solver.to_grid``. Units: z in m² s⁻², u, v in m s⁻¹. ``substep_seconds`` defaults to
    ``solver.default_dt()`` (it must divide the model step). The map projects the grid on the
    resolved harmonics first: the unresolved grid directions are annihilated (exponent −∞); the
    resolved ones give the spectral solver's exponents (the maps are conjugate).
    """
    if not all(hasattr(solver, a) for a in ("step", "to_grid", "sht")):
        raise InputTypeError(
            f"solver: needs step, to_grid and sht (a ShallowWaterSolver), got {type(solver).__name__}"
        )
    sub = float(substep_seconds) if substep_seconds is not None else float(solver.default_dt())
    n = _substeps(dt_model_seconds, sub)

    def step(x: torch.Tensor) -> torch.Tensor:
        state = _spectral_from_grid(solver, x)
        for _ in range(n):
            state = solver.step(state, sub)
        return _grid_from_spectral(solver, state).to(x.dtype)

    step.n_substeps = n  # type: ignore[attr-defined]
    step.substep_seconds = sub  # type: ignore[attr-defined]
    return step


class SpectralSolverMap:
    """The solver over one model step on packed real spectral coordinates ``(B, P)``.

    Packing (the resolved, physical degrees of freedom only): for each of Φ, ζ, δ the real parts of
    ``c_lm`` (``m ≤ l``) and the imaginary parts for ``m ≥ 1``; the ``l = 0`` modes of ζ and δ (zero
    for any wind field) are left out, so ``P = 3 (lmax+1)² − 2`` for a triangular truncation.
    ``pack`` ``(B, 3, L, M)`` complex → ``(B, P)``; ``unpack`` the reverse; ``__call__`` the map.
    """

    def __init__(self, solver, dt_model_seconds: float, substep_seconds: float | None = None):
        self.solver = solver
        self.substep_seconds = (
            float(substep_seconds) if substep_seconds is not None else float(solver.default_dt())
        )
        self.n_substeps = _substeps(dt_model_seconds, self.substep_seconds)
        big_l, big_m = solver.sht.coeff_shape
        ell = torch.arange(big_l)[:, None]
        em = torch.arange(big_m)[None, :]
        tri = (em <= ell).expand(3, big_l, big_m).clone()
        self.real_mask = tri.clone()
        self.real_mask[1:, 0, 0] = False  # l = 0 of ζ and δ
        self.imag_mask = tri & (em >= 1)
        self.size = int(self.real_mask.sum() + self.imag_mask.sum())

    def pack(self, state: torch.Tensor) -> torch.Tensor:
        return torch.cat([state.real[:, self.real_mask], state.imag[:, self.imag_mask]], dim=1)

    def unpack(self, p: torch.Tensor) -> torch.Tensor:
        b = p.shape[0]
        n_re = int(self.real_mask.sum())
        re = p.new_zeros((b, *self.real_mask.shape))
        im = p.new_zeros((b, *self.real_mask.shape))
        re[:, self.real_mask] = p[:, :n_re]
        im[:, self.imag_mask] = p[:, n_re:]
        return torch.complex(re, im)

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        state = self.unpack(p)
        for _ in range(self.n_substeps):
            state = self.solver.step(state, self.substep_seconds)
        return self.pack(state)


def solver_initial_states(
    solver,
    n_states: int,
    *,
    seed: int = 0,
    spinup_seconds: float = 0.0,
    substep_seconds: float | None = None,
    **kw,
) -> torch.Tensor:
    """Random balanced states (``solver.random_state(n_states, seed, **kw)``), integrated ``spinup_seconds``,
    as grids ``(n_states, 3, nlat, nlon)`` of ``(z, u, v)`` (float64)."""
    state = solver.random_state(n_states, seed, **kw)
    if spinup_seconds > 0:
        step = SpectralSolverMap(solver, spinup_seconds, substep_seconds)
        with torch.no_grad():
            state = step.unpack(step(step.pack(state)))
    return _grid_from_spectral(solver, state).double()


# ------------------------------------------------------------------------------------------ comparison
class _Progress:
    """Wraps a map to log its progress every ``every`` calls (INFO)."""

    def __init__(self, fn: Callable, name: str, total: int, every: int = 10):
        self.fn, self.name, self.total, self.every, self.calls = fn, name, total, every, 0
        self.start = time.perf_counter()

    def __call__(self, x):
        self.calls += 1
        if self.calls % self.every == 0:
            el = time.perf_counter() - self.start
            logger.info("lyapunov %s: step %d/%d (%.1f s)", self.name, self.calls, self.total, el)
        return self.fn(x)


def compare_lyapunov_spectra(
    model_map: Callable,
    truth_map: Callable,
    x0_states,
    *,
    k: int = 8,
    n_steps: int,
    transient_steps: int = 0,
    time_step_days: float,
    seed: int = 0,
    qr_every: int = 1,
    dtype: torch.dtype = torch.float64,
    truth_exponents: Any = None,
    truth_seconds_per_step: float = math.nan,
) -> xr.Dataset:
    """Leading ``k`` Lyapunov exponents (1/day) of ``model_map`` and ``truth_map`` from the same states.

    ``truth_exponents``: the truth's per-init exponents ``(B, k)`` (1/day) from an earlier call with the
    same states and settings (its ``exponents.sel(system="truth")``), e.g. cached across the models
    evaluated on one dataset; ``truth_map`` is then not run.

    Both maps take ``(B, C, H, W)`` physical states to the state one model step (``time_step_days``)
    later (:func:`emulator_step_map`, :func:`solver_step_map`); the exponents come from
    :func:`physics_metrics.lyapunov_spectrum_gridded_map` with the same initial frame (``seed``).

    Returns an ``xarray.Dataset`` with coordinate ``system = ["model", "truth"]``, ``exponent = 1 … k``,
    ``init = 0 … B−1`` and variables ``exponents (system, init, exponent)``, ``exponent_median``
    and ``exponent_spread`` (``system, exponent``: median over inits and the normal-scaled median
    absolute deviation ``1.4826·MAD``), ``lambda1`` (median λ1, 1/day), ``doubling_time_days``
    (``ln 2 / lambda1``; inf when λ1 ≤ 0), ``ky_dimension`` (Kaplan–Yorke of the median leading set,
    NaN when the sum of the ``k`` stays ≥ 0, see ``ky_lower_bound``/``ky_determined``),
    ``seconds_per_step`` (wall time of one tangent step, all inits); attrs ``n_inits``, ``n_steps``,
    ``transient_steps``, ``time_step_days``, ``state_dimension``.
    """
    x0 = torch.as_tensor(np.asarray(x0_states) if not isinstance(x0_states, torch.Tensor) else x0_states)
    if x0.dim() != 4:
        raise InputError(f"x0_states: expected (B, C, H, W) physical states, got shape {tuple(x0.shape)}")
    if (
        isinstance(time_step_days, bool)
        or not isinstance(time_step_days, int | float)
        or not time_step_days > 0
    ):
        raise InputError(f"time_step_days: expected a positive number, got {time_step_days!r}")
    b = int(x0.shape[0])
    d = math.prod(x0.shape[1:])
    per_init, wall = {}, {}
    todo = [("model", model_map), ("truth", truth_map)]
    if truth_exponents is not None:
        given = np.asarray(truth_exponents, dtype=np.float64)
        if given.shape != (b, k):
            raise InputError(
                f"truth_exponents: expected shape ({b}, {k}) (inits, exponents), got {given.shape}"
            )
        per_init["truth"], wall["truth"] = given, float(truth_seconds_per_step)
        todo = todo[:1]
    for name, fn in todo:
        logger.info(
            "compare_lyapunov_spectra: %s map, B=%d, k=%d, %d+%d steps", name, b, k, transient_steps, n_steps
        )
        t0 = time.perf_counter()
        res = lyapunov_spectrum_gridded_map(
            _Progress(fn, name, transient_steps + n_steps + 1),
            x0,
            n_exponents=k,
            n_steps=n_steps,
            transient_steps=transient_steps,
            time_step=float(time_step_days),
            qr_every=qr_every,
            seed=seed,
            dtype=dtype,
        )
        wall[name] = (time.perf_counter() - t0) / (transient_steps + n_steps)
        per_init[name] = res.per_initial_condition
    systems = ["model", "truth"]
    ex = np.stack([per_init[s] for s in systems])  # (2, B, k)
    med = np.median(ex, axis=1)
    spread = 1.482602218505602 * np.median(np.abs(ex - med[:, None, :]), axis=1)
    ky = [leading_kaplan_yorke_dimension(med[i], n_total=d) for i in range(2)]
    lam1 = med[:, 0]
    ds = xr.Dataset(
        {
            "exponents": (("system", "init", "exponent"), ex, {"units": "1/day"}),
            "exponent_median": (("system", "exponent"), med, {"units": "1/day"}),
            "exponent_spread": (("system", "exponent"), spread, {"units": "1/day", "description": "1.4826 MAD over inits"}),
            "lambda1": (("system",), lam1, {"units": "1/day"}),
            "doubling_time_days": (("system",), np.asarray(error_doubling_time(lam1)), {"units": "day"}),
            "ky_dimension": (("system",), np.array([v.value for v in ky])),
            "ky_lower_bound": (("system",), np.array([v.lower_bound for v in ky])),
            "ky_determined": (("system",), np.array([v.determined for v in ky])),
            "seconds_per_step": (("system",), np.array([wall[s] for s in systems]), {"units": "s"}),
        },
        coords={"system": systems, "init": np.arange(b), "exponent": np.arange(1, k + 1)},
        attrs={"n_inits": b, "n_steps": int(n_steps), "transient_steps": int(transient_steps),
               "time_step_days": float(time_step_days), "state_dimension": int(d), "k": int(k),
               "description": "leading Lyapunov exponents (tangent QR, JVP) of the emulator and the solver"},
    )  # fmt: skip
    return ds
