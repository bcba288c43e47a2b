"""Reports: Markdown + self-contained HTML with figures; plotting helpers."""

from .document import Report, atomic_write_text, save_figure

__all__ = ["Report", "atomic_write_text", "save_figure"]
