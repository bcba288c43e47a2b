"""A small report builder: sections of text, tables and figures → Markdown and self-contained HTML.

The report is written as ``report.md`` (with PNGs beside it) and ``report.html`` (figures
embedded as base64, so the one file can be mailed or opened anywhere). Files are written
atomically (temporary file + rename).
"""

from __future__ import annotations

import base64
import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosbench_py.files import atomic_output, atomic_write_text

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

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, rows: Sequence[dict[str, Any]], caption: str = "") -> None:
        if rows:
            self.blocks.append(("table", (list(rows), caption)))

    def figure(self, fig: Any, name: str, caption: str) -> Path:
        path = save_figure(fig, self.out_dir / "figures" / f"{name}.png")
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
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(
                    f"<figure><img src='data:image/png;base64,{data}' alt='{esc(caption)}'>"
                    f"<figcaption>{esc(caption)}</figcaption></figure>"
                )
        parts.append("</body></html>")
        return "\n".join(parts)

    def write(self) -> Path:
        """Write ``report.md`` and ``report.html`` into ``out_dir``; returns the Markdown path."""
        md = self.out_dir / "report.md"
        atomic_write_text(md, self._markdown())
        atomic_write_text(self.out_dir / "report.html", self._html())
        return md
