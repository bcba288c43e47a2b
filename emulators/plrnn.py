"""Shallow piecewise-linear RNN (shPLRNN) and its clipped variant, as in the GTF paper.

Hess, Monfared, Brenner, Durstewitz, "Generalized Teacher Forcing for Learning Chaotic Dynamics",
ICML 2023 (PMLR 202:13017-13049); equations and initialisation follow the authors' Julia code
(``DurstewitzLab/GTF-shPLRNN``: ``src/models/shallow_plrnn.jl``, ``initialization.jl``, ``affine.jl``).

Latent step (``M`` latent units, ``H`` hidden units, ``K`` external inputs)::

    shPLRNN:          z_{t+1} = A ⊙ z_t + W1 relu(W2 z_t + h2) + h1 (+ C s_{t+1})
    clipped shPLRNN:  z_{t+1} = A ⊙ z_t + W1 [relu(W2 z_t + h2) - relu(W2 z_t)] + h1 (+ C s_{t+1})

with ``A ∈ R^M`` (a diagonal matrix stored as a vector), ``W1 ∈ R^{M×H}``, ``W2 ∈ R^{H×M}``,
``h1 ∈ R^M``, ``h2 ∈ R^H``, ``C ∈ R^{M×K}``. Analytic Jacobian::

    J(z) = diag(A) + W1 diag(d(z)) W2,   d = 1[W2 z + h2 > 0]            (shPLRNN)
                                          d = 1[W2 z + h2 > 0] - 1[W2 z > 0]   (clipped)

Observation models (``N`` observed dimensions):

* ``"identity"``: ``x̂ = z[:N]``; the initial state from data is ``z = [x, L x]`` with a learned
  ``L ∈ R^{(M-N)×N}`` when ``M > N`` (GTF ``Identity`` model).
* ``"affine"``: ``x̂ = B z (+ b)``; forcing signals / initial states ``ẑ = pinv(B) (x - b)``, ``B``
  Kaiming-normal initialised; its condition-number regulariser is
  :meth:`ShPLRNN.observation_regularization`.

Teacher-forced rollouts with an analytic backward pass (the fast path of GTF training):
:func:`emulators.plrnn_bptt.forced_rollout`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .errors import EmulatorInputError, EmulatorTypeError
from .registry import register_model

logger = logging.getLogger(__name__)

__all__ = ["ShPLRNN", "ShPLRNNConfig", "normalized_positive_definite_diagonal"]

_OBSERVATIONS = ("identity", "affine")


@dataclass
class ShPLRNNConfig:
    """Configuration of :class:`ShPLRNN`.

    obs_dim: N, observed dimensions. latent_dim: M (>= N for ``"identity"``). hidden_dim: H.
    clipped: use the clipped shPLRNN (bounded orbits when ``max|A| < 1``).
    observation: ``"identity"`` or ``"affine"``. obs_bias: affine read-out with a bias ``b``.
    input_dim: K external inputs (0: none).
    """

    obs_dim: int
    latent_dim: int
    hidden_dim: int
    clipped: bool = False
    observation: str = "identity"
    obs_bias: bool = False
    input_dim: int = 0

    def __post_init__(self) -> None:
        for key in ("obs_dim", "latent_dim", "hidden_dim"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise EmulatorInputError(f"ShPLRNNConfig.{key} must be a positive int, got {value!r}")
        if isinstance(self.input_dim, bool) or not isinstance(self.input_dim, int) or self.input_dim < 0:
            raise EmulatorInputError(f"ShPLRNNConfig.input_dim must be an int >= 0, got {self.input_dim!r}")
        if self.observation not in _OBSERVATIONS:
            raise EmulatorInputError(
                f"ShPLRNNConfig.observation must be one of {_OBSERVATIONS}, got {self.observation!r}"
            )
        if self.observation == "identity" and self.latent_dim < self.obs_dim:
            raise EmulatorInputError(
                f"ShPLRNNConfig.latent_dim ({self.latent_dim}) must be >= obs_dim ({self.obs_dim}) "
                "for the identity observation model"
            )


def normalized_positive_definite_diagonal(m: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Diagonal of a normalised positive-definite matrix (Talathi & Vartak 2016; GTF ``initialize_A``).

    ``R ~ N(0, 1)^{M×M}``, ``K = Rᵀ R / M + I``, ``K /= λ_max(K)``; returns ``diag(K)``, shape ``(M,)``,
    entries in ``(0, 1]``.
    """
    r = torch.randn(m, m, generator=generator, dtype=torch.float64)
    k = r.T @ r / m + torch.eye(m, dtype=torch.float64)
    k = k / torch.linalg.eigvalsh(k)[-1]
    return torch.diagonal(k).to(torch.get_default_dtype()).clone()


def _uniform(shape: tuple[int, ...], bound: float) -> torch.Tensor:
    return (torch.rand(shape) * 2.0 - 1.0) * bound


@register_model("shplrnn", ShPLRNNConfig)
class ShPLRNN(nn.Module):
    """Shallow PLRNN / clipped shallow PLRNN (see the module docstring for the equations).

    Shapes: latent states ``z (..., M)``, observations ``x (..., N)``, inputs ``s (..., K)``.
    Initialisation (GTF ``initialization.jl``): ``A`` = :func:`normalized_positive_definite_diagonal`,
    ``W1 ~ U(±1/√H)``, ``W2 ~ U(±1/√M)``, ``h1 = 0``, ``h2 = 0`` (shPLRNN) or ``h2 ~ U(±1/√H)``
    (clipped), ``C ~ U(±1/√K)``; identity-model ``L ~ U(±1/√N)``; affine ``B`` Kaiming normal
    (std ``√(2/M)``), ``b = 0``. Draws from torch's global RNG (seed it with ``torch.manual_seed``).
    """

    config: ShPLRNNConfig

    def __init__(self, config: ShPLRNNConfig):
        super().__init__()
        self.config = config
        m, h, n, k = config.latent_dim, config.hidden_dim, config.obs_dim, config.input_dim
        self.A = nn.Parameter(normalized_positive_definite_diagonal(m))
        self.W1 = nn.Parameter(_uniform((m, h), 1.0 / math.sqrt(h)))
        self.W2 = nn.Parameter(_uniform((h, m), 1.0 / math.sqrt(m)))
        self.h1 = nn.Parameter(torch.zeros(m))
        self.h2 = nn.Parameter(_uniform((h,), 1.0 / math.sqrt(h)) if config.clipped else torch.zeros(h))
        self.C = nn.Parameter(_uniform((m, k), 1.0 / math.sqrt(k))) if k > 0 else None
        self.L = None
        self.B = None
        self.b = None
        if config.observation == "identity":
            if m > n:
                self.L = nn.Parameter(_uniform((m - n, n), 1.0 / math.sqrt(n)))
        else:
            self.B = nn.Parameter(torch.randn(n, m) * math.sqrt(2.0 / m))
            self.b = nn.Parameter(torch.zeros(n)) if config.obs_bias else None

    # ------------------------------------------------------------------ dynamics
    def _check(self, z: torch.Tensor, size: int, name: str) -> None:
        if not isinstance(z, torch.Tensor):
            raise EmulatorTypeError(f"{name} must be a tensor of shape (..., {size}), got {type(z).__name__}")
        if z.shape[-1:] != (size,):
            raise EmulatorInputError(f"{name} must be a tensor of shape (..., {size}), got {tuple(z.shape)}")
        if not torch.is_floating_point(z):
            raise EmulatorInputError(f"{name} must be a floating-point tensor, got dtype {z.dtype}")

    def step(self, z: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        """One latent step ``z_t (..., M) → z_{t+1} (..., M)``; ``s (..., K)`` the input at ``t+1``."""
        self._check(z, self.config.latent_dim, "z")
        pre = z @ self.W2.T
        if self.config.clipped:
            phi = torch.relu(pre + self.h2) - torch.relu(pre)
        else:
            phi = torch.relu(pre + self.h2)
        out = self.A * z + phi @ self.W1.T + self.h1
        if s is not None:
            if self.C is None:
                raise EmulatorInputError("s: the model has input_dim=0 and takes no external inputs")
            self._check(s, self.config.input_dim, "s")
            out = out + s @ self.C.T
        return out

    def forward(
        self, z0: torch.Tensor, n_steps: int | None = None, inputs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Free run: ``z0 (B, M)`` → latent states ``z_1..z_n`` of shape ``(B, n_steps, M)``.

        ``n_steps`` is required (``None`` only so that a forgotten one is reported after the shape
        of ``z0``). ``inputs``: optional ``(B, n_steps, K)`` external inputs ``s_1..s_n``.
        """
        self._check(z0, self.config.latent_dim, "z0")
        if n_steps is None:
            raise EmulatorInputError("n_steps: ShPLRNN.forward(z0, n_steps) needs the number of steps to run")
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
            raise EmulatorInputError(f"n_steps must be an int >= 0, got {n_steps!r}")
        if inputs is not None:
            self._check(inputs, self.config.input_dim, "inputs")
            if inputs.shape[:-1] != (*z0.shape[:-1], n_steps):
                want = ", ".join(str(v) for v in (*z0.shape[:-1], n_steps, self.config.input_dim))
                raise EmulatorInputError(f"inputs must have shape ({want}), got {tuple(inputs.shape)}")
        z = z0
        out = []
        for t in range(n_steps):
            z = self.step(z, None if inputs is None else inputs[..., t, :])
            out.append(z)
        if not out:
            return z0.new_zeros((*z0.shape[:-1], 0, z0.shape[-1]))
        return torch.stack(out, dim=-2)

    def jacobian(self, z: torch.Tensor) -> torch.Tensor:
        """Analytic Jacobian ``∂z_{t+1}/∂z_t`` at ``z (..., M)``: ``(..., M, M)`` (see module docstring)."""
        self._check(z, self.config.latent_dim, "z")
        pre = z @ self.W2.T
        d = (pre + self.h2 > 0).to(z.dtype)
        if self.config.clipped:
            d = d - (pre > 0).to(z.dtype)
        m = self.config.latent_dim
        if m * m <= max(1, d[..., 0].numel()) * m:  # one GEMM: J_ij = Σ_h d_h (W1_ih W2_hj)
            k = (self.W1.T.unsqueeze(2) * self.W2.unsqueeze(1)).reshape(-1, m * m)  # (H, M²)
            jac = (d @ k).unflatten(-1, (m, m))
        else:
            jac = (self.W1 * d.unsqueeze(-2)) @ self.W2
        return jac + torch.diag_embed(self.A.expand_as(z))

    def norm_upper_bound(self) -> torch.Tensor:
        """Model-based bound on ``||J||₂``: ``max|A| + ||W1||₂ ||W2||₂`` (GTF ``norm_upper_bound``)."""
        return self.A.abs().max() + torch.linalg.matrix_norm(self.W1, 2) * torch.linalg.matrix_norm(
            self.W2, 2
        )

    # ------------------------------------------------------------------ observation model
    def observe(self, z: torch.Tensor) -> torch.Tensor:
        """Read-out ``x̂ (..., N)`` of latent states ``z (..., M)``."""
        self._check(z, self.config.latent_dim, "z")
        if self.B is None:
            return z[..., : self.config.obs_dim]
        x = z @ self.B.T
        return x + self.b if self.b is not None else x

    def _pinv_B(self) -> torch.Tensor:
        """``pinv(B)`` via ``inv(B)`` / ``Bᵀ(BBᵀ)⁻¹`` / ``(BᵀB)⁻¹Bᵀ`` (full rank; smooth gradients, unlike SVD)."""
        b = self.B
        n, m = b.shape
        if n == m:
            return torch.linalg.inv(b)
        if n < m:
            return torch.linalg.solve(b @ b.T, b).T
        return torch.linalg.solve(b.T @ b, b.T)

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        """Latent state inferred from an observation ``x (..., N)``: ``[x, L x]`` or ``pinv(B)(x - b)``."""
        self._check(x, self.config.obs_dim, "x")
        if self.B is None:
            if self.L is None:
                return x
            return torch.cat([x, x @ self.L.T], dim=-1)
        if self.b is not None:
            x = x - self.b
        return x @ self._pinv_B().T

    def forcing_signal(self, x: torch.Tensor) -> torch.Tensor:
        """Data-inferred state ``ẑ (..., M)`` used by teacher forcing (equal to :meth:`init_state`)."""
        return self.init_state(x)

    @torch.no_grad()
    def generate(self, x0: torch.Tensor, n_steps: int, inputs: torch.Tensor | None = None) -> torch.Tensor:
        """Free-running observations from ``x0 (B, N)``: ``(B, n_steps, N)``; row 0 is ``observe(init_state(x0))``.

        As the GTF ``generate(model, O, x0, T)``: ``n_steps - 1`` free steps after the inferred initial state.
        """
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise EmulatorInputError(f"n_steps must be an int >= 1, got {n_steps!r}")
        z0 = self.init_state(x0)
        zs = self.forward(z0, n_steps - 1, inputs)
        return self.observe(torch.cat([z0.unsqueeze(-2), zs], dim=-2))

    # ------------------------------------------------------------------ regularisers
    def latent_regularization(self) -> torch.Tensor:
        """``||1 - A||² + ||W1||² + ||W2||² + ||h1||² + ||h2||² (+ ||C||²)`` (GTF latent L2, pulls A → 1)."""
        reg = ((1.0 - self.A) ** 2).sum()
        for p in (self.W1, self.W2, self.h1, self.h2, self.C):
            if p is not None:
                reg = reg + (p**2).sum()
        return reg

    def observation_regularization(self) -> torch.Tensor:
        """Affine model: ``(1 - s_max/s_min)²`` of ``B``'s singular values (condition penalty); else 0."""
        if self.B is None:
            return self.A.new_zeros(())
        s = torch.linalg.svdvals(self.B)
        return (1.0 - s[0] / s[-1]) ** 2
