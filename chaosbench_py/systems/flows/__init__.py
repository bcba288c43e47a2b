"""Right-hand sides of the continuous-time dysts systems, written in torch.

Each module registers its systems with :func:`chaosbench_py.systems.registry.register_flow`.
Importing this package imports every module in it (sorted by name), so adding a file adds its
systems to the catalog.

Not included: the six delay-differential systems of dysts (IkedaDelay, MackeyGlass,
PiecewiseCircuit, ScrollDelay, SprottDelay, VossDelay) — they need a history buffer, not an
ODE solver — see ``UNSUPPORTED``.
"""

import importlib
import pkgutil

UNSUPPORTED: dict[str, str] = {
    name: "delay-differential equation (needs a history buffer; not an ODE)"
    for name in ("IkedaDelay", "MackeyGlass", "PiecewiseCircuit", "ScrollDelay", "SprottDelay", "VossDelay")
}

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}")
