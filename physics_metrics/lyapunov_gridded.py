"""Lyapunov spectra of one-step maps on gridded states, the error-doubling time, the leading-set KY dimension.

:func:`lyapunov_spectrum_gridded_map` runs :func:`physics_metrics.lyapunov_spectrum_map` (tangent QR
with Jacobian–vector products, batched over initial states; Benettin et al., Meccanica 15 (1980) 9;
Shimada & Nagashima, Prog. Theor. Phys. 61 (1979) 1605) on a map ``step: (B, *S) → (B, *S)`` of
gridded states (e.g. ``S = (C, H, W)`` channels × latitude × longitude) by flattening the state to
``D = prod(S)`` numbers and back around every call. The exponents do not depend on the coordinates
(they are invariant under a smooth change of variables, in particular under the linear map between
grid and spectral coefficients), but they do depend on the *units* of time: with ``time_step`` they
are per time unit.

The initial tangent frame is ``k`` orthonormal columns from the QR of a seeded Gaussian ``(D, k)``
matrix (not of a ``D × D`` one, which for ``D = 3·32·64 = 6144`` would cost a large QR for nothing).
Memory: the tangent frame is ``B·D·k`` numbers and the map is evaluated on ``B·k`` rows per step,
e.g. ``4 · 6144 · 8`` float64 = 1.5 MiB — the cost is that of ``B·k`` forward passes (plus
forward-mode AD, about 2–3×).

Growth of small errors: ``|δx(t)| ~ |δx(0)| e^{λ_1 t}``, so the error-doubling time is
``ln 2 / λ_1`` (Lorenz 1969, Tellus 21, 289; Pikovsky & Politi, *Lyapunov Exponents*, CUP 2016, ch. 1).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from .dimensions import kaplan_yorke_dimension
from .errors import MetricInputError, MetricTypeError, NonFiniteInputError
from .lyapunov import lyapunov_spectrum_map
from .lyapunov_result import LyapunovSpectrum

logger = logging.getLogger(__name__)

__all__ = [
    "LeadingKaplanYorke",
    "error_doubling_time",
    "leading_kaplan_yorke_dimension",
    "lyapunov_spectrum_gridded_map",
]


def lyapunov_spectrum_gridded_map(
    step,
    x0,
    *,
    n_exponents: int = 8,
    n_steps: int,
    time_step: float | None = None,
    transient_steps: int = 0,
    qr_every: int = 1,
    seed: int | None = 0,
    initial_frame=None,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    record_every: int | None = None,
    trace: bool = False,
    warn: bool = True,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of ``x_{n+1} = step(x_n)`` on states of shape ``S``, batched.

    ``λ_i = (1/(N Δt)) Σ_n log R_ii^(n)`` with ``Q_{n+1} R^(n) = J(x_n) Q_n`` (tangent QR of the
    flattened state, see :func:`physics_metrics.lyapunov_spectrum_map`).

    Parameters
    ----------
    step:
        Torch function ``(B, *S) → (B, *S)``; row ``b`` of the output may depend only on row ``b``
        of the input (true for emulators in eval mode without batch norm in training mode, and for
        the solver maps of :mod:`chaosbench_py.evaluation.emulator_lyapunov`). Must support
        forward-mode AD (:func:`torch.func.jvp`).
    x0:
        ``(B, *S)`` initial states (torch or numpy), ``len(S) ≥ 1``; ``D = prod(S)``.
    n_exponents:
        ``k ≤ D`` leading exponents (default 8).
    n_steps, transient_steps, qr_every, record_every:
        Averaged iterations, iterations before averaging (state and frame evolve, nothing is
        accumulated), iterations between QR steps, records of the running mean.
    time_step:
        Time one iteration stands for (e.g. 0.5 for a 12-hour step with exponents per day); the
        exponents are then per that time unit, otherwise per iteration.
    seed:
        Seed of the random initial frame (``None``: torch's global generator).
    initial_frame:
        ``None`` (default: ``k`` orthonormal columns, the QR of a seeded Gaussian ``(D, k)``), or an
        array ``(D, k)`` / ``(B, D, k)`` of tangent columns on the flattened state (orthonormalised).
    dtype, device:
        Computation dtype (float64 default; float32 loses the small exponents first, since
        ``log R_ii`` of a step is computed from columns that differ by rounding) and device.
    trace:
        Trace the tangent step to TorchScript (as in ``lyapunov_spectrum_map``); off by default: for
        gridded maps the tensors are large and tracing only costs time (and falls back anyway).
    warn:
        Passed on (only full spectra are checked, ``k = D``).

    Returns
    -------
    LyapunovSpectrum
        As :func:`physics_metrics.lyapunov_spectrum_map`; ``info["state_shape"]`` is ``S``.

    Raises
    ------
    MetricInputError
        ``x0`` not ``(B, *S)``, ``k > D``, ``step`` returning another shape (named) or not a
        tensor; ``NonFiniteInputError`` for NaN/inf in ``x0`` or along the orbit.
    """
    if not callable(step):
        raise MetricTypeError(f"step: must be callable, got {type(step).__name__}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise MetricTypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    try:
        x = torch.as_tensor(np.asarray(x0) if not isinstance(x0, torch.Tensor) else x0)
    except (TypeError, ValueError) as exc:
        raise MetricTypeError(f"x0: cannot be read as an array ({exc})") from None
    if x.ndim < 2 or x.shape[0] < 1 or any(s < 1 for s in x.shape):
        raise MetricInputError(
            f"x0: expected shape (B, *S) with a batch of initial states first and the state shape S after "
            f"(e.g. (B, C, H, W)), got {tuple(x.shape)}"
        )
    if x.is_complex():
        raise MetricTypeError("x0: complex states are not supported; pack real and imaginary parts")
    x = x.to(dtype=dtype, device=device)
    if not bool(torch.isfinite(x).all()):
        raise NonFiniteInputError("x0: contains NaN/inf")
    b, shape = x.shape[0], tuple(x.shape[1:])
    d = math.prod(shape)
    if isinstance(n_exponents, bool) or not isinstance(n_exponents, int | np.integer) or n_exponents < 1:
        raise MetricInputError(f"n_exponents: expected an integer ≥ 1, got {n_exponents!r}")
    k = int(n_exponents)
    if k > d:
        raise MetricInputError(f"n_exponents={k} exceeds the state dimension D = prod{shape} = {d} of x0")
    with torch.no_grad():
        out = step(x)
    if not isinstance(out, torch.Tensor):
        raise MetricTypeError(f"step: must return a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(x.shape):
        raise MetricInputError(
            f"step: must map states of shape (B, *S) = {tuple(x.shape)} to the same shape; got output "
            f"shape {tuple(out.shape)}"
        )

    def flat_step(z: torch.Tensor) -> torch.Tensor:
        return step(z.reshape(z.shape[0], *shape)).reshape(z.shape[0], d)

    if initial_frame is None:
        gen = None if seed is None else torch.Generator(device="cpu").manual_seed(int(seed))
        frame, _ = torch.linalg.qr(torch.randn(d, k, generator=gen, dtype=torch.float64))
        frame_info = f"random (D, k) QR (seed={seed})"
    else:
        frame = torch.as_tensor(
            np.asarray(initial_frame) if not isinstance(initial_frame, torch.Tensor) else initial_frame
        )
        if frame.ndim not in (2, 3) or tuple(frame.shape[-2:]) != (d, k):
            raise MetricInputError(
                f"initial_frame: expected shape (D, k) = ({d}, {k}) or (B, D, k), got {tuple(frame.shape)}"
            )
        frame_info = "given"
    logger.info("lyapunov_spectrum_gridded_map: B=%d, S=%s (D=%d), k=%d, %d+%d steps", b, shape, d, k,
                transient_steps, n_steps)  # fmt: skip
    result = lyapunov_spectrum_map(
        flat_step,
        x.reshape(b, d),
        n_steps=n_steps,
        n_exponents=k,
        transient_steps=transient_steps,
        qr_every=qr_every,
        time_step=time_step,
        record_every=record_every,
        initial_frame=frame.to(dtype=dtype, device=x.device),  # orthonormalised (and checked) there
        warn=warn,
        dtype=dtype,
        device=device,
        trace=trace,
    )
    result.info["state_shape"] = shape
    result.info["initial_frame"] = frame_info
    return result


def error_doubling_time(lambda_1):
    """Error-doubling time ``T_2 = ln 2 / λ_1`` (units: the time unit of ``λ_1``; days for 1/day).

    ``λ_1 ≤ 0`` (no growth of small errors: a stable or neutral map) gives ``inf``; NaN gives NaN.
    ``lambda_1`` may be a number (returns a float) or array-like (returns an array of the same shape).
    """
    try:
        lam = np.asarray(lambda_1, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricTypeError(
            f"lambda_1: expected a number or an array of numbers, got {lambda_1!r}"
        ) from None
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(lam > 0, math.log(2.0) / np.where(lam > 0, lam, 1.0), np.inf)
    out = np.where(np.isnan(lam), np.nan, out)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class LeadingKaplanYorke:
    """Kaplan–Yorke dimension from the leading ``k`` of ``D`` exponents.

    ``value``: ``D_KY = j + S_j / |λ_{j+1}|`` (``S_j`` the largest non-negative partial sum, see
    :func:`physics_metrics.kaplan_yorke_dimension`) when it is determined by the ``k`` exponents,
    i.e. when a partial sum turns negative within them (it only involves ``λ_1 … λ_{j+1}``, so it
    is then *exact*), or when ``k = D``; otherwise NaN. ``lower_bound``: ``k`` when the sum of all
    ``k`` stays ≥ 0 (then ``D_KY ≥ k``: the leading set is too small), else ``value``.
    ``determined``: whether ``value`` is the KY dimension. ``k``: exponents used.
    """

    value: float
    lower_bound: float
    determined: bool
    k: int


def leading_kaplan_yorke_dimension(exponents, n_total: int | None = None) -> LeadingKaplanYorke:
    """Kaplan–Yorke dimension of a truncated spectrum, honest about truncation (:class:`LeadingKaplanYorke`).

    ``exponents``: ``(k,)`` leading exponents (any order, any time unit; or a ``LyapunovSpectrum``).
    ``n_total``: the state dimension ``D`` (``k = D`` means the spectrum is complete; default: unknown,
    treated as ``> k``). Reference: Kaplan & Yorke (1979); Frederickson et al., J. Diff. Eq. 49 (1983).
    """
    lam = np.asarray(getattr(exponents, "exponents", exponents), dtype=np.float64).ravel()
    if lam.size == 0:
        raise MetricInputError("exponents: empty")
    if not np.all(np.isfinite(lam)):
        raise NonFiniteInputError("exponents: contain NaN/inf")
    k = int(lam.size)
    if n_total is not None and (isinstance(n_total, bool) or int(n_total) != n_total or n_total < k):
        raise MetricInputError(f"n_total={n_total!r}: must be an integer ≥ the number of exponents {k}")
    lam = np.sort(lam)[::-1]
    full = n_total is not None and int(n_total) == k
    if full or np.cumsum(lam)[-1] < 0 or lam[0] < 0:
        value = kaplan_yorke_dimension(lam)
        return LeadingKaplanYorke(value=value, lower_bound=value, determined=True, k=k)
    return LeadingKaplanYorke(value=math.nan, lower_bound=float(k), determined=False, k=k)
