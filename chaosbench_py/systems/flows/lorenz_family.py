"""Lorenz-63 (the reference example of how a catalog right-hand side is written)."""

import torch

from ..registry import register_flow


@register_flow("Lorenz")
def lorenz(t, x, p):
    """Lorenz (1963): x' = σ(y − x), y' = x(ρ − z) − y, z' = xy − βz."""
    x0, y0, z0 = x.unbind(-1)
    return torch.stack((p["sigma"] * (y0 - x0), x0 * (p["rho"] - z0) - y0, x0 * y0 - p["beta"] * z0), dim=-1)
