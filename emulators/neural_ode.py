"""Neural ODE baseline: an MLP vector field integrated with torchdiffeq (Chen et al. 2018).

    dx/dt = f_θ(x),   x_{n+1} = Φ_Δt(x_n) = x_n + ∫_0^Δt f_θ(x(τ)) dτ

``f_θ`` is an MLP ``D → H → … → H → D`` (``n_layers`` hidden layers of width ``hidden_dim``;
``n_layers = 0`` is the affine field ``f(x) = A x + c``). :meth:`NeuralODE.step` is the flow map over
the fixed output interval ``Δt = config.dt``, so the model is a map ``(B, D) → (B, D)`` that
``physics_metrics.lyapunov_spectrum_map(model.step, x0, time_step=model.config.dt)`` accepts
(forward-mode AD goes through the solver's arithmetic). With an adaptive ``method`` the number of
solver steps depends on the state: pass ``trace=False`` to ``lyapunov_spectrum_map`` then, because
its tracing fixes the control flow of the example call.

``adjoint=True`` back-propagates with the adjoint ODE (``torchdiffeq.odeint_adjoint``, O(1) memory
in the number of solver steps); otherwise gradients go through the solver's operations.
Baseline of the GTF paper (Hess et al. 2023, "N-ODE") and of Gilpin 2023 (30 hidden units).
"""

from __future__ import annotations

import dataclasses
import logging

import torch
import torch.nn as nn
from torchdiffeq import odeint, odeint_adjoint

from .errors import EmulatorInputError, EmulatorTypeError
from .registry import register_model
from .validation import check_bool, check_choice, check_int, check_real

logger = logging.getLogger(__name__)

__all__ = ["NeuralODE", "NeuralODEConfig", "VectorField"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "softplus": nn.Softplus}
_FIXED_GRID = {"euler", "midpoint", "rk4", "explicit_adams", "implicit_adams", "heun2", "heun3"}
_ADAPTIVE = {"dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun", "tsit5"}


@dataclasses.dataclass
class NeuralODEConfig:
    """Configuration of :class:`NeuralODE`.

    state_dim: D. hidden_dim: H. n_layers: hidden layers of the MLP (0 → affine field).
    activation: one of tanh, relu, gelu, silu, softplus. dt: the time between consecutive outputs
    (the step of :meth:`NeuralODE.step`), in the data's time units. method: a torchdiffeq solver name.
    step_size: inner step of fixed-grid solvers (0 → one solver step per ``dt``). rtol, atol: adaptive
    solvers' tolerances. adjoint: gradients by the adjoint method. seed: parameter initialisation.
    """

    state_dim: int = 3
    hidden_dim: int = 64
    n_layers: int = 2
    activation: str = "tanh"
    dt: float = 0.01
    method: str = "rk4"
    step_size: float = 0.0
    rtol: float = 1e-6
    atol: float = 1e-8
    adjoint: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        own = "NeuralODEConfig"
        self.state_dim = check_int(own, "state_dim", self.state_dim)
        self.n_layers = check_int(own, "n_layers", self.n_layers, minimum=0)
        self.hidden_dim = check_int(own, "hidden_dim", self.hidden_dim, minimum=1 if self.n_layers > 0 else 0)
        check_choice(own, "activation", self.activation, sorted(_ACTIVATIONS))
        self.dt = check_real(own, "dt", self.dt, above=0)
        check_choice(own, "method", self.method, sorted(_FIXED_GRID | _ADAPTIVE))
        self.step_size = check_real(own, "step_size", self.step_size, at_least=0)
        self.rtol = check_real(own, "rtol", self.rtol, above=0)
        self.atol = check_real(own, "atol", self.atol, above=0)
        check_bool(own, "adjoint", self.adjoint)
        self.seed = check_int(own, "seed", self.seed, minimum=0)


class VectorField(nn.Module):
    """The autonomous MLP field ``f_θ(t, x)``; ``x`` (..., D) → (..., D). ``t`` is ignored."""

    def __init__(self, config: NeuralODEConfig):
        super().__init__()
        dims = [config.state_dim] + [config.hidden_dim] * config.n_layers + [config.state_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(_ACTIVATIONS[config.activation]())
        self.net = nn.Sequential(*layers)
        self.n_evals = 0

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self.n_evals += 1
        return self.net(x)


@register_model("neural_ode", NeuralODEConfig)
class NeuralODE(nn.Module):
    """MLP vector field + ODE solver; outputs every ``config.dt`` (see the module docstring).

    ``forward(x0, n_steps)``: ``x0`` (B, D) or (D,) → trajectory ``x(Δt) … x(n·Δt)`` of shape
    (B, n_steps, D) (unbatched (n_steps, D)), solved in one ``odeint`` call over the output grid.
    """

    config: NeuralODEConfig

    def __init__(self, config: NeuralODEConfig):
        super().__init__()
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(config.seed))
            self.field = VectorField(config)

    def vector_field(self, x: torch.Tensor) -> torch.Tensor:
        """``f_θ(x)``; (..., D) → (..., D)."""
        return self.field(torch.zeros((), dtype=x.dtype, device=x.device), x)

    def _solve(self, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        options = {}
        kwargs = {}
        if cfg.method in _FIXED_GRID:
            if cfg.step_size > 0:
                options["step_size"] = cfg.step_size
        else:
            kwargs = {"rtol": cfg.rtol, "atol": cfg.atol}
        solver = odeint_adjoint if cfg.adjoint else odeint
        return solver(self.field, x0, t, method=cfg.method, options=options or None, **kwargs)

    def _check_state(self, x: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
        if not isinstance(x, torch.Tensor):
            raise EmulatorTypeError(
                f"{name}: expected a torch.Tensor of shape (B, D) or (D,), got {type(x).__name__}"
            )
        if x.ndim not in (1, 2) or x.shape[-1] != self.config.state_dim:
            raise EmulatorInputError(
                f"{name}: expected shape (B, {self.config.state_dim}) or ({self.config.state_dim},), got {tuple(x.shape)}"
            )
        if not torch.is_floating_point(x):
            raise EmulatorInputError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        batched = x.ndim == 2
        return (x if batched else x.unsqueeze(0)), batched

    def _param_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """Flow map over one output interval ``Δt``; (B, D) → (B, D).

        Computed in the model's dtype and returned in the input's dtype (so a float64 caller such as
        ``lyapunov_spectrum_map`` works with a float32 model; call ``model.double()`` for float64 accuracy).
        """
        x, batched = self._check_state(x, "x")
        in_dtype = x.dtype
        x = x.to(self._param_dtype())
        t = torch.tensor([0.0, self.config.dt], dtype=x.dtype, device=x.device)
        out = self._solve(x, t)[1].to(in_dtype)
        return out if batched else out[0]

    def forward(self, x0: torch.Tensor, n_steps: int | None = None) -> torch.Tensor:
        x, batched = self._check_state(x0, "x0")
        if n_steps is None:
            raise EmulatorInputError(
                "n_steps: NeuralODE.forward(x0, n_steps) needs the number of output steps"
            )
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise EmulatorInputError(f"n_steps must be a positive int, got {n_steps!r}")
        x = x.to(self._param_dtype())  # the output is in the model's dtype
        t = torch.arange(n_steps + 1, dtype=x.dtype, device=x.device) * self.config.dt
        out = self._solve(x, t)[1:].transpose(0, 1)  # (B, n_steps, D)
        return out if batched else out[0]
