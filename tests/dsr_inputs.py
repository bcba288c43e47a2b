"""Inputs shared by the DSR-score tests (``test_power_spectrum``, ``test_state_space``)."""

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
GTF = SHARED / "data" / "gtf"


def dsr_test_series(n=400):
    """Deterministic 3-d test series (also used to compute the dysts reference numbers)."""
    t = np.arange(n) * 0.05
    x = np.stack([np.sin(t), np.cos(1.3 * t) + 0.5, np.sin(0.7 * t) * np.cos(0.2 * t)], axis=1)
    y = x + np.stack([0.3 * np.sin(5.1 * t + 1), 0.2 * np.cos(3.3 * t), 0.1 * np.sin(2.2 * t + 0.3)], axis=1)
    return x, y + 0.05


def load_gtf(name):
    """One array of the shared GTF data set; skips the test when ``../shared`` is absent."""
    path = GTF / name
    if not path.exists():
        pytest.skip(f"shared GTF data not available ({path})")
    return np.load(path).astype(np.float64)
