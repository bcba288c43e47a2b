"""emulators: neural-network models of dynamics (torch only; no data or metric code)."""

__all__: list[str] = []
