"""What the main job (``chaosbench run``) shows while it runs, and the summary it ends with.

* :class:`JobDisplay`: on a terminal, one line on stderr when each stage starts (``[1/3] Lorenz-63:
  training shPLRNN (GTF)…``) and tqdm bars (with an ETA) for the long stages; off a terminal (CI,
  ``make run > log``, tests) it prints nothing. The bars of training, data generation and the flow
  spectra count real work; the Lorenz evaluation, whose loops are inside
  :func:`~chaosbench_py.evaluation.evaluate_run`, gets a bar against a measured time estimate
  (:meth:`JobDisplay.estimated`).
* :func:`summary_lines`: the headline figures of a finished job, printed to stdout before the
  report's path.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["JobDisplay", "summary_lines"]


class JobDisplay:
    """Stage lines and progress bars of the main job, on ``stream`` (default ``sys.stderr``).

    Args:
        show: ``True`` shows stages and bars, ``False`` shows nothing, ``None`` (default) shows them
            when ``stream`` is a terminal (``stream.isatty()``).
        stream: where the lines and bars go (stderr: stdout carries only the summary and the
            report's path, so ``chaosbench run > log`` keeps a clean log).
        n_parts: number of parts, for the ``[i/n]`` prefix.
    """

    def __init__(self, show: bool | None = None, stream: TextIO | None = None, n_parts: int = 3) -> None:
        self.stream = sys.stderr if stream is None else stream
        if show is None:
            isatty = getattr(self.stream, "isatty", None)
            show = bool(isatty()) if callable(isatty) else False
        self.show = bool(show)
        self.n_parts = int(n_parts)
        self._prefix = ""
        self._part_start = time.perf_counter()

    def part(self, index: int, name: str) -> None:
        """Start part ``index`` (1-based) called ``name``: later stage lines read ``[index/n] name: …``."""
        self._prefix = f"[{index}/{self.n_parts}] {name}"
        self._part_start = time.perf_counter()

    def stage(self, text: str) -> None:
        """One line ``[i/n] part: text…`` when shown."""
        self._print(f"{self._prefix}: {text}…" if self._prefix else f"{text}…")

    def part_done(self) -> float:
        """Line ``[i/n] part: done in N s`` (later stage lines have no prefix); returns the part's seconds."""
        seconds = time.perf_counter() - self._part_start
        self._print(f"{self._prefix}: done in {seconds:.0f} s")
        self._prefix = ""
        return seconds

    def _print(self, line: str) -> None:
        if self.show:
            print(line, file=self.stream, flush=True)

    def bar(self, iterable: Any, desc: str, unit: str = "it") -> Any:
        """``iterable`` wrapped in a tqdm bar when shown, else unchanged."""
        if not self.show:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, unit=unit, file=self.stream)

    @contextmanager
    def estimated(self, desc: str, seconds: float) -> Iterator[None]:
        """A bar that fills with wall-clock time against an estimate of ``seconds``.

        For work whose loops report no progress of their own. The bar holds at 99 % if the work
        takes longer than estimated and completes when the block ends; the estimate is shown in the
        description so the bar is not mistaken for a count of work done.
        """
        if not self.show or not math.isfinite(seconds) or seconds <= 0:
            yield
            return
        from tqdm.auto import tqdm

        total = max(1, int(round(seconds)))
        bar = tqdm(total=total, desc=f"{desc} (est. {total} s)", unit="s", file=self.stream,
                   bar_format="{l_bar}{bar}| {elapsed}<{remaining}")  # fmt: skip
        stop = threading.Event()
        t0 = time.perf_counter()

        def tick() -> None:
            while not stop.wait(0.5):
                bar.n = min(int(time.perf_counter() - t0), total - 1)
                bar.refresh()

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            bar.n = total
            bar.refresh()
            bar.close()


def _fmt(value: float, digits: int = 3) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def summary_lines(headline: dict[str, Any]) -> list[str]:
    """The job's headline figures as a few lines of text (no report path: the caller prints it last).

    ``headline`` keys (as :func:`chaosbench_py.main_job.run_main_job` fills them): ``lorenz``
    (``lyapunov_model``, ``lyapunov_true`` per time unit; ``d_stsp``, ``floor_clean``,
    ``floor_noisy``, ``test_points``, ``vpt`` in Lyapunov times), ``shallow_water``
    (``variable``, ``units``, ``lead_hours``, ``rmse`` ``{model, persistence, climatology}``),
    ``catalog`` (``n_flows``, ``n_published``, ``n_lambda_agree``, ``lambda_tolerance``, ``n_identity``,
    ``identity_tolerance``), ``seconds``. Missing parts are left out.

    The λ errors are ``|λ_i,model − λ_i,true| / |λ_i,true|`` in per cent, given only where
    ``|λ_i,true| ≥ 0.05`` (the zero exponent has no meaningful relative error: its absolute
    value is printed instead).
    """
    lines = ["Summary"]
    lz = headline.get("lorenz")
    if lz:
        parts = []
        for i, (m, t) in enumerate(zip(lz["lyapunov_model"], lz["lyapunov_true"]), start=1):
            err = f"{100 * abs(m - t) / abs(t):.1f} %" if abs(t) >= 0.05 else f"|Δ| {abs(m - t):.3f}"
            parts.append(f"λ{i} {m:.3f} vs {t:.3f} ({err})")
        lines.append("  Lorenz-63 shPLRNN (GTF): " + "; ".join(parts))
        lines.append(
            f"    D_stsp {_fmt(lz['d_stsp'])} on {lz['test_points']:,} test points; floor at that length "
            f"{_fmt(lz['floor_clean'])} (two clean series), {_fmt(lz['floor_noisy'])} (5 % noise vs clean); "
            f"VPT {_fmt(lz['vpt'], 2)} Lyapunov times"
        )
    sw = headline.get("shallow_water")
    if sw:
        r = sw["rmse"]
        lines.append(
            f"  Shallow water FNO: {sw['variable']} RMSE at {sw['lead_hours']:g} h {_fmt(r.get('model'), 4)} "
            f"vs persistence {_fmt(r.get('persistence'), 4)}, climatology {_fmt(r.get('climatology'), 4)}"
            f" ({sw['units']})" + (f", {sw['n_inits']} inits" if sw.get("n_inits") else "")
        )
        if sw.get("physics_days") is not None:
            lines.append(
                f"    physics: bounded over {sw['physics_days']:g} days in {sw['bounded']} rollouts; "
                f"λ1 model {_fmt(sw.get('lambda1_model'))} vs solver {_fmt(sw.get('lambda1_truth'))} per day"
            )
    cat = headline.get("catalog")
    if cat:
        lines.append(
            f"  Catalog: λ1 within {100 * cat['lambda_tolerance']:g} % of a published value for "
            f"{cat['n_lambda_agree']} of the {cat['n_published']} flows that have one ({cat['n_flows']} computed); "
            f"Σλ = ⟨∇·f⟩ within {100 * cat['identity_tolerance']:g} % for {cat['n_identity']} of {cat['n_flows']}"
        )
    if "seconds" in headline:
        lines.append(f"  Total time: {headline['seconds']:.0f} s")
    return lines
