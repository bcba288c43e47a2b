"""Regenerate ``dysts_golden.json``: right-hand sides / map images computed by dysts itself.

Run in an environment with dysts installed (it is not a dependency of this package):

    python tests/data/make_dysts_golden.py

For every continuous (non-delay) system: 4 states drawn around the stored mean with the stored
std (seeded), a time t, and dysts' ``rhs(X, t)``. For every discrete map: 4 states near the
stored initial condition and dysts' ``rhs(X)``. The tests compare the catalog's torch code with
these numbers, an independent implementation of the same published equations.
"""

import json
import pathlib

import dysts.flows
import dysts.maps
import numpy as np

rng = np.random.default_rng(1234)
out = {"_source": "dysts 0.96 rhs evaluated at seeded random states", "flows": {}, "maps": {}}
meta = json.load(open(pathlib.Path(dysts.flows.__file__).parent / "data" / "chaotic_attractors.json"))
for name, m in sorted(meta.items()):
    if m.get("delay"):
        continue
    sys = getattr(dysts.flows, name)()
    ic = np.asarray(m["initial_conditions"], dtype=float)
    mean = np.asarray(m.get("mean", ic), dtype=float)
    std = np.asarray(m.get("std", np.ones_like(ic)), dtype=float)
    rows = []
    for k in range(4):
        x = ic if k == 0 else mean + 0.5 * std * rng.standard_normal(ic.shape)
        t = float(rng.uniform(0, 5)) if m.get("nonautonomous") else 0.0
        dx = np.asarray(sys.rhs(x.copy(), t), dtype=float)
        rows.append({"x": x.tolist(), "t": t, "rhs": dx.tolist()})
    out["flows"][name] = rows
mmeta = json.load(open(pathlib.Path(dysts.flows.__file__).parent / "data" / "discrete_maps.json"))
for name, m in sorted(mmeta.items()):
    if not hasattr(dysts.maps, name):
        continue  # listed in the metadata but not implemented in dysts
    sys = getattr(dysts.maps, name)()
    ic = np.asarray(m["initial_conditions"], dtype=float)
    rows = []
    for k in range(4):
        x = ic if k == 0 else ic * (1 + 0.05 * rng.standard_normal(ic.shape))
        y = np.atleast_1d(np.asarray(sys._rhs(*x.copy(), *sys.param_list), dtype=float)).reshape(-1)
        rows.append({"x": x.tolist(), "rhs": y.tolist()})
    out["maps"][name] = rows
path = pathlib.Path(__file__).with_name("dysts_golden.json")
path.write_text(json.dumps(out, indent=0))
print("wrote", path, len(out["flows"]), "flows", len(out["maps"]), "maps")
