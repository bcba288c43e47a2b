"""The Python-API cases of the bad-input battery (tests/bad_input_battery.py): systems, generation,
loaders, forecast writer, weather and dynamical metrics, emulators, trainer and evaluation (not a test file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from bad_input_battery import (
    Case,
    _bad_checkpoint,
    _copy_run,
    _gridded_forecast,
    _gridded_truth,
    _rmse,
    _scorecard,
    _write,
)


def api_cases() -> list[Case]:
    C: list[Case] = []

    def add(id, entry, run, names=(), **kw):
        C.append(Case(id, entry, run, tuple(names), **kw))

    # --- systems (API) ------------------------------------------------------------------------------
    def system(name, **kw):
        def run(tmp, ctx):
            from chaosbench_py.systems import get_system

            return get_system(name, **kw)

        return run

    add("system-param-nan", "api systems", system("Lorenz", sigma=float("nan")), ["sigma"])
    add("system-param-text", "api systems", system("Lorenz", sigma="ten"), ["sigma"])
    add("system-param-unknown", "api systems", system("Lorenz", nosuch=1.0), ["nosuch"])
    add("system-param-none", "api systems", system("Lorenz", rho=None), ["rho"])
    add("system-unknown", "api systems", system("Lorentz"), ["Lorentz"])
    add("system-l96-dim-1", "api systems", system("Lorenz96", dim=1), ["dim"])

    def gen(n_traj, length, **kw):
        def run(tmp, ctx):
            from chaosbench_py.simulate import generate_trajectories
            from chaosbench_py.systems import get_system

            params = kw.pop("params", {})
            return generate_trajectories(get_system("Lorenz", **params), n_traj, length, progress=False, **kw)

        return run

    add("api-gen-traj-0", "api generate", gen(0, 50), ["trajectories"])
    add("api-gen-length-0", "api generate", gen(2, 0), ["length"])
    add("api-gen-chunk-0", "api generate", gen(2, 50, chunk=0), ["chunk"])
    add("api-gen-atol-0", "api generate", gen(2, 50, atol=0.0), ["atol"])
    add("api-gen-method", "api generate", gen(2, 50, method="euler9"), ["euler9"])
    add("api-gen-diverges", "api generate", gen(2, 200, params={"beta": -20.0}), ["Lorenz"], timeout=90)

    def save_over(tmp, ctx):
        from chaosbench_py.simulate import open_trajectories, save_trajectories

        ds = open_trajectories(ctx["traj_nc"]).load()
        save_trajectories(ds, tmp / "keep.nc")

    add(
        "api-save-trajectories-exists",
        "api generate",
        save_over,
        ["keep.nc"],
        setup=lambda t, c: _write(t / "keep.nc", b"precious"),
        protect=lambda t, c: [t / "keep.nc"],
    )

    def open_traj(name):
        def run(tmp, ctx):
            from chaosbench_py.simulate import open_trajectories

            return open_trajectories(tmp / name)

        return run

    add(
        "api-open-trajectories-random",
        "api generate",
        open_traj("r.nc"),
        ["r.nc"],
        setup=lambda t, c: _write(t / "r.nc", np.random.default_rng(4).bytes(500)),
    )
    add("api-open-trajectories-missing", "api generate", open_traj("gone.zarr"), ["gone.zarr"])
    add(
        "api-open-trajectories-not-trajectories",
        "api generate",
        open_traj("g.zarr"),
        ["g.zarr"],
        setup=lambda t, c: _gridded_truth().to_zarr(t / "g.zarr"),
    )

    # --- ERA5 loaders -------------------------------------------------------------------------------
    def era5(name, **kw):
        def run(tmp, ctx):
            from chaosbench_py.data import open_era5

            return open_era5(tmp / name, **kw)

        return run

    add("era5-missing", "api loaders", era5("nothing.nc"), ["nothing.nc"])
    add(
        "era5-random-nc",
        "api loaders",
        era5("rand.nc"),
        ["rand.nc"],
        setup=lambda t, c: _write(t / "rand.nc", np.random.default_rng(5).bytes(4096)),
    )
    add("era5-truncated-nc", "api loaders", era5("trunc.nc"), ["trunc.nc"], setup=_truncated_netcdf)
    add(
        "era5-empty-zarr-folder",
        "api loaders",
        era5("e.zarr"),
        ["e.zarr"],
        setup=lambda t, c: (t / "e.zarr").mkdir(),
    )
    add(
        "era5-zarr-no-latitude",
        "api loaders",
        era5("nolat.zarr", layout="weatherbench2"),
        ["latitude"],
        setup=lambda t, c: _gridded_truth().rename(latitude="y").to_zarr(t / "nolat.zarr"),
    )
    add(
        "era5-zero-length-time",
        "api loaders",
        era5("t0.zarr", layout="weatherbench2"),
        ["time"],
        setup=lambda t, c: _gridded_truth().isel(time=slice(0, 0)).to_zarr(t / "t0.zarr"),
    )
    add(
        "era5-duplicate-times",
        "api loaders",
        era5("dup.zarr", layout="weatherbench2"),
        ["time"],
        setup=lambda t, c: _duplicate_time_store(t / "dup.zarr"),
    )
    add("era5-bad-layout", "api loaders", era5("x.zarr", layout="grib9"), ["grib9"])
    add("chaosbench-impossible-date", "api loaders", _chaosbench_impossible_date, ["20230230"])
    add("chaosbench-corrupt-day", "api loaders", _chaosbench_corrupt_day, ["20230102"])

    # --- forecast writer ----------------------------------------------------------------------------
    add(
        "writer-foreign-store",
        "api writer",
        _writer_on_foreign_store,
        ["fc.zarr"],
        setup=lambda t, c: _gridded_forecast().to_zarr(t / "fc.zarr"),
        protect=lambda t, c: [t / "fc.zarr"],
    )
    add("writer-numpy-str-leads", "api writer", _writer_numpy_str_leads, expect="ok")
    add("writer-bad-lead", "api writer", _writer_bad_lead, ["banana"])
    add(
        "writer-resume-other-grid",
        "api writer",
        _writer_resume_other_grid,
        ["w.zarr"],
        setup=_writer_make_store,
        protect=lambda t, c: [t / "w.zarr"],
    )

    # --- weather metrics ----------------------------------------------------------------------------
    def inf_forecast(tmp, ctx):
        fc = _gridded_forecast()
        fc["z"][0, 0, 0, 0] = np.inf
        return _rmse(fc, _gridded_truth())

    def nan_forecast(tmp, ctx):
        fc = _gridded_forecast()
        fc["z"][1, 0, 2, 3] = np.nan
        return _rmse(fc, _gridded_truth())

    def inf_truth(tmp, ctx):
        truth = _gridded_truth()
        truth["z"][2, 1, 1] = -np.inf
        return _rmse(_gridded_forecast(), truth)

    def zero_inits(tmp, ctx):
        return _rmse(_gridded_forecast().isel(init_time=slice(0, 0)), _gridded_truth())

    def dup_inits(tmp, ctx):
        truth = _gridded_truth()
        t = truth.time.values
        return _scorecard(_gridded_forecast(inits=[t[0], t[0], t[1]]), truth)

    def grid_mismatch(tmp, ctx):
        truth = _gridded_truth()
        truth = truth.assign_coords(latitude=truth.latitude + 0.5)
        return _scorecard(_gridded_forecast(), truth)

    def missing_var(tmp, ctx):
        truth = _gridded_truth().rename(z="geopotential_x")
        return _scorecard(_gridded_forecast(), truth)

    def unknown_metric(tmp, ctx):
        return _scorecard(_gridded_forecast(), _gridded_truth(), metrics=("rmse", "rmsee"))

    def acc_no_clim(tmp, ctx):
        return _scorecard(_gridded_forecast(), _gridded_truth(), metrics=("acc",))

    def crps_no_members(tmp, ctx):
        from physics_metrics.weather import crps_ensemble
        from physics_metrics.weather.deterministic import align_truth

        fc = _gridded_forecast()
        return crps_ensemble(fc["z"], align_truth(fc["z"], _gridded_truth()["z"]))

    def sc_inf(tmp, ctx):
        fc = _gridded_forecast()
        fc["z"][2, 1, 3, 3] = np.inf
        return _scorecard(fc, _gridded_truth())

    def truth_too_short(tmp, ctx):
        return _scorecard(_gridded_forecast(n_lead=2), _gridded_truth(n_time=2))

    add("metric-inf-forecast", "api metrics", inf_forecast, ["z"])
    add("metric-nan-forecast", "api metrics", nan_forecast, ["z"])
    add("metric-inf-truth", "api metrics", inf_truth, ["z"])
    add("metric-zero-inits", "api metrics", zero_inits, ["init_time"])
    add("scorecard-duplicate-inits", "api metrics", dup_inits, ["init_time"])
    add("scorecard-grid-mismatch", "api metrics", grid_mismatch, ["latitude"])
    add("scorecard-missing-variable", "api metrics", missing_var, ["z"])
    add("scorecard-unknown-metric", "api metrics", unknown_metric, ["rmsee"])
    add("scorecard-acc-without-climatology", "api metrics", acc_no_clim, ["climatology"])
    add("scorecard-inf", "api metrics", sc_inf, ["z"])
    add("scorecard-truth-too-short", "api metrics", truth_too_short, ["time"])
    add("crps-without-members", "api metrics", crps_no_members, ["member"])

    # --- dynamical metrics --------------------------------------------------------------------------
    def pm(fn_name, *args, **kw):
        def run(tmp, ctx):
            import physics_metrics

            return getattr(physics_metrics, fn_name)(*args, **kw)

        return run

    rng = np.random.default_rng(7)
    x3 = rng.normal(size=(500, 3))
    x2 = rng.normal(size=(500, 2))
    xnan = x3.copy()
    xnan[10, 1] = np.nan
    xinf = x3.copy()
    xinf[3, 0] = np.inf

    def lorenz_rhs(t, x):
        s, r, b = 10.0, 28.0, 8.0 / 3.0
        import torch

        return torch.stack([s * (x[..., 1] - x[..., 0]), x[..., 0] * (r - x[..., 2]) - x[..., 1],
                            x[..., 0] * x[..., 1] - b * x[..., 2]], -1)  # fmt: skip

    add("dstsp-dim-mismatch", "api dynamics", pm("state_space_divergence_binned", x3, x2), ["dim"])
    add("dstsp-nan", "api dynamics", pm("state_space_divergence_binned", x3, xnan), ["nan"])
    add("dstsp-inf", "api dynamics", pm("state_space_divergence_binned", xinf, x3), ["inf"])
    add("dstsp-gmm-nan", "api dynamics", pm("state_space_divergence_gmm", x3, xnan), ["nan"])
    add("dh-inf", "api dynamics", pm("power_spectrum_hellinger", x3, xinf), ["inf"])
    add("dh-too-short", "api dynamics", pm("power_spectrum_hellinger", x3[:1], x3[:1]), ["time"])
    add("smape-shape", "api dynamics", pm("smape", x3, x3[:400]), ["length"])
    add("vpt-shape", "api dynamics", pm("valid_prediction_time", x3, x2), ["dim"])
    add(
        "lyap-n-exponents-too-many",
        "api dynamics",
        pm("lyapunov_spectrum_flow", lorenz_rhs, np.ones(3), dt=0.01, n_steps=100, n_exponents=5),
        ["n_exponents"],
    )
    add(
        "lyap-x0-nan",
        "api dynamics",
        pm("lyapunov_spectrum_flow", lorenz_rhs, np.array([1.0, np.nan, 1.0]), dt=0.01, n_steps=100),
        ["x0"],
    )
    add(
        "lyap-dt-neg",
        "api dynamics",
        pm("lyapunov_spectrum_flow", lorenz_rhs, np.ones(3), dt=-0.01, n_steps=100),
        ["dt"],
    )
    add(
        "lyap-map-steps-0",
        "api dynamics",
        pm("lyapunov_spectrum_map", _halve, np.ones(2), n_steps=0),
        ["n_steps"],
    )
    add("ky-empty", "api dynamics", pm("kaplan_yorke_dimension", []), ["empty"])
    add("ky-nan", "api dynamics", pm("kaplan_yorke_dimension", [0.9, float("nan"), -14.0]), ["nan"])
    add("perm-entropy-order-0", "api dynamics", pm("permutation_entropy", x3[:, 0], order=0), ["order"])
    add("delay-embed-tau-0", "api dynamics", pm("delay_embed", x3[:, 0], 3, 0), ["delay"])
    add(
        "corr-dim-constant",
        "api dynamics",
        pm("correlation_dimension", np.ones((500, 3)), theiler_window=10),
        ["x", "coincide"],
    )
    add("mmd-dim-mismatch", "api dynamics", pm("maximum_mean_discrepancy", x3, x2), ["dim"])
    add("smape-empty", "api dynamics", pm("smape", np.empty((0, 3)), np.empty((0, 3))), ["y_true"])

    # --- emulators ----------------------------------------------------------------------------------
    def em(fn):
        def run(tmp, ctx):
            import emulators

            return fn(emulators, tmp)

        return run

    add("model-unknown", "api emulators", em(lambda e, t: e.build_model("fnoo", {})), ["fnoo"])
    add(
        "model-config-typo",
        "api emulators",
        em(lambda e, t: e.build_model("fno", {"hiden_channels": 3})),
        ["hiden_channels"],
    )
    add(
        "model-config-negative",
        "api emulators",
        em(lambda e, t: e.build_model("shplrnn", {"obs_dim": 3, "latent_dim": 3, "hidden_dim": -4})),
        ["hidden_dim"],
    )
    for kind in ("yaml", "text", "random", "truncated", "empty"):
        add(f"load-model-{kind}", "api emulators",
            (lambda tmp, ctx: __import__("emulators").load_model(tmp / "run" / "model.pt")), ["model.pt"],
            setup=_bad_checkpoint(kind))  # fmt: skip
    add("load-model-folder", "api emulators", em(lambda e, t: e.load_model(t)), ["folder"])
    add("load-model-format-999", "api emulators", _load_future_format, ["999"])
    add("fno-wrong-channels", "api emulators", _fno_wrong_channels, ["channel"])
    add("plrnn-wrong-dim", "api emulators", _plrnn_wrong_dim, ["3"])

    # --- training API -------------------------------------------------------------------------------
    def load_cfg(tmp, ctx):
        from chaosbench_py.training import load_run_config

        return load_run_config(tmp / "absent.yaml")

    add("api-load-config-missing", "api training", load_cfg, ["absent.yaml"])

    def trainer_existing(tmp, ctx):
        from chaosbench_py.training import Trainer, load_run_config

        _copy_run(tmp, ctx)
        Trainer(load_run_config(ctx["config"]), tmp / "run").fit()

    add(
        "api-trainer-existing-run", "api training", trainer_existing, ["run"], protect=lambda t, c: []
    )  # protection checked by the CLI case; here the error must name the folder

    def evaluate_existing(tmp, ctx):
        from chaosbench_py.evaluation import evaluate_run

        _write(tmp / "ev" / "dynamics.json", "{}")
        evaluate_run(ctx["run"], tmp / "ev")

    add("api-evaluate-existing-out", "api evaluation", evaluate_existing, ["ev"])

    return C


# --- case bodies too long for a lambda ------------------------------------------------------------------


def _truncated_netcdf(tmp: Path, ctx: dict) -> None:
    src = _gridded_truth()
    src.to_netcdf(tmp / "full.nc")
    data = (tmp / "full.nc").read_bytes()
    _write(tmp / "trunc.nc", data[: len(data) // 2])


def _duplicate_time_store(path: Path) -> None:
    import xarray as xr

    t = _gridded_truth()
    xr.concat([t.isel(time=[0, 1]), t.isel(time=[1, 2])], "time").to_zarr(path)


def _chaosbench_day(tmp: Path, name: str):
    t = _gridded_truth(n_time=1).isel(time=0, drop=True)
    t = t.expand_dims(level=[500]).transpose("level", "latitude", "longitude")
    folder = tmp / "cb" / "era5"
    folder.mkdir(parents=True, exist_ok=True)
    t.to_zarr(folder / name, zarr_format=2, consolidated=True)
    return folder


def _chaosbench_impossible_date(tmp: Path, ctx: dict):
    from chaosbench_py.data import open_era5

    _chaosbench_day(tmp, "era5_full_1.5deg_20230101.zarr")
    _chaosbench_day(tmp, "era5_full_1.5deg_20230230.zarr")
    return open_era5(tmp / "cb", layout="chaosbench", variables=["z"]).load()


def _chaosbench_corrupt_day(tmp: Path, ctx: dict):
    import shutil

    from chaosbench_py.data import open_era5

    folder = _chaosbench_day(tmp, "era5_full_1.5deg_20230101.zarr")
    _chaosbench_day(tmp, "era5_full_1.5deg_20230102.zarr")
    bad = folder / "era5_full_1.5deg_20230102.zarr"
    shutil.rmtree(bad)
    bad.mkdir()
    _write(bad / ".zmetadata", "{broken")
    return open_era5(tmp / "cb", layout="chaosbench", variables=["z"]).load()


def _writer_args(**over):
    truth = _gridded_truth()
    args = dict(variables=["z"], levels=None, latitude=truth.latitude.values, longitude=truth.longitude.values,
                lead_times=["1D", "2D"], surface_variables=["z"])  # fmt: skip
    args.update(over)
    return args


def _writer_on_foreign_store(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    w = ForecastWriter(tmp / "fc.zarr", **_writer_args())
    return w


def _writer_numpy_str_leads(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    return ForecastWriter(tmp / "ok.zarr", **_writer_args(lead_times=np.array(["1D", "2D"])))


def _writer_bad_lead(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    return ForecastWriter(tmp / "bad.zarr", **_writer_args(lead_times=["1D", "banana"]))


def _writer_make_store(tmp: Path, ctx: dict) -> None:
    from chaosbench_py.data import ForecastWriter

    fc = _gridded_forecast(n_init=1)
    w = ForecastWriter(tmp / "w.zarr", **_writer_args())
    w.write(fc.init_time.values[0], {"z": fc["z"].isel(init_time=0).values})


def _writer_resume_other_grid(tmp: Path, ctx: dict):
    from chaosbench_py.data import ForecastWriter

    return ForecastWriter(tmp / "w.zarr", **_writer_args(longitude=np.arange(24) * 15.0))


def _halve(x):
    return 0.5 * x


def _load_future_format(tmp: Path, ctx: dict):
    import torch

    import emulators

    payload = torch.load(Path(ctx["run"]) / "model.pt", weights_only=True)
    payload["format"] = 999
    torch.save(payload, tmp / "future.pt")
    return emulators.load_model(tmp / "future.pt")


def _fno_wrong_channels(tmp: Path, ctx: dict):
    import torch

    import emulators

    m = emulators.build_model(
        "fno", {"in_channels": 3, "out_channels": 3, "n_modes": [2, 2], "hidden_channels": 4, "n_layers": 1}
    )
    return m(torch.zeros(1, 5, 8, 16))


def _plrnn_wrong_dim(tmp: Path, ctx: dict):
    import torch

    import emulators

    m = emulators.build_model("shplrnn", {"obs_dim": 3, "latent_dim": 3, "hidden_dim": 8})
    return m(torch.zeros(2, 5), 10)  # z0 must be (batch, latent_dim=3)
