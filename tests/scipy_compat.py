"""``scipy.special.sph_harm_y`` on every scipy the package supports (not a test file).

``sph_harm_y(n, m, theta, phi)`` (polar angle θ, azimuth φ) appeared in scipy 1.15; older versions have
``sph_harm(m, n, phi, theta)`` — the same function with the orders and angles swapped. The tests use this
independent implementation as the reference for the package's own spherical harmonics.
"""

try:
    from scipy.special import sph_harm_y
except ImportError:  # scipy < 1.15 (the minimum-versions environment)
    from scipy.special import sph_harm as _sph_harm

    def sph_harm_y(n, m, theta, phi):
        return _sph_harm(m, n, phi, theta)


__all__ = ["sph_harm_y"]
