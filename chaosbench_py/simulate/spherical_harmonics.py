"""Spherical harmonic transform: a re-export of :mod:`physics_metrics.spherical_harmonics`.

The transform (scalar and vector, Gauss–Legendre or Clenshaw–Curtis latitudes) lives in
:mod:`physics_metrics` so that physics diagnostics can use it without importing the simulators;
this module keeps every existing import working
(``from chaosbench_py.simulate.spherical_harmonics import SphericalHarmonicTransform, GRIDS, ...``).
Bad arguments raise :class:`physics_metrics.errors.MetricInputError` (a ``ValueError``, and a user
error for :func:`chaosbench_py.errors.is_user_error`). Conventions: see that module's docstring.
"""

from __future__ import annotations

from physics_metrics.spherical_harmonics import (
    GRIDS,
    SphericalHarmonicTransform,
    clenshaw_curtis_weights,
    legendre_tables,
)

__all__ = ["GRIDS", "SphericalHarmonicTransform", "clenshaw_curtis_weights", "legendre_tables"]
