"""Report figures and sections on small synthetic data in the real schemas (forecast, truth, scorecard)."""

from __future__ import annotations

import math
import re
import socket
import sys
import types

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

from chaosbench_py.evaluation.dsr import DSREvaluation
from chaosbench_py.report import (
    COASTLINES_MASK,
    COASTLINES_NONE,
    Report,
    add_dynamics_section,
    add_weather_section,
    natural_earth_coastline_path,
    plot_attractors,
    plot_forecast_maps,
    plot_lyapunov_spectra,
    plot_scores_vs_lead,
    plot_zonal_power_spectra,
)
from physics_metrics.weather.references import climatology_forecast, persistence_forecast
from physics_metrics.weather.scorecard import scorecard
from physics_metrics.weather.spectra import EARTH_RADIUS_M

matplotlib.use("Agg")

RES = 10.0
LAT = np.linspace(90.0, -90.0, int(180 / RES) + 1)  # canonical: 90 → −90
LON = np.arange(0.0, 360.0, RES)  # canonical: 0 → 360
LEVELS = (500, 850)
HOT = (10.0, 40.0)  # (lon, lat) of the hot spot: on the grid


def _truth(n_days=9, seed=0):
    rng = np.random.default_rng(seed)
    times = pd.date_range("2022-01-01", periods=n_days, freq="D")
    shape3 = (n_days, len(LEVELS), LAT.size, LON.size)
    z = 50000.0 + 200.0 * rng.standard_normal(shape3)
    t2m = 280.0 + 5.0 * rng.standard_normal((n_days, LAT.size, LON.size))
    return xr.Dataset(
        {
            "z": (("time", "level", "latitude", "longitude"), z, {"units": "m**2 s**-2"}),
            "t2m": (("time", "latitude", "longitude"), t2m, {"units": "K"}),
        },
        coords={"time": times, "level": list(LEVELS), "latitude": LAT, "longitude": LON},
    )


def _forecast_from(truth, n_init=4, n_lead=3, noise=1.0, seed=1):
    """A forecast = truth at the valid time + noise growing with lead, schema (init, lead, [level], lat, lon)."""
    rng = np.random.default_rng(seed)
    inits = truth["time"].values[:n_init]
    leads = pd.to_timedelta(np.arange(1, n_lead + 1), "D").values
    data = {}
    for v in truth.data_vars:
        arr = np.stack(
            [
                np.stack([truth[v].sel(time=i + lt).values for lt in leads])
                for i in inits.astype("datetime64[ns]")
            ]
        )
        scale = noise * (np.arange(1, n_lead + 1) / n_lead).reshape((1, n_lead) + (1,) * (arr.ndim - 2))
        dims = ("init_time", "lead_time") + truth[v].dims[1:]
        data[v] = (dims, arr + scale * float(truth[v].std()) * rng.standard_normal(arr.shape), truth[v].attrs)
    fc = xr.Dataset(
        data,
        coords={
            "init_time": inits,
            "lead_time": leads,
            "level": list(LEVELS),
            "latitude": truth["latitude"].values,
            "longitude": truth["longitude"].values,
        },
    )
    return fc.assign_coords(valid_time=fc.init_time + fc.lead_time)


def _climatology(truth):
    mean = truth.mean("time")
    return xr.concat([mean] * 366, dim="dayofyear").assign_coords(dayofyear=np.arange(1, 367))


@pytest.fixture(scope="module")
def weather():
    truth = _truth()
    fc = _forecast_from(truth)
    clim = _climatology(truth)
    inits, leads = fc.init_time.values, fc.lead_time.values
    metrics = ("rmse", "acc")
    cards = {
        "fno": scorecard(fc, truth, clim, metrics=metrics),
        "persistence": scorecard(persistence_forecast(truth, inits, leads), truth, clim, metrics=metrics),
        "climatology": scorecard(climatology_forecast(clim, inits, leads), truth, clim, metrics=metrics),
    }
    return fc, truth, clim, cards


def _labelled_lines(ax):
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


# ------------------------------------------------------------------------------------------ scores
def test_scores_vs_lead_one_panel_per_variable_one_line_per_model(weather):
    fc, truth, clim, cards = weather
    fig = plot_scores_vs_lead(cards, "rmse", variables=["z", "t2m"], level=500)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    for ax, title in zip(fig.axes, ("z500", "t2m"), strict=True):
        assert ax.get_title() == title
        lines = _labelled_lines(ax)
        assert [ln.get_label() for ln in lines] == ["fno", "persistence", "climatology"]
        assert ax.get_xlabel() == "lead time (days)"
        np.testing.assert_allclose(lines[0].get_xdata(), [1.0, 2.0, 3.0])
    # the plotted values are the scorecard's, at the right level (independent: direct RMSE of the data)
    y = _labelled_lines(fig.axes[0])[0].get_ydata()
    err = fc["z"].sel(level=500) - truth["z"].sel(level=500, time=fc.valid_time).drop_vars("time")
    w = np.cos(np.deg2rad(LAT))  # cell-area weights on this equiangular grid with poles
    w[0] = w[-1] = 0.0
    w = np.sin(np.deg2rad(np.minimum(LAT + RES / 2, 90))) - np.sin(np.deg2rad(np.maximum(LAT - RES / 2, -90)))
    w = xr.DataArray(w / w.mean(), dims="latitude", coords={"latitude": LAT})
    mse = ((err**2) * w).mean(["latitude", "longitude"]).mean("init_time")
    np.testing.assert_allclose(y, np.sqrt(mse.values), rtol=1e-10)
    assert y[-1] > y[0]  # the forecast's noise grows with lead


def test_scores_vs_lead_adds_reference_rows_and_hours_axis(weather):
    fc, truth, clim, _ = weather
    card = scorecard(fc, truth, clim, metrics=("rmse",), reference="persistence", variables=["t2m"])
    fig = plot_scores_vs_lead({"fno": card}, "rmse")
    (ax,) = fig.axes
    lines = _labelled_lines(ax)
    assert [ln.get_label() for ln in lines] == ["fno", "persistence"]
    assert lines[1].get_linestyle() == "--"
    np.testing.assert_allclose(lines[1].get_ydata(), card["t2m"].sel(metric="rmse_reference").values)
    # 12-hourly leads are drawn in hours
    card12 = card.assign_coords(lead_time=pd.to_timedelta([12, 24, 36], "h").values)
    fig = plot_scores_vs_lead({"m": card12}, "rmse")
    assert fig.axes[0].get_xlabel() == "lead time (hours)"
    np.testing.assert_allclose(_labelled_lines(fig.axes[0])[0].get_xdata(), [12, 24, 36])


def test_scores_vs_lead_bad_inputs_name_the_culprit(weather):
    _, _, _, cards = weather
    with pytest.raises(ValueError, match="metric: 'crps'"):
        plot_scores_vs_lead(cards, "crps", variables=["t2m"])
    with pytest.raises(ValueError, match="'nope'"):
        plot_scores_vs_lead(cards, "rmse", variables=["nope"])
    with pytest.raises(ValueError, match="level"):
        plot_scores_vs_lead(cards, "rmse", variables=["z"])  # two levels, none chosen
    with pytest.raises(ValueError, match="level: 300"):
        plot_scores_vs_lead(cards, "rmse", variables=[("z", 300)])


# ------------------------------------------------------------------------------------------ maps
def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse()

    monkeypatch.setattr(socket, "socket", NoSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _hot_truth(lon_hot, lat_hot, lat=LAT, lon=LON):
    truth = _truth(n_days=5)
    z = np.zeros((5, len(LEVELS), lat.size, lon.size))
    ilat = int(np.flatnonzero(np.isclose(lat, lat_hot))[0])
    ilon = int(np.flatnonzero(np.isclose(lon, lon_hot))[0])
    z[:, :, ilat, ilon] = 100.0
    t2m = np.zeros((5, lat.size, lon.size))
    return truth.assign(
        z=(("time", "level", "latitude", "longitude"), z), t2m=(("time", "latitude", "longitude"), t2m)
    ).assign_coords(latitude=lat, longitude=lon)


def _argmax_cell(mesh: QuadMesh) -> tuple[float, float]:
    vals = np.asarray(mesh.get_array()).reshape(mesh.get_coordinates().shape[0] - 1, -1)
    i, j = np.unravel_index(np.argmax(vals), vals.shape)
    c = mesh.get_coordinates()  # (n_lat + 1, n_lon + 1, 2) corners, (x = lon, y = lat)
    cell = c[i : i + 2, j : j + 2].reshape(-1, 2)
    return float(cell[:, 0].mean()), float(cell[:, 1].mean())


@pytest.mark.parametrize(
    ("lon_hot", "lat_hot", "lat", "lon", "expected"),
    [
        (10.0, 40.0, LAT, LON, (10.0, 40.0)),  # canonical 90 → −90, 0 → 360
        (350.0, -60.0, LAT, LON, (-10.0, -60.0)),  # wraps to −10°E
        (10.0, 40.0, LAT[::-1], (LON + 180.0) % 360.0 - 180.0, (10.0, 40.0)),  # −90 → 90, −180 → 180
    ],
)
def test_maps_put_values_where_they_are(monkeypatch, lon_hot, lat_hot, lat, lon, expected):
    _no_network(monkeypatch)
    monkeypatch.setitem(sys.modules, "cartopy", None)  # as if cartopy were not installed
    truth = _hot_truth(lon_hot, lat_hot, lat, lon)
    fc = _forecast_from(truth, n_init=2, noise=0.0)
    fc = fc + 1.0  # error field = 1 everywhere
    fig = plot_forecast_maps(fc, truth, "z", 2, level=850)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # three maps, three colour bars
    meshes = [next(c for c in ax.collections if isinstance(c, QuadMesh)) for ax in fig.axes[:3]]
    for mesh in meshes[:2]:  # forecast and truth
        assert _argmax_cell(mesh) == pytest.approx(expected, abs=1e-9)
        corners = mesh.get_coordinates()
        assert corners[..., 0].min() == -180.0 and corners[..., 0].max() == 180.0
        assert corners[..., 1].min() == -90.0 and corners[..., 1].max() == 90.0
        assert np.all(np.diff(corners[0, :, 0]) > 0) and np.all(np.diff(corners[:, 0, 1]) > 0)
    np.testing.assert_allclose(np.asarray(meshes[2].get_array()), 1.0)
    assert fig.coastlines == COASTLINES_NONE
    assert "no coastlines" in fig.caption
    assert fig.map_info["lead_time"] == pd.Timedelta(days=2)
    assert fig.map_info["level"] == 850


def test_maps_land_sea_mask_contour_and_no_network(monkeypatch, weather):
    _no_network(monkeypatch)
    monkeypatch.setitem(sys.modules, "cartopy", None)
    fc, truth, _, _ = weather
    lon2, lat2 = np.meshgrid(LON, LAT)
    land = ((np.abs(lat2 - 30.0) < 25.0) & (lon2 > 200.0) & (lon2 < 300.0)).astype(float)  # a continent
    mask = xr.DataArray(land, dims=("latitude", "longitude"), coords={"latitude": LAT, "longitude": LON})
    fig = plot_forecast_maps(fc, truth, "t2m", np.timedelta64(1, "D"), land_sea_mask=mask)
    assert fig.coastlines == COASTLINES_MASK
    assert COASTLINES_MASK in fig.caption
    for ax in fig.axes[:3]:
        contour = [c for c in ax.collections if not isinstance(c, QuadMesh)]
        assert contour, "no coastline contour drawn"
        verts = np.concatenate([p.vertices for c in contour for p in c.get_paths()])
        # the contour lies around the continent (200…300 °E → −160…−60 on the wrapped axis)
        assert verts[:, 0].min() >= -170.0 and verts[:, 0].max() <= -50.0
        assert verts[:, 1].min() >= -5.0 and verts[:, 1].max() <= 65.0
    # the ensemble-mean path: a member dim is averaged
    ens = xr.concat([fc, fc + 2.0], dim="member")
    fig = plot_forecast_maps(ens, truth, "t2m", 1)
    err = np.asarray(fig.axes[2].collections[0].get_array())
    assert err.shape == (LAT.size, LON.size + 1)  # the cell on the date line is drawn on both sides
    np.testing.assert_array_equal(err[:, 0], err[:, -1])
    expected = fc["t2m"].isel(init_time=0, lead_time=0) + 1.0 - truth["t2m"].isel(time=1)
    np.testing.assert_allclose(err[:, :-1].mean(), float(expected.mean()), rtol=1e-10)
    assert fig.map_info["member"] == "ensemble mean"


def test_maps_bad_inputs(weather):
    fc, truth, _, _ = weather
    with pytest.raises(ValueError, match="lead_time: 10 days"):
        plot_forecast_maps(fc, truth, "t2m", 10)
    with pytest.raises(ValueError, match="'nope'"):
        plot_forecast_maps(fc, truth, "nope", 1)
    with pytest.raises(ValueError, match="level"):
        plot_forecast_maps(fc, truth, "z", 1)
    with pytest.raises(ValueError, match="init_time"):
        plot_forecast_maps(fc, truth, "t2m", 1, init_time="1999-01-01")
    with pytest.raises(ValueError, match="truth: valid time"):
        plot_forecast_maps(fc, truth.isel(time=slice(0, 3)), "t2m", 3, init_time=fc.init_time.values[1])


def test_coastline_file_detection_never_downloads(monkeypatch, tmp_path):
    """A stand-in ``cartopy`` module: the shapefile is found only when it is on disk."""
    _no_network(monkeypatch)
    fake = types.ModuleType("cartopy")
    fake.config = {"data_dir": str(tmp_path / "data"), "pre_existing_data_dir": str(tmp_path / "pre")}
    monkeypatch.setitem(sys.modules, "cartopy", fake)
    assert natural_earth_coastline_path() is None
    folder = tmp_path / "pre" / "shapefiles" / "natural_earth" / "physical"
    folder.mkdir(parents=True)
    (folder / "ne_110m_coastline.shp").write_bytes(b"")
    assert natural_earth_coastline_path() is None  # the .shx index is missing
    (folder / "ne_110m_coastline.shx").write_bytes(b"")
    assert natural_earth_coastline_path() == folder / "ne_110m_coastline.shp"
    monkeypatch.setitem(sys.modules, "cartopy", None)
    assert natural_earth_coastline_path() is None


# ------------------------------------------------------------------------------------------ spectra
def _blurred(fc):
    """Forecast smoothed zonally, more at longer leads (spectral blurring)."""
    out = fc.copy(deep=True)
    for il in range(fc.sizes["lead_time"]):
        for v in fc.data_vars:
            x = fc[v].isel(lead_time=il)
            for _ in range(il + 1):
                x = 0.25 * x.roll(longitude=1) + 0.5 * x + 0.25 * x.roll(longitude=-1)
            out[v][{"lead_time": il}] = x.values
    return out


def test_zonal_spectra_truth_vs_forecast(weather):
    fc, truth, _, _ = weather
    blurred = _blurred(fc)
    fig = plot_zonal_power_spectra(blurred, truth, "t2m", [1, 3])
    (ax,) = fig.axes
    lines = _labelled_lines(ax)
    assert [ln.get_label() for ln in lines] == [
        "truth",
        "forecast, lead 1 d",
        "forecast, lead 3 d",
    ]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # the truth line, computed independently with numpy: S_k = 2 C |rfft/n|², mean over valid times and |φ| ≤ 60
    valid = sorted(set(pd.DatetimeIndex((fc.init_time + fc.lead_time.isel(lead_time=[0, 2])).values.ravel())))
    band = np.abs(LAT) <= 60.0
    x = truth["t2m"].sel(time=valid).values[:, band]
    p = np.abs(np.fft.rfft(x, axis=-1) / LON.size) ** 2 * 2.0
    p *= 2 * np.pi * EARTH_RADIUS_M * np.cos(np.deg2rad(LAT[band]))[None, :, None]
    expected = p.mean(axis=(0, 1))[1:]
    np.testing.assert_allclose(lines[0].get_ydata(), expected, rtol=1e-10)
    np.testing.assert_allclose(lines[0].get_xdata(), np.arange(1, LON.size // 2 + 1))
    # blurring: the small scales lose energy, more at the longer lead
    hi = slice(-6, None)
    assert np.all(lines[1].get_ydata()[hi] < 0.5 * expected[hi])
    assert np.all(lines[2].get_ydata()[hi] < lines[1].get_ydata()[hi])
    with pytest.raises(ValueError, match="lead_times: 7 days"):
        plot_zonal_power_spectra(fc, truth, "t2m", [1, 7])
    with pytest.raises(ValueError, match="'q'"):
        plot_zonal_power_spectra(fc, truth, "q", [1])


# ------------------------------------------------------------------------------------------ dynamics
def _circle(n=400, r=1.0, noise=0.0, seed=0):
    t = np.linspace(0, 8 * np.pi, n)
    rng = np.random.default_rng(seed)
    return np.stack([r * np.cos(t), np.sin(3 * t), r * np.sin(t)], axis=1) + noise * rng.standard_normal(
        (n, 3)
    )


def test_attractors_and_lyapunov_spectra():
    data, model = _circle(), _circle(r=1.3, noise=0.05)
    fig = plot_attractors({"data": data, "model": model}, dims=(0, 2))
    assert len(fig.axes) == 2
    for ax, arr in zip(fig.axes, (data, model), strict=True):
        (line,) = ax.get_lines()
        np.testing.assert_array_equal(line.get_xdata(), arr[:, 0])
        np.testing.assert_array_equal(line.get_ydata(), arr[:, 2])
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()  # shared limits
    with pytest.raises(ValueError, match="dims"):
        plot_attractors({"data": data}, dims=(0, 3))
    with pytest.raises(ValueError, match=r"series\['bad'\]"):
        plot_attractors({"bad": data[:, 0]})

    spectra = {"data": [0.906, 0.0, -14.57], "shPLRNN": [-14.1, 0.85, 0.01], "RC": [0.7, -0.1]}
    fig = plot_lyapunov_spectra(spectra)
    (ax,) = fig.axes
    lines = _labelled_lines(ax)
    assert [ln.get_label() for ln in lines] == ["data", "shPLRNN", "RC"]
    np.testing.assert_allclose(lines[1].get_ydata(), [0.85, 0.01, -14.1])  # sorted descending
    np.testing.assert_allclose(lines[2].get_xdata(), [1, 2])
    assert len({ln.get_marker() for ln in lines}) == 3
    with pytest.raises(ValueError, match=r"spectra\['x'\]"):
        plot_lyapunov_spectra({"x": []})


# ------------------------------------------------------------------------------------------ report
def test_full_report_with_both_sections(monkeypatch, weather, tmp_path):
    _no_network(monkeypatch)
    monkeypatch.setitem(sys.modules, "cartopy", None)
    fc, truth, clim, cards = weather
    report = Report("test report", tmp_path)
    add_weather_section(
        report,
        "Weather: FNO",
        fc,
        truth,
        cards,
        variables=[("z", 500), "t2m"],
        map_lead_times=[1, 3],
    )
    data, model = _circle(), _circle(r=1.3, noise=0.05)
    evals = {
        "shPLRNN": DSREvaluation(
            0.12, 0.05, 0.3, 20, lyapunov_spectrum=(0.8, 0.0, -14.0), extra={"vpt": 3.25, "note": "x"}
        ),
        "RC": DSREvaluation(
            0.5,
            0.2,
            0.9,
            20,
            lyapunov_spectrum=(0.7, -0.2, -10.0),
            lambda_max_true=1.0,
            lambda_max_rel_error=0.3,
        ),
    }
    add_dynamics_section(
        report,
        "Lorenz-63",
        evals,
        data,
        {"shPLRNN": model, "RC": model[::-1]},
        data_spectrum=(0.9, 0.0, -14.5),
    )
    md_path = report.write()
    md = md_path.read_text()
    html = (tmp_path / "report.html").read_text()
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    # 2 score figures (RMSE, ACC) + 2 variables × (2 maps + 1 spectrum) + attractors + Lyapunov
    assert len(pngs) == 2 + 2 * 3 + 2
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"figures/{p.name}" in md
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "## Weather: FNO" in md and "## Lorenz-63" in md
    # the score table: one row per variable and model, RMSE and ACC at the three leads
    header = next(line for line in md.splitlines() if line.startswith("| variable"))
    assert header == ("| variable | model | RMSE 1 d | RMSE 2 d | RMSE 3 d | ACC 1 d | ACC 2 d | ACC 3 d |")
    row = next(line for line in md.splitlines() if line.startswith("| z500 | fno |"))
    expected = float(cards["fno"]["z"].sel(metric="rmse", level=500).isel(lead_time=1))
    assert f"{expected:.4g}" in row.split("|")[4]
    # the dynamics table: λ1 true from the data spectrum where the evaluation has none, VPT from extra
    dyn_header = next(line for line in md.splitlines() if line.startswith("| model | D_stsp"))
    assert "vpt" in dyn_header and "note" not in dyn_header
    shp = next(line for line in md.splitlines() if line.startswith("| shPLRNN |"))
    cells = [c.strip() for c in shp.strip("|").split("|")]
    cols = [c.strip() for c in dyn_header.strip("|").split("|")]
    got = dict(zip(cols, cells, strict=True))
    assert float(got["λ1 true"]) == pytest.approx(0.9)
    assert float(got["λ1 rel. error"]) == pytest.approx(abs(0.8 - 0.9) / 0.9, rel=1e-3)
    assert float(got["vpt"]) == pytest.approx(3.25)
    rc = dict(
        zip(
            cols,
            [
                c.strip()
                for c in next(ln for ln in md.splitlines() if ln.startswith("| RC |")).strip("|").split("|")
            ],
            strict=True,
        )
    )
    assert float(rc["λ1 rel. error"]) == pytest.approx(0.3) and rc["vpt"] == "–"
    assert "no coastlines" in md
    assert not re.search(r"nan", md, flags=re.IGNORECASE)
    assert math.isfinite(expected)


def test_zonal_spectra_of_stores_chunked_along_longitude(weather):
    """A truth and forecast chunked along longitude (as zarr may store them) give the same spectra."""
    fc, truth, _, _ = weather
    fig = plot_zonal_power_spectra(fc, truth, "t2m", [1])
    n = truth.sizes["longitude"] // 3
    chunked = plot_zonal_power_spectra(fc.chunk({"longitude": n}), truth.chunk({"longitude": n}), "t2m", [1])
    for a, b in zip(_labelled_lines(fig.axes[0]), _labelled_lines(chunked.axes[0])):
        np.testing.assert_allclose(a.get_ydata(), b.get_ydata(), rtol=1e-12)
