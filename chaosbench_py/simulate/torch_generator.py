"""torch's CPU random number generator for ``randperm`` and float64 ``randn``, in numpy (no torch import).

The torch-free ``chaosbench generate`` (:mod:`.fast_start`) draws its initial conditions with it, so they are
torch's bit for bit (``tests/test_fast_start.py`` compares them with torch for many seeds and sizes).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TorchCPUGenerator"]



class TorchCPUGenerator:
    """``torch.Generator().manual_seed(seed)`` on the CPU, for ``randperm`` and float64 ``randn``, in numpy.

    torch's CPU generator is MT19937 seeded by ``init_genrand`` of the seed's low 32 bits, the seeding of
    numpy's legacy ``RandomState``, whose full-range 32-bit draws are the raw outputs. Like torch's, it
    keeps the second value of a scalar Box–Muller pair for the next draw.
    """

    def __init__(self, seed: int):
        self._stream = np.random.RandomState(int(seed) & 0xFFFFFFFF)
        self._cached_normal: float | None = None

    def _draw32(self, k: int) -> np.ndarray:
        """``k`` raw 32-bit outputs (one MT19937 output each, unmasked), as uint64."""
        return self._stream.randint(0, 2**32, size=k, dtype=np.uint64)

    def _uniform53(self, k: int) -> list[float]:
        """``k`` float64 uniforms in [0, 1) as ATen's ``uniform_real_distribution<double>``: the low 53 bits
        of ``random64() = (first draw << 32) | second draw``, times 2⁻⁵³."""
        raw = self._draw32(2 * k)
        bits = ((raw[0::2] << np.uint64(32)) | raw[1::2]) & np.uint64((1 << 53) - 1)
        return (bits.astype(np.float64) * 2.0**-53).tolist()

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n, generator=g)`` (n < 2³²/20): for i = 0 … n−2 swap entry i with entry
        ``i + random() % (n − i)``; int64 (n,)."""
        if n >= (2**32 - 1) // 20:
            raise ValueError(f"randperm: n = {n} takes torch's large-n branch, not reproduced")
        if n < 2:
            return np.arange(n, dtype=np.int64)
        draws = self._draw32(n - 1)
        targets = (draws % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64) + np.arange(n - 1)
        perm = list(range(n))
        for i, j in enumerate(targets.tolist()):
            perm[i], perm[j] = perm[j], perm[i]
        return np.asarray(perm, dtype=np.int64)

    def randn(self, size: int) -> np.ndarray:
        """``torch.randn(size, generator=g, dtype=torch.float64)``; (size,).

        At 16 values or more (contiguous): all uniforms first, Box–Muller on blocks of 16 (pairs j, j + 8:
        ``sqrt(−2 log(1 − u_j))`` times ``cos``/``sin`` of ``2π u_{j+8}``), and a tail that is not a whole
        block redone on 16 fresh uniforms over the last 16 slots. Below 16: per value, the cached second
        value of the last pair, else a new pair ``(u1, u2)``: ``r = sqrt(−2 log1p(−u2))``, ``θ = 2π u1``,
        ``r cos θ`` returned and ``r sin θ`` cached. The elementary functions are the C library's (``math``),
        as in ATen's scalar code.
        """
        if size >= 16:
            d = self._uniform53(size)
            for i in range(0, size - 15, 16):
                block = d[i : i + 16]
                _box_muller_16(block)
                d[i : i + 16] = block
            if size % 16:
                block = self._uniform53(16)
                _box_muller_16(block)
                d[size - 16 :] = block
            return np.asarray(d, dtype=np.float64)
        out: list[float] = []
        for _ in range(size):
            if self._cached_normal is not None:
                out.append(self._cached_normal)
                self._cached_normal = None
                continue
            u1, u2 = self._uniform53(2)
            r = math.sqrt(-2.0 * math.log1p(-u2))
            theta = 2.0 * math.pi * u1
            self._cached_normal = r * math.sin(theta)
            out.append(r * math.cos(theta))
        return np.asarray(out, dtype=np.float64)


def _box_muller_16(d: list[float]) -> None:
    """ATen's ``normal_fill_16`` (mean 0, std 1) in place on 16 uniforms: pairs (j, j + 8)."""
    for j in range(8):
        radius = math.sqrt(-2 * math.log(1 - d[j]))
        theta = 2.0 * math.pi * d[j + 8]
        d[j] = radius * math.cos(theta) * 1.0 + 0.0
        d[j + 8] = radius * math.sin(theta) * 1.0 + 0.0
