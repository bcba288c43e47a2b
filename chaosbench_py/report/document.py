"""A small report builder: sections of text, tables and figures → Markdown and self-contained HTML.

The report is written as ``report.md`` (with PNGs in ``figures/`` beside it) and ``report.html``
(figures embedded as base64, so the one file can be mailed or opened anywhere). Nothing is written
before :meth:`Report.write`: figures are rendered to PNG bytes in memory when they are added. Then
the ``figures/`` folder is built beside its place and swapped in, and ``report.html`` and
``report.md`` are written atomically (temporary file + rename), the Markdown last. An existing
report is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosbench_py.files import atomic_output, atomic_store, atomic_write_text

from ..errors import InputError, OutputExistsError

__all__ = ["Report", "atomic_write_text", "save_figure"]


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    try:
        with atomic_output(path, ".png") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return "–"
        return f"{v:.4g}"
    return str(v)


@dataclass
class Report:
    """Collects report content; :meth:`write` renders it."""

    title: str
    out_dir: Path
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    _figures: dict[Path, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, rows: Sequence[dict[str, Any]], caption: str = "") -> None:
        if rows:
            self.blocks.append(("table", (list(rows), caption)))

    def figure(self, fig: Any, name: str, caption: str) -> Path:
        """Add a matplotlib figure (rendered to PNG now, closed); returns the path it will have after
        :meth:`write`. A name used twice is an error (one figure would silently replace the other)."""
        path = self.out_dir / "figures" / f"{name}.png"
        if path in self._figures:
            import matplotlib.pyplot as plt

            plt.close(fig)
            raise InputError(f"figure name {name!r} is used twice in this report")
        self._figures[path] = _png_bytes(fig)
        self.blocks.append(("figure", (path, caption)))
        return path

    def _markdown(self) -> str:
        lines = [f"# {self.title}", "", f"_Generated {datetime.datetime.now():%Y-%m-%d %H:%M}_", ""]
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload
                lines += ["#" * level + " " + text, ""]
            elif kind == "text":
                lines += [payload, ""]
            elif kind == "table":
                rows, caption = payload
                cols = list(rows[0])
                if caption:
                    lines += [f"**{caption}**", ""]
                lines.append("| " + " | ".join(cols) + " |")
                lines.append("|" + "---|" * len(cols))
                lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
                lines.append("")
            elif kind == "figure":
                path, caption = payload
                lines += [
                    f"![{caption}]({path.relative_to(self.out_dir).as_posix()})",
                    "",
                    f"*{caption}*",
                    "",
                ]
        return "\n".join(lines)

    def _html(self) -> str:
        esc = html.escape
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{esc(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
            "text-align:right}th{background:#eee}img{max-width:100%}figcaption{font-style:italic}</style>",
            f"</head><body><h1>{esc(self.title)}</h1>",
            f"<p><em>Generated {datetime.datetime.now():%Y-%m-%d %H:%M}</em></p>",
        ]
        for kind, payload in self.blocks:
            if kind == "heading":
                level, text = payload
                parts.append(f"<h{level}>{esc(text)}</h{level}>")
            elif kind == "text":
                parts.append(f"<p>{esc(payload)}</p>")
            elif kind == "table":
                rows, caption = payload
                cols = list(rows[0])
                parts.append("<table>")
                if caption:
                    parts.append(f"<caption>{esc(caption)}</caption>")
                parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>")
                for r in rows:
                    parts.append(
                        "<tr>" + "".join(f"<td>{esc(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                    )
                parts.append("</table>")
            elif kind == "figure":
                path, caption = payload
                data = base64.b64encode(self._figures[path]).decode()
                parts.append(
                    f"<figure><img src='data:image/png;base64,{data}' alt='{esc(caption)}'>"
                    f"<figcaption>{esc(caption)}</figcaption></figure>"
                )
        parts.append("</body></html>")
        return "\n".join(parts)

    def outputs(self) -> list[Path]:
        """The paths :meth:`write` creates or replaces: ``report.md``, ``report.html``, ``figures/``."""
        return [self.out_dir / "report.md", self.out_dir / "report.html", self.out_dir / "figures"]

    def write(self, *, overwrite: bool = False) -> Path:
        """Write ``figures/``, ``report.html`` and ``report.md`` into ``out_dir``; returns the Markdown path.

        An existing ``report.md``, ``report.html`` or ``figures/`` is refused
        (:class:`~chaosbench_py.errors.OutputExistsError` naming it) unless ``overwrite=True``, which
        replaces them (the old ``figures/`` folder as a whole). Each piece appears whole (built beside
        its place, then renamed); the Markdown, written last, marks a complete report.
        """
        existing = [p for p in self.outputs() if p.exists() or p.is_symlink()]
        if existing and not overwrite:
            raise OutputExistsError(
                f"{existing[0]}: exists (a report was written to {self.out_dir} before); pass overwrite=True "
                "(chaosbench report --overwrite) to replace it, or choose another folder"
            )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fig_dir = self.out_dir / "figures"
        if self._figures:
            with atomic_store(fig_dir) as tmp:
                tmp.mkdir()
                for path, data in self._figures.items():
                    (tmp / path.name).write_bytes(data)
        elif fig_dir.exists():
            shutil.rmtree(fig_dir)
        md = self.out_dir / "report.md"
        atomic_write_text(self.out_dir / "report.html", self._html())
        atomic_write_text(md, self._markdown())
        return md
