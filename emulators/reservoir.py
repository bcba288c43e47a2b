"""Reservoir computers with a ridge-regression read-out: an echo state network and NVAR.

Both models are fitted in closed form (no gradient descent) and keep every fitted quantity in
registered buffers, so :func:`emulators.save_model` / :func:`emulators.load_model` round-trip them.
Everything is float64 by default (the read-out is a linear solve whose conditioning matters);
``model.float()`` converts the buffers as usual.

Sequences follow the package convention ``(batch, time, dim)``; an unbatched ``(time, dim)``
series is accepted everywhere and the result is then unbatched too.

* :class:`EchoStateNetwork` — leaky ESN (Jaeger 2001; Lukoševičius 2012, "A practical guide to
  applying echo state networks")::

      r_{t+1} = (1 − a) r_t + a · tanh(W r_t + W_in u_t + b)
      û_{t+1} = W_out φ(r_{t+1}),   φ(r) = [1, r]  or  [1, r, r∘r]  (quadratic read-out)

  ``W`` is a sparse random matrix (entries U(−1, 1) with probability ``connectivity``) rescaled so
  that its spectral radius is exactly ``spectral_radius``; ``W_in`` ~ U(−σ_in, σ_in), ``b`` ~ U(−σ_b, σ_b).
  The squared reservoir units in the read-out break the tanh's odd symmetry, as is common for
  chaotic flows (Pathak et al. 2018 square half of the units; Lu et al. 2017).

  Options for the set-up of Pathak, Hunt, Girvan, Lu & Ott (PRL 120, 024102, 2018; Pathak et al., Chaos 27,
  121102, 2017), all off by default: ``input_connectivity="one_per_node"`` — every reservoir unit is driven
  by exactly one input, in contiguous blocks (unit i reads input ⌊i·D/N⌋), entries U(−σ_in, σ_in);
  ``squared_half=True`` — read-out on r̃ alone (no constant), r̃_i = r_i for even i and r_i² for odd i
  (0-based; Pathak's MATLAB squares the 1-based even units); ``sparse_update=True`` — ``W r`` is computed
  with a CSR copy of W in :meth:`~EchoStateNetwork.listen` / :meth:`~EchoStateNetwork.predict` (the same
  map up to rounding; much faster at mean degree κ = N·connectivity ≈ 3). ``fit(..., solver="normal")``
  accumulates ΦᵀΦ and ΦᵀY over chunks of time instead of storing every state (70 000 × 5000 states would
  be 2.8 GB) and solves ``(ΦᵀΦ + λI) W_outᵀ = ΦᵀY`` by Cholesky (λ > 0).
* :class:`NVAR` — next-generation reservoir computing (Gauthier, Bollt, Griffith, Barbosa 2021,
  Nat. Commun. 12:5564): the feature vector at time t is ::

      O_lin = [x_t, x_{t−s}, …, x_{t−(k−1)s}]                (D·k numbers)
      O_nonlin = unique quadratic monomials O_lin,i · O_lin,j, i ≤ j   (D·k·(D·k+1)/2)
      O_total = [1, O_lin, O_nonlin]
      x_{t+1} = x_t + W_out O_total   (the read-out predicts the increment)

The ridge read-out is ``W_out = Y Φᵀ (Φ Φᵀ + λ I)⁻¹`` (features Φ, targets Y, λ = ``ridge``), solved in
float64 through the SVD of Φ (numerically the stable form of the normal equations); ``ridge = 0`` gives the
pseudo-inverse (minimum-norm least squares).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import torch
import torch.nn as nn

from .errors import EmulatorInputError, EmulatorTypeError, NotFittedError
from .registry import register_model
from .validation import check_bool, check_choice, check_int, check_real, check_tensor

logger = logging.getLogger(__name__)

__all__ = ["ESNConfig", "EchoStateNetwork", "NVAR", "NVARConfig", "ridge_regression"]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _as_series(series: Any, name: str, dim: int, min_length: int = 1) -> tuple[torch.Tensor, bool]:
    """``(T, D)`` or ``(B, T, D)`` array/tensor → float64 tensor ``(B, T, D)`` and whether it was batched."""
    try:
        x = torch.as_tensor(series)
    except Exception as exc:  # noqa: BLE001
        raise EmulatorTypeError(
            f"{name}: expected an array or tensor of shape (T, D) or (B, T, D), got {type(series)}"
        ) from exc
    if x.ndim not in (2, 3) or x.shape[-1] != dim:
        raise EmulatorInputError(
            f"{name}: expected shape (T, {dim}) or (B, T, {dim}) (the last axis is the state dimension), "
            f"got {tuple(x.shape)}"
        )
    batched = x.ndim == 3
    if not batched:
        x = x.unsqueeze(0)
    if x.shape[1] < min_length:
        raise EmulatorInputError(f"{name}: needs at least {min_length} time steps, got {x.shape[1]}")
    if x.dtype == torch.bool or x.is_complex():
        raise EmulatorTypeError(f"{name}: expected real numbers, got dtype {x.dtype}")
    if not torch.is_floating_point(x):
        x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        raise EmulatorInputError(f"{name}: contains NaN or infinite values")
    return x, batched


def _check_n_steps(n_steps: Any) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise EmulatorInputError(f"n_steps must be a positive int, got {n_steps!r}")
    return n_steps


def ridge_regression(features: torch.Tensor, targets: torch.Tensor, ridge: float) -> torch.Tensor:
    """Closed-form ridge read-out ``W = Yᵀ Φ (Φᵀ Φ + λ I)⁻¹`` in float64.

    Parameters
    ----------
    features:
        ``(M, F)`` feature rows Φ (one row per training sample).
    targets:
        ``(M, D)`` target rows Y.
    ridge:
        λ ≥ 0 (Tikhonov weight on every read-out coefficient, the constant included, as in Gauthier
        et al. 2021). ``0`` gives the minimum-norm least-squares solution (pseudo-inverse).

    Returns
    -------
    ``(D, F)`` read-out matrix ``W`` with ``Y ≈ Φ Wᵀ``.
    """
    if not (isinstance(ridge, int | float) and not isinstance(ridge, bool)) or not 0 <= ridge < float("inf"):
        raise EmulatorInputError(f"ridge must be a finite non-negative number, got {ridge!r}")
    features, targets = torch.as_tensor(features), torch.as_tensor(targets)
    if features.ndim != 2 or targets.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise EmulatorInputError(
            f"features (M, F) and targets (M, D) must share M; got {tuple(features.shape)} and {tuple(targets.shape)}"
        )
    phi = features.to(torch.float64)
    y = targets.to(torch.float64)
    if not (torch.isfinite(phi).all() and torch.isfinite(y).all()):
        raise EmulatorInputError("features / targets: contain NaN or infinite values (a diverged state?)")
    # SVD form W = Yᵀ U diag(σ/(σ² + λ)) Vᵀ: the same solution as the normal equations without squaring the
    # condition number of Φ (NVAR features on Lorenz-63 have cond(Φ) ~ 1e10).
    u, sig, vh = torch.linalg.svd(phi, full_matrices=False)
    if ridge == 0:
        cutoff = sig.max() * max(phi.shape) * torch.finfo(sig.dtype).eps
        inv = torch.where(
            sig > cutoff, 1.0 / sig.clamp_min(torch.finfo(sig.dtype).tiny), torch.zeros_like(sig)
        )
    else:
        inv = sig / (sig * sig + ridge)
    return ((y.T @ u) * inv) @ vh


# ----------------------------------------------------------------------------------------------
# echo state network
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ESNConfig:
    """Configuration of :class:`EchoStateNetwork` (all plain numbers, so checkpoints load with weights_only).

    input_dim: observed dimension D. reservoir_dim: N reservoir units. spectral_radius: target
    ρ(W). connectivity: probability that an entry of W is non-zero. input_scaling: σ_in of W_in.
    leak_rate: a ∈ (0, 1]. bias_scaling: σ_b of b. quadratic_readout: φ(r) = [1, r, r∘r] instead
    of [1, r]. seed: seeds W, W_in and b (the same seed gives the same reservoir).
    input_connectivity: ``"dense"`` (every entry of W_in drawn) or ``"one_per_node"`` (one non-zero per
    row, contiguous blocks, Pathak et al. 2018). squared_half: φ(r) = r̃ (odd units squared, no constant;
    needs ``quadratic_readout=False``). sparse_update: compute W r with a sparse (CSR) copy of W.
    """

    input_dim: int = 3
    reservoir_dim: int = 300
    spectral_radius: float = 0.9
    connectivity: float = 0.05
    input_scaling: float = 0.5
    leak_rate: float = 1.0
    bias_scaling: float = 0.1
    quadratic_readout: bool = True
    seed: int = 0
    input_connectivity: str = "dense"
    squared_half: bool = False
    sparse_update: bool = False

    def __post_init__(self) -> None:
        own = "ESNConfig"
        self.input_dim = check_int(own, "input_dim", self.input_dim)
        self.reservoir_dim = check_int(own, "reservoir_dim", self.reservoir_dim)
        self.spectral_radius = check_real(own, "spectral_radius", self.spectral_radius, above=0)
        self.connectivity = check_real(own, "connectivity", self.connectivity, above=0, at_most=1)
        self.leak_rate = check_real(own, "leak_rate", self.leak_rate, above=0, at_most=1)
        self.input_scaling = check_real(own, "input_scaling", self.input_scaling, at_least=0)
        self.bias_scaling = check_real(own, "bias_scaling", self.bias_scaling, at_least=0)
        check_bool(own, "quadratic_readout", self.quadratic_readout)
        self.seed = check_int(own, "seed", self.seed, minimum=0)
        check_choice(own, "input_connectivity", self.input_connectivity, ("dense", "one_per_node"))
        check_bool(own, "squared_half", self.squared_half)
        check_bool(own, "sparse_update", self.sparse_update)
        if self.squared_half and self.quadratic_readout:
            raise EmulatorInputError(
                "ESNConfig: squared_half=True replaces the [1, r, r∘r] read-out; set quadratic_readout=False"
            )
        if self.input_connectivity == "one_per_node" and self.reservoir_dim < self.input_dim:
            raise EmulatorInputError(
                f"ESNConfig.reservoir_dim ({self.reservoir_dim}) must be >= input_dim ({self.input_dim}) "
                "with input_connectivity='one_per_node' (every input drives at least one unit)"
            )


@register_model("esn", ESNConfig)
class EchoStateNetwork(nn.Module):
    """Leaky echo state network with a closed-form ridge read-out (see the module docstring).

    Buffers: ``w_res`` (N, N), ``w_in`` (N, D), ``bias`` (N,), ``readout`` (D, F) with
    F = 1 + N (+ N with the quadratic read-out; F = N with ``squared_half``), ``fitted`` (bool scalar). All
    float64.

    Usage::

        esn = EchoStateNetwork(ESNConfig(input_dim=3, reservoir_dim=500))
        esn.fit(x_train, ridge=1e-6, washout=100)     # x_train (T, 3) or (B, T, 3)
        pred = esn.predict(x_context, n_steps=1000)    # continues after the last context point
    """

    config: ESNConfig

    def __init__(self, config: ESNConfig):
        super().__init__()
        self.config = config
        n, d = config.reservoir_dim, config.input_dim
        gen = torch.Generator().manual_seed(int(config.seed))
        mask = torch.rand(n, n, generator=gen, dtype=torch.float64) < config.connectivity
        w = (2 * torch.rand(n, n, generator=gen, dtype=torch.float64) - 1) * mask
        radius = torch.linalg.eigvals(w).abs().max().item()
        if radius == 0:
            raise EmulatorInputError(
                f"the random reservoir (reservoir_dim={n}, connectivity={config.connectivity}, seed={config.seed}) "
                "has spectral radius 0; raise connectivity or reservoir_dim"
            )
        w = w * (config.spectral_radius / radius)
        if config.input_connectivity == "dense":
            w_in = (2 * torch.rand(n, d, generator=gen, dtype=torch.float64) - 1) * config.input_scaling
        else:  # one input per unit, contiguous blocks: unit i reads input floor(i·D/N)
            w_in = torch.zeros(n, d, dtype=torch.float64)
            values = (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * config.input_scaling
            w_in[torch.arange(n), (torch.arange(n) * d) // n] = values
        bias = (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1) * config.bias_scaling
        self.register_buffer("w_res", w)
        self.register_buffer("w_in", w_in)
        self.register_buffer("bias", bias)
        self.register_buffer("readout", torch.zeros(d, self.n_features, dtype=torch.float64))
        self.register_buffer("fitted", torch.tensor(False))

    # -- sizes -------------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        """Read-out feature count F = 1 + N (+ N when quadratic); N with ``squared_half``."""
        n = self.config.reservoir_dim
        if self.config.squared_half:
            return n
        return 1 + n + (n if self.config.quadratic_readout else 0)

    # -- pieces of the dynamics --------------------------------------------------------------
    def update(self, r: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Reservoir update ``r' = (1 − a) r + a tanh(W r + W_in u + b)``; ``r`` (B, N), ``u`` (B, D) → (B, N)."""
        check_tensor("r", r, ("batch", self.config.reservoir_dim))
        check_tensor("u", u, ("batch", self.config.input_dim))
        return self._update(r, u, None)

    def _sparse_w(self) -> torch.Tensor | None:
        """CSR copy of W when ``sparse_update`` (built per call, so it always matches the buffer)."""
        if not self.config.sparse_update:
            return None
        with warnings.catch_warnings():  # torch flags its CSR support as beta
            warnings.simplefilter("ignore", UserWarning)
            return self.w_res.to_sparse_csr()

    def _update(self, r: torch.Tensor, u: torch.Tensor, w_csr: torch.Tensor | None) -> torch.Tensor:
        a = self.config.leak_rate
        wr = r @ self.w_res.T if w_csr is None else (w_csr @ r.T).T
        pre = wr + u @ self.w_in.T + self.bias
        return (1 - a) * r + a * torch.tanh(pre)

    def features(self, r: torch.Tensor) -> torch.Tensor:
        """Read-out features φ(r): ``[1, r]``, ``[1, r, r∘r]`` or r̃ (squared_half); ``r`` (..., N) → (..., F)."""
        if self.config.squared_half:
            out = r.clone()
            out[..., 1::2] = r[..., 1::2] * r[..., 1::2]
            return out
        parts = [torch.ones_like(r[..., :1]), r]
        if self.config.quadratic_readout:
            parts.append(r * r)
        return torch.cat(parts, dim=-1)

    def output(self, r: torch.Tensor) -> torch.Tensor:
        """Read-out ``û = W_out φ(r)``; ``r`` (..., N) → (..., D)."""
        return self.features(r) @ self.readout.T

    def step(self, r: torch.Tensor) -> torch.Tensor:
        """Autonomous one-step map of the reservoir state, ``r ↦ update(r, W_out φ(r))``; (B, N) → (B, N).

        This is the closed-loop ESN as a map on R^N, suitable for
        ``physics_metrics.lyapunov_spectrum_map(esn.step, r0, time_step=Δt, n_exponents=k)``
        (get ``r0`` on the model's attractor from :meth:`listen`).
        """
        check_tensor("r", r, ("batch", self.config.reservoir_dim))
        return self.update(r, self.output(r))

    def listen(self, series: Any, r0: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced reservoir states: drive with ``u_0 … u_{T−1}`` from ``r0`` (default 0).

        ``series`` (T, D) or (B, T, D) → states ``r_1 … r_T`` of shape (B, T, N) (unbatched (T, N)).
        ``r_t`` has seen ``u_0 … u_{t−1}``, so ``W_out φ(r_t)`` predicts ``u_t``.
        """
        x, batched = _as_series(series, "series", self.config.input_dim)
        x = x.to(self.w_res)
        r = torch.zeros(x.shape[0], self.config.reservoir_dim, dtype=x.dtype, device=x.device)
        if r0 is not None:
            if not isinstance(r0, torch.Tensor) or r0.shape[-1:] != (self.config.reservoir_dim,):
                got = tuple(r0.shape) if isinstance(r0, torch.Tensor) else type(r0).__name__
                raise EmulatorInputError(
                    f"r0: expected shape ({self.config.reservoir_dim},) or (B, {self.config.reservoir_dim}), got {got}"
                )
            r = r + r0.to(r)
        w_csr = self._sparse_w()
        states = []
        for t in range(x.shape[1]):
            r = self._update(r, x[:, t], w_csr)
            states.append(r)
        out = torch.stack(states, dim=1)
        return out if batched else out[0]

    # -- fitting and forecasting -------------------------------------------------------------
    @torch.no_grad()
    def fit(
        self, series: Any, ridge: float = 1e-6, washout: int = 100, solver: str = "svd", chunk: int = 2000
    ) -> EchoStateNetwork:
        """Fit the read-out in closed form on teacher-forced states.

        ``series`` (T, D) or (B, T, D): the reservoir is driven from r = 0 by ``u_0 … u_{T−2}``;
        states ``r_{t}`` for ``t > washout`` are regressed on the targets ``u_t``. Returns ``self``.
        ``solver="svd"`` stores all features and uses :func:`ridge_regression`; ``solver="normal"``
        drives the reservoir ``chunk`` steps at a time, accumulates G = ΦᵀΦ (F × F) and ΦᵀY, and solves
        ``(G + λI) W_outᵀ = ΦᵀY`` by Cholesky (needs ridge > 0; memory O(F² + chunk·F), not O(T·F)).
        """
        if isinstance(washout, bool) or not isinstance(washout, int) or washout < 0:
            raise EmulatorInputError(f"washout must be a non-negative int, got {washout!r}")
        if solver not in ("svd", "normal"):
            raise EmulatorInputError(f"solver must be 'svd' or 'normal', got {solver!r}")
        x, _ = _as_series(series, "series", self.config.input_dim, min_length=washout + 2)
        if solver == "normal":
            return self._fit_normal(x, ridge, washout, chunk)
        states = self.listen(x[:, :-1])  # (B, T-1, N): states[:, t-1] predicts x[:, t]
        phi = self.features(states[:, washout:]).reshape(-1, self.n_features)
        y = x[:, washout + 1 :].to(phi).reshape(-1, self.config.input_dim)
        w = ridge_regression(phi, y, ridge)
        self.readout.copy_(w.to(self.readout))
        self.fitted.fill_(True)
        rmse = (phi @ w.T - y).pow(2).mean().sqrt().item()
        logger.info(
            "ESN read-out fitted on %d samples (ridge=%g): one-step RMSE %.3g", y.shape[0], ridge, rmse
        )
        return self

    def _fit_normal(self, x: torch.Tensor, ridge: Any, washout: int, chunk: Any) -> EchoStateNetwork:
        """Chunked normal equations (see :meth:`fit`); ``x`` (B, T, D) float."""
        if isinstance(ridge, bool) or not isinstance(ridge, int | float) or not 0 < ridge < float("inf"):
            raise EmulatorInputError(
                f"ridge must be a finite positive number with solver='normal', got {ridge!r}"
            )
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise EmulatorInputError(f"chunk must be a positive int, got {chunk!r}")
        x = x.to(self.w_res)
        f, d = self.n_features, self.config.input_dim
        gram = torch.zeros(f, f, dtype=x.dtype)
        cross = torch.zeros(f, d, dtype=x.dtype)
        yy, count = 0.0, 0
        r = torch.zeros(x.shape[0], self.config.reservoir_dim, dtype=x.dtype)
        n_in = x.shape[1] - 1  # inputs u_0 … u_{T-2}
        for start in range(0, n_in, chunk):
            stop = min(start + chunk, n_in)
            # states[:, j] has read u_{start+j} and predicts x[start+j+1]
            states = self.listen(x[:, start:stop], r0=r)
            r = states[:, -1]
            keep = max(0, washout - start)  # states r_t with t > washout (t = start + j + 1)
            if keep >= stop - start:
                continue
            phi = self.features(states[:, keep:]).reshape(-1, f)
            y = x[:, start + keep + 1 : stop + 1].reshape(-1, d)
            gram += phi.T @ phi
            cross += phi.T @ y
            yy += float((y * y).sum())
            count += y.shape[0]
        if not (torch.isfinite(gram).all() and torch.isfinite(cross).all()):
            raise EmulatorInputError("series: the reservoir states contain NaN or infinite values")
        gram.diagonal().add_(ridge)
        w = torch.cholesky_solve(cross, torch.linalg.cholesky(gram)).T  # (D, F)
        self.readout.copy_(w.to(self.readout))
        self.fitted.fill_(True)
        gram.diagonal().sub_(ridge)
        # Σ|y − Φwᵀ|² = Σ yᵀy − 2 Σ (Φᵀ Y)∘wᵀ + Σ (w G)∘w, from the accumulated moments (no stored states)
        sse = yy - 2 * float((w.T * cross).sum()) + float((w @ gram * w).sum())
        logger.info(
            "ESN read-out fitted (normal equations) on %d samples (ridge=%g): one-step RMSE %.3g",
            count, ridge, (max(sse, 0.0) / (count * d)) ** 0.5,
        )  # fmt: skip
        return self

    def _require_fitted(self) -> None:
        if not bool(self.fitted):
            raise NotFittedError("EchoStateNetwork: the read-out is not fitted; call fit(series) first")

    @torch.no_grad()
    def predict(self, warmup: Any, n_steps: int) -> torch.Tensor:
        """Teacher-forced warm-up on ``warmup`` (T_w, D) / (B, T_w, D), then ``n_steps`` autonomous steps.

        Returns the forecast of the ``n_steps`` states following the last warm-up point,
        (B, n_steps, D) (unbatched (n_steps, D)).
        """
        self._require_fitted()
        n_steps = _check_n_steps(n_steps)
        x, batched = _as_series(warmup, "warmup", self.config.input_dim)
        r = self.listen(x)[:, -1]
        w_csr = self._sparse_w()
        preds = []
        u = self.output(r)
        preds.append(u)
        for _ in range(n_steps - 1):
            r = self._update(r, u, w_csr)
            u = self.output(r)
            preds.append(u)
        out = torch.stack(preds, dim=1)
        return out if batched else out[0]

    def forward(self, warmup: Any, n_steps: int) -> torch.Tensor:
        """Same as :meth:`predict`."""
        return self.predict(warmup, n_steps)


# ----------------------------------------------------------------------------------------------
# NVAR (next-generation reservoir computing)
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class NVARConfig:
    """Configuration of :class:`NVAR`.

    input_dim: D. delay: k (number of delayed copies, k ≥ 1). skip: s (sample spacing between
    them). constant / quadratic: include the constant and the unique quadratic monomials.
    predict_increment: regress ``x_{t+1} − x_t`` (Gauthier et al.) instead of ``x_{t+1}``.
    """

    input_dim: int = 3
    delay: int = 2
    skip: int = 1
    constant: bool = True
    quadratic: bool = True
    predict_increment: bool = True

    def __post_init__(self) -> None:
        for key in ("input_dim", "delay", "skip"):
            setattr(self, key, check_int("NVARConfig", key, getattr(self, key)))
        for key in ("constant", "quadratic", "predict_increment"):
            check_bool("NVARConfig", key, getattr(self, key))


@register_model("nvar", NVARConfig)
class NVAR(nn.Module):
    """Next-generation reservoir computer (Gauthier et al. 2021) with a ridge read-out.

    The model's state is the delay window of the last ``L = (k − 1)·s + 1`` observations, flattened
    oldest first to ``(B, L·D)`` (:meth:`embed`); :meth:`step` is the one-step map on it, usable with
    ``physics_metrics.lyapunov_spectrum_map``.

    Buffers: ``readout`` (D, F) float64 with F = [1] + D·k + D·k(D·k+1)/2, ``fitted`` (bool).

    Lorenz-63 showcase of the paper: dt = 0.025, k = 2, s = 1, ridge 2.5·10⁻⁶, 28 features, trained on
    10 time units (400 points).
    """

    config: NVARConfig

    def __init__(self, config: NVARConfig):
        super().__init__()
        self.config = config
        lin = config.input_dim * config.delay
        iu = torch.triu_indices(lin, lin)
        self.register_buffer("quad_i", iu[0], persistent=False)
        self.register_buffer("quad_j", iu[1], persistent=False)
        self.register_buffer("readout", torch.zeros(config.input_dim, self.n_features, dtype=torch.float64))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def window(self) -> int:
        """Number of past observations the features need, ``L = (k − 1)·s + 1``."""
        return (self.config.delay - 1) * self.config.skip + 1

    @property
    def n_features(self) -> int:
        """Feature count F = [1] + D·k + [D·k·(D·k + 1)/2]."""
        lin = self.config.input_dim * self.config.delay
        return int(self.config.constant) + lin + (lin * (lin + 1) // 2 if self.config.quadratic else 0)

    def features_from_linear(self, lin: torch.Tensor) -> torch.Tensor:
        """``O_total = [1, O_lin, O_lin,i·O_lin,j (i ≤ j)]`` from ``O_lin`` (..., D·k) → (..., F)."""
        parts = []
        if self.config.constant:
            parts.append(torch.ones_like(lin[..., :1]))
        parts.append(lin)
        if self.config.quadratic:
            parts.append(lin[..., self.quad_i] * lin[..., self.quad_j])
        return torch.cat(parts, dim=-1)

    def _linear_from_window(self, w: torch.Tensor) -> torch.Tensor:
        """``(B, L, D)`` window (oldest first) → ``O_lin = [x_t, x_{t−s}, …]`` (B, D·k)."""
        last = self.window - 1
        idx = [last - j * self.config.skip for j in range(self.config.delay)]
        return w[:, idx].reshape(w.shape[0], -1)

    def embed(self, series: Any) -> torch.Tensor:
        """Delay state of the last ``L`` points of ``series`` (T, D) / (B, T, D) → (B, L·D), oldest first."""
        x, _ = _as_series(series, "series", self.config.input_dim, min_length=self.window)
        return x[:, -self.window :].reshape(x.shape[0], -1).to(self.readout)

    def step(self, state: torch.Tensor) -> torch.Tensor:
        """One-step map on the delay state (B, L·D) → (B, L·D): append ``x_{t+1}``, drop the oldest point.

        ``x_{t+1} = x_t + W_out O_total`` (or ``W_out O_total`` without ``predict_increment``).
        """
        d = self.config.input_dim
        check_tensor("state", state, ("batch", self.window * d))
        w = state.reshape(state.shape[0], self.window, d)
        out = self.features_from_linear(self._linear_from_window(w)) @ self.readout.T
        x_next = w[:, -1] + out if self.config.predict_increment else out
        return torch.cat([state[:, d:], x_next], dim=1)

    @torch.no_grad()
    def fit(self, series: Any, ridge: float = 2.5e-6) -> NVAR:
        """Fit the read-out in closed form on ``series`` (T, D) or (B, T, D) (float64). Returns ``self``.

        Training pairs: features at every t with a full window (t ≥ L − 1) and the target
        ``x_{t+1} − x_t`` (or ``x_{t+1}``), for t ≤ T − 2.
        """
        x, _ = _as_series(series, "series", self.config.input_dim, min_length=self.window + 1)
        x = x.to(torch.float64)
        b, t_len, d = x.shape
        last = self.window - 1
        n = t_len - self.window  # number of training pairs per trajectory
        lin = torch.cat(
            [
                x[:, last - j * self.config.skip : last - j * self.config.skip + n]
                for j in range(self.config.delay)
            ],
            dim=-1,
        )
        phi = self.features_from_linear(lin).reshape(-1, self.n_features)
        target = x[:, last + 1 : last + 1 + n]
        if self.config.predict_increment:
            target = target - x[:, last : last + n]
        y = target.reshape(-1, d)
        w = ridge_regression(phi, y, ridge)
        self.readout.copy_(w.to(self.readout))
        self.fitted.fill_(True)
        rmse = (phi @ w.T - y).pow(2).mean().sqrt().item()
        logger.info(
            "NVAR read-out fitted on %d samples (ridge=%g): one-step RMSE %.3g", y.shape[0], ridge, rmse
        )
        return self

    @torch.no_grad()
    def predict(self, warmup: Any, n_steps: int) -> torch.Tensor:
        """Autonomous forecast of the ``n_steps`` states after ``warmup`` (T_w ≥ L points, (T_w, D) / (B, T_w, D)).

        Returns (B, n_steps, D) (unbatched (n_steps, D)).
        """
        if not bool(self.fitted):
            raise NotFittedError("NVAR: the read-out is not fitted; call fit(series) first")
        n_steps = _check_n_steps(n_steps)
        x, batched = _as_series(warmup, "warmup", self.config.input_dim, min_length=self.window)
        state = self.embed(x)
        d = self.config.input_dim
        preds = []
        for _ in range(n_steps):
            state = self.step(state)
            preds.append(state[:, -d:])
        out = torch.stack(preds, dim=1)
        return out if batched else out[0]

    def forward(self, warmup: Any, n_steps: int) -> torch.Tensor:
        """Same as :meth:`predict`."""
        return self.predict(warmup, n_steps)
