"""The table of scorecard scores: one :class:`ScoreSpec` per score, in one registry.

:func:`~physics_metrics.weather.scorecard` iterates this table (which scores exist in which convention,
which need an ensemble, a climatology or its standard deviation, which have a skill score against a
reference), and so do the evaluation pipeline and the report of :mod:`chaosbench_py` (which scores an
evaluation computes, which ones a report shows, their labels and units). Adding a score is one
:func:`register_score` call; nothing else has to change.

A score is computed piece by piece (blocks of init times × groups of lead times and levels, see
:mod:`~physics_metrics.weather.scorecard`):

* WeatherBench2 convention: ``wb2(piece)`` returns per-init values ``{key: (init, lead, [level])}`` that
  the scorecard averages over inits (``skipna``-aware running means); ``wb2_finish(mean, opts, M)`` turns
  those means into the score (default: ``mean(name)``). Keys are shared: ``rmse``, ``mse`` and ``ssr`` all
  use the running mean of ``"mse"``, computed once per piece (:meth:`WB2Piece.once`).
* ChaosBench convention: ``chaosbench(piece)`` returns the block value ``(lead, [level])`` of one block of
  inits (:mod:`~physics_metrics.weather.chaosbench_convention`); the scorecard averages blocks.

References: WeatherBench2 (Rasp et al. 2024, ``weatherbench2/metrics.py``: one small class per metric);
ChaosBench (Nathaniel et al. 2024, ``chaosbench/criterion.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import MetricInputError, MetricKeyError, MetricTypeError
from . import chaosbench_convention as cbc
from . import deterministic as det
from . import probabilistic as prob

__all__ = [
    "SCORES",
    "SCORECARD_METRICS",
    "ScoreSpec",
    "WB2Piece",
    "ChaosBenchPiece",
    "register_score",
    "unregister_score",
    "score_spec",
    "scores_where",
]

CONVENTIONS = ("wb2", "chaosbench")


@dataclasses.dataclass
class WB2Piece:
    """One piece of a forecast in the WB2 convention, as the ``wb2`` function of a score sees it.

    ``f``: forecast ``(init_time, lead_time, [member], [level], latitude, longitude)``; ``fmean``: its
    ensemble mean (``f`` itself without members); ``o``: truth on ``fmean``'s dims; ``c``/``s``:
    climatology mean / standard deviation at the valid times (or ``None``); ``kw``: ``time_dim=None`` and
    ``skipna`` for the functions of :mod:`~physics_metrics.weather.deterministic`; ``opts``: scorecard
    options (``crps_estimator``, ``ssr_correction``); ``latitude``: the latitude values.
    """

    f: xr.DataArray
    fmean: xr.DataArray
    o: xr.DataArray
    c: xr.DataArray | None
    s: xr.DataArray | None
    kw: dict[str, Any]
    opts: dict[str, Any]
    latitude: np.ndarray
    _memo: dict[str, Any] = dataclasses.field(default_factory=dict)

    def once(self, key: str, compute: Callable[[], Any]) -> dict[str, Any]:
        """``{key: compute()}``, computed once per piece however many scores ask for ``key``."""
        if key not in self._memo:
            self._memo[key] = compute()
        return {key: self._memo[key]}


@dataclasses.dataclass
class ChaosBenchPiece:
    """One block of inits in the ChaosBench convention: numpy arrays ``f`` ``(n, member, lead, [level],
    lat, lon)`` (``(n, lead, …)`` without members), ``fmean`` ``(n, lead, [level], lat, lon)``, ``o``,
    ``c``, ``s`` like ``fmean`` (``c``/``s`` may be ``None``), ``latitude``."""

    f: np.ndarray
    fmean: np.ndarray
    o: np.ndarray
    c: np.ndarray | None
    s: np.ndarray | None
    latitude: np.ndarray


def _mean_of(name: str) -> Callable[[Callable[[str], np.ndarray], dict, int], np.ndarray]:
    return lambda mean, opts, n_members: mean(name)


@dataclasses.dataclass(frozen=True)
class ScoreSpec:
    """One scorecard score.

    Attributes:
        name: the ``metric`` coordinate value (``"rmse"``).
        label: how a report names it (``"RMSE"``).
        description: one line: formula and reference.
        units: ``"variable"`` (the forecast variable's units) or a unit string (``"1"``: dimensionless).
        higher_is_better: ACC, SSIM … True; errors False. (SSR: best at 1; ``None``.)
        needs_ensemble: needs a ``member`` dim (not scored for deterministic forecasts and references).
        needs_climatology: needs the climatology mean (``acc``, ``crpss``).
        needs_climatology_std: needs the climatology standard deviation (``crpss``).
        skill: the scorecard adds ``<name>_skill = 1 − score / score_reference`` when a reference is given.
        evaluate: computed by default by ``chaosbench evaluate`` (ensemble scores only with members).
        report: shown in reports (table and a figure vs lead time) when a scorecard has it.
        wb2: per-init values of one piece in the WB2 convention (``None``: not available there).
        wb2_finish: init means → score (default: the mean of the key ``name``).
        chaosbench: block value of one block in the ChaosBench convention (``None``: not available).
    """

    name: str
    label: str
    description: str
    units: str = "variable"
    higher_is_better: bool | None = False
    needs_ensemble: bool = False
    needs_climatology: bool = False
    needs_climatology_std: bool = False
    skill: bool = False
    evaluate: bool = False
    report: bool = True
    wb2: Callable[[WB2Piece], Mapping[str, Any]] | None = None
    wb2_finish: Callable[[Callable[[str], np.ndarray], dict, int], np.ndarray] | None = None
    chaosbench: Callable[[ChaosBenchPiece], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise MetricInputError(f"ScoreSpec.name: {self.name!r} must be an identifier (e.g. 'rmse')")
        if self.name.endswith(("_reference", "_skill")):
            raise MetricInputError(f"ScoreSpec.name: {self.name!r} ends in a suffix the scorecard reserves")
        if self.wb2 is None and self.chaosbench is None:
            raise MetricInputError(
                f"ScoreSpec {self.name!r}: give wb2= and/or chaosbench= (how it is computed)"
            )
        if self.needs_climatology_std and not self.needs_climatology:
            raise MetricInputError(
                f"ScoreSpec {self.name!r}: needs_climatology_std implies needs_climatology"
            )

    def conventions(self) -> tuple[str, ...]:
        """The conventions this score is available in."""
        return tuple(c for c, fn in (("wb2", self.wb2), ("chaosbench", self.chaosbench)) if fn is not None)

    def finish_wb2(self, mean: Callable[[str], np.ndarray], opts: dict, n_members: int) -> np.ndarray:
        return (self.wb2_finish or _mean_of(self.name))(mean, opts, n_members)


class _ScoreTable(Mapping[str, ScoreSpec]):
    """The registry: ``{name: ScoreSpec}`` in registration order."""

    def __init__(self) -> None:
        self._specs: dict[str, ScoreSpec] = {}

    def __getitem__(self, name: str) -> ScoreSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise MetricKeyError(
                f"score {name!r} is not registered (registered: {list(self._specs)})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


class _MetricsByConvention(Mapping[str, tuple[str, ...]]):
    """``{convention: names of the scores available in it}``, always current with the registry."""

    def __getitem__(self, convention: str) -> tuple[str, ...]:
        if convention not in CONVENTIONS:
            raise KeyError(convention)
        return tuple(n for n, s in SCORES.items() if convention in s.conventions())

    def __iter__(self) -> Iterator[str]:
        return iter(CONVENTIONS)

    def __len__(self) -> int:
        return len(CONVENTIONS)

    def __repr__(self) -> str:
        return repr(dict(self))


#: the registry of scorecard scores
SCORES = _ScoreTable()
#: ``{convention: score names}`` derived from :data:`SCORES`
SCORECARD_METRICS: Mapping[str, tuple[str, ...]] = _MetricsByConvention()


def register_score(spec: ScoreSpec, *, replace: bool = False) -> ScoreSpec:
    """Add ``spec`` to the registry (a name already there needs ``replace=True``); returns it."""
    if not isinstance(spec, ScoreSpec):
        raise MetricTypeError(f"spec: expected a ScoreSpec, got {type(spec).__name__}")
    if spec.name in SCORES._specs and not replace:
        raise MetricInputError(f"score {spec.name!r} is already registered; pass replace=True to replace it")
    SCORES._specs[spec.name] = spec
    return spec


def unregister_score(name: str) -> ScoreSpec:
    """Remove the score ``name`` from the registry and return its spec."""
    spec = SCORES[name]
    del SCORES._specs[name]
    return spec


def score_spec(name: str) -> ScoreSpec:
    """The spec of a registered score (:class:`MetricKeyError` naming the registered ones otherwise)."""
    return SCORES[name]


def scores_where(**flags: Any) -> list[str]:
    """Names of the registered scores whose attributes equal ``flags`` (e.g. ``needs_ensemble=True``)."""
    bad = [k for k in flags if k not in {f.name for f in dataclasses.fields(ScoreSpec)}]
    if bad:
        raise MetricKeyError(f"scores_where: unknown ScoreSpec attribute(s) {bad}")
    return [n for n, s in SCORES.items() if all(getattr(s, k) == v for k, v in flags.items())]


# ------------------------------------------------------------------------------------- the built-in scores
def _mse(p: WB2Piece) -> dict[str, Any]:
    return p.once("mse", lambda: det.mse(p.fmean, p.o, **p.kw))


def _var(p: WB2Piece) -> dict[str, Any]:
    return p.once("var", lambda: prob.ensemble_spread(p.f, **p.kw) ** 2)


def _crps(p: WB2Piece) -> dict[str, Any]:
    return p.once("crps", lambda: prob.crps_ensemble(p.f, p.o, estimator=p.opts["crps_estimator"], **p.kw))


def _ms_ssim_per_init(p: WB2Piece) -> dict[str, Any]:
    """Per-field MS-SSIM ``(n, lead, [level])`` in ChaosBench's orientation (latitude descending)."""
    from .ssim import ms_ssim

    odims = [d for d in p.o.dims]
    f = np.asarray(p.fmean.transpose(*odims).values, dtype=np.float64)
    o = np.asarray(p.o.values, dtype=np.float64)
    if p.latitude.size > 1 and p.latitude[0] < p.latitude[-1]:
        f, o = f[..., ::-1, :], o[..., ::-1, :]
    flat = np.asarray(ms_ssim(f.reshape(-1, *f.shape[-2:]).copy(), o.reshape(-1, *o.shape[-2:]).copy()))
    return {"ms_ssim": flat.reshape(f.shape[:-2])}


def _crpss_wb2(p: WB2Piece) -> dict[str, Any]:
    ref = prob.crps_gaussian(p.o, p.c, p.s)
    return {**_crps(p), "crps_ref": det.spatial_mean(ref, skipna=p.kw["skipna"])}


def _ssr_finish(mean, opts, n_members) -> np.ndarray:
    c = np.sqrt((n_members + 1.0) / n_members) if opts["ssr_correction"] else 1.0
    return c * np.sqrt(mean("var")) / np.sqrt(mean("mse"))


_CB = {"block": None}

for _spec in (
    ScoreSpec("mse", "MSE", "latitude-weighted mean squared error, mean over inits (WB2)", units="variable²",
              skill=True, report=False, wb2=_mse),
    ScoreSpec("rmse", "RMSE", "sqrt of the init-mean latitude-weighted MSE (WB2; ChaosBench: per-block mean of "
              "per-init RMSE)", skill=True, evaluate=True, wb2=_mse,
              wb2_finish=lambda mean, opts, m: np.sqrt(mean("mse")),
              chaosbench=lambda p: cbc.rmse_chaosbench(p.fmean, p.o, p.latitude, **_CB)),
    ScoreSpec("rmse_per_sample", "RMSE (per init)", "init mean of the per-init RMSE (WB2 RMSESqrtBeforeTimeAvg)",
              skill=True, report=False, wb2=lambda p: {"rmse_per_sample": det.rmse_per_sample(p.fmean, p.o, **p.kw)}),
    ScoreSpec("bias", "bias", "latitude-weighted mean of forecast − truth", higher_is_better=None, evaluate=True,
              report=False, wb2=lambda p: {"bias": det.bias(p.fmean, p.o, **p.kw)},
              chaosbench=lambda p: cbc.bias_chaosbench(p.fmean, p.o, p.latitude, **_CB)),
    ScoreSpec("mae", "MAE", "latitude-weighted mean absolute error", skill=True, report=False,
              wb2=lambda p: {"mae": det.mae(p.fmean, p.o, **p.kw)},
              chaosbench=lambda p: cbc.mae_chaosbench(p.fmean, p.o, p.latitude, **_CB)),
    ScoreSpec("acc", "ACC", "uncentred anomaly correlation against the climatology (WB2; ChaosBench as coded)",
              units="1", higher_is_better=True, needs_climatology=True, evaluate=True,
              wb2=lambda p: {"acc": det.acc_uncentred(p.fmean, p.o, p.c, **p.kw)},
              chaosbench=lambda p: cbc.acc_chaosbench_as_coded(p.fmean, p.o, p.c, p.latitude, **_CB)),
    ScoreSpec("acc_centred", "ACC (centred)", "centred anomaly correlation (WB2 ACC with anomalies de-meaned)",
              units="1", higher_is_better=True, needs_climatology=True, report=False,
              wb2=lambda p: {"acc_centred": det.acc_centred(p.fmean, p.o, p.c, **p.kw)}),
    ScoreSpec("specdiv", "SpecDiv", "spectral divergence of the radial power spectra (ChaosBench)", units="1",
              report=False, chaosbench=lambda p: cbc.spectral_divergence_chaosbench(p.fmean, p.o, **_CB)),
    ScoreSpec("specres", "SpecRes", "spectral residual of the radial power spectra (ChaosBench)", units="1",
              report=False, chaosbench=lambda p: cbc.spectral_residual_chaosbench(p.fmean, p.o, **_CB)),
    ScoreSpec("ms_ssim", "MS-SSIM", "multi-scale structural similarity per field (ChaosBench's settings)",
              units="1", higher_is_better=True, report=False, wb2=_ms_ssim_per_init,
              chaosbench=lambda p: cbc.ms_ssim_chaosbench(p.fmean, p.o, p.latitude, **_CB)),
    ScoreSpec("crps", "CRPS", "ensemble CRPS (fair by default; WB2), latitude-weighted", skill=True,
              needs_ensemble=True, evaluate=True, wb2=_crps,
              chaosbench=lambda p: cbc.crps_chaosbench(p.f, p.o, p.latitude, **_CB)),
    ScoreSpec("spread", "spread", "sqrt of the init-mean latitude-weighted ensemble variance (WB2)",
              higher_is_better=None, needs_ensemble=True, evaluate=True, report=False, wb2=_var,
              wb2_finish=lambda mean, opts, m: np.sqrt(mean("var")),
              chaosbench=lambda p: cbc.spread_chaosbench(p.f, p.latitude, **_CB)),
    ScoreSpec("ssr", "SSR", "spread-skill ratio c·spread / RMSE(ensemble mean), c = sqrt((M+1)/M) (WB2)",
              units="1", higher_is_better=None, needs_ensemble=True, evaluate=True,
              wb2=lambda p: {**_mse(p), **_var(p)}, wb2_finish=_ssr_finish,
              chaosbench=lambda p: cbc.spread_skill_ratio_chaosbench(p.f, p.o, p.latitude, **_CB)),
    ScoreSpec("crpss", "CRPSS", "1 − CRPS / CRPS of the Gaussian climatology", units="1", higher_is_better=True,
              needs_ensemble=True, needs_climatology=True, needs_climatology_std=True, report=False,
              wb2=_crpss_wb2, wb2_finish=lambda mean, opts, m: 1.0 - mean("crps") / mean("crps_ref"),
              chaosbench=lambda p: cbc.crpss_chaosbench(p.f, p.o, p.c, p.s, p.latitude, **_CB)),
):  # fmt: skip
    register_score(_spec)
del _spec
