"""Latitude weights: cell-area (WeatherBench2) and cos (ChaosBench), any orientation, with/without poles."""

import numpy as np
import pytest
import xarray as xr

from physics_metrics.weather import latitude_weights


def test_cos_weights_match_hand_formula_and_poles_are_zero():
    lat = np.arange(90, -91.5, -1.5)  # ChaosBench grid, 121 rows
    w = latitude_weights(lat, kind="cos")
    expected = np.cos(np.deg2rad(lat))
    expected[[0, -1]] = 0.0
    expected = 121 * expected / expected.sum()
    np.testing.assert_allclose(w.values, expected, rtol=1e-12)
    assert w.values[0] == 0.0 and w.values[-1] == 0.0
    assert w.mean() == pytest.approx(1.0)


def test_cell_area_equals_band_area_fraction_with_poles():
    lat = np.linspace(-90, 90, 121)
    w = latitude_weights(xr.DataArray(lat, dims="latitude", coords={"latitude": lat}))
    # independent: band i spans [lat_i - 0.75, lat_i + 0.75] clipped to the poles; area fraction = Δsin/2
    upper = np.deg2rad(np.minimum(lat + 0.75, 90))
    lower = np.deg2rad(np.maximum(lat - 0.75, -90))
    frac = (np.sin(upper) - np.sin(lower)) / 2.0
    np.testing.assert_allclose(frac.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(w.values / w.size, frac, rtol=1e-10)
    # notes: pole rows ≈ 0.0052 (not 0), interior within ~1e-4 of normalised cos weights
    assert w.values[0] == pytest.approx(0.0052, abs=2e-4)
    wc = latitude_weights(lat, kind="cos")
    np.testing.assert_allclose(w.values[1:-1], wc.values[1:-1], rtol=2e-4)


def test_cell_area_without_poles_outer_cells_reach_poles():
    lat = np.linspace(-87.1875, 87.1875, 32)  # WB2 64x32 grid
    w = latitude_weights(lat)
    edges = np.deg2rad(np.concatenate([[-90], np.arange(-90 + 5.625, 90, 5.625), [90]]))
    frac = np.diff(np.sin(edges)) / 2.0
    np.testing.assert_allclose(w.values / 32, frac, rtol=1e-10)


@pytest.mark.parametrize("kind", ["cell_area", "cos"])
def test_orientation_does_not_matter(kind):
    lat = np.linspace(90, -90, 61)
    w_desc = latitude_weights(lat, kind=kind)
    w_asc = latitude_weights(lat[::-1], kind=kind)
    np.testing.assert_allclose(w_desc.values, w_asc.values[::-1], rtol=1e-14)
    np.testing.assert_array_equal(w_desc["latitude"].values, lat)
    rng = np.random.default_rng(1)
    perm = rng.permutation(61)
    w_perm = latitude_weights(lat[perm], kind=kind)
    np.testing.assert_allclose(w_perm.values, w_desc.values[perm], rtol=1e-14)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="kind"):
        latitude_weights([0, 10], kind="area")
    with pytest.raises(ValueError, match="outside"):
        latitude_weights([0, 95])
    with pytest.raises(ValueError, match="distinct"):
        latitude_weights([0, 10, 10])
    with pytest.raises(ValueError, match="NaN"):
        latitude_weights([0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        latitude_weights(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="zero"):
        latitude_weights([90.0], kind="cos")
