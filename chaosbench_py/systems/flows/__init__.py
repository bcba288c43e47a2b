"""Right-hand sides of the continuous-time dysts systems, written in torch, one module per family.

===============================  ==================================================================
module                           what is in it
===============================  ==================================================================
``lorenz_like.py``               Lorenz (1963), its extensions (Lorenz84, LorenzStenflo …) and the
                                 Lorenz-type quadratic flows (Chen, Lü, Qi, Rucklidge, Dadras …)
``rossler_like.py``              Rössler and other single-scroll or cyclically symmetric flows
                                 (Aizawa, Halvorsen, Thomas, Bouali, GuckenheimerHolmes)
``jerk_and_sprott.py``           jerk flows and Sprott's minimal flows (Sprott A–S, Arneodo …)
``hyperchaotic.py``              four-dimensional hyperchaotic flows (HyperLorenz, HyperRossler …)
``neural_and_electronic.py``     neural networks (Hopfield, BeerRNN …), circuits (Chua, Colpitts …)
``biological_and_chemical.py``   chemistry, cell biology, ecology and one economic model
``forced_and_nonautonomous.py``  forced or clocked flows whose forcing phase is a state coordinate
                                 (Duffing, ForcedVanDerPol, DoubleGyre, BlinkingRotlet …)
``physical_and_mechanical.py``   mechanics and Hamiltonian systems, fluids, plasma, lasers, dynamo
===============================  ==================================================================

To find a system, search this folder for ``register_flow("Name")``. Each module registers its
systems with :func:`chaosbench_py.systems.registry.register_flow`; importing this package imports
every public module in it (sorted by name), so adding a file adds its systems to the catalog.
Helpers used by several families are in ``_helpers.py``. Lorenz-96 (any dimension) is
:mod:`chaosbench_py.systems.lorenz96`.

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

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")
