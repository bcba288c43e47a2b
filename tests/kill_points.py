"""The ``python -c`` program the kill tests run (not a test file).

It runs the ``chaosbench`` CLI with the arguments it is given, counting *write events* — calls of
``os.replace``, ``shutil.rmtree``, ``xarray.Dataset.to_zarr`` / ``to_netcdf``, zarr attribute updates
and any extra ``(module, attribute, name)`` the test names — while one entry function runs, and
SIGKILLs itself at the event named by ``KILL_AT`` (``"NAME:K"``, the K-th call of NAME, or ``"K"``,
the K-th event of any kind). On a normal exit it prints ``EVENTS N`` on stderr, so a test can pick
kill points among the N events of an uninterrupted run.
"""

from __future__ import annotations


def kill_hook(entry_module: str, entry_function: str, rebind: list[str], extra_events: str = "") -> str:
    """The hook program: count write events during ``entry_module.entry_function``.

    ``rebind``: modules (dotted names) whose attribute ``entry_function`` must be replaced too (the
    names the CLI actually calls, e.g. a package re-exporting the function). ``extra_events``: Python
    source of further ``(owner, "attribute", "name")`` tuples, comma-separated, evaluated after
    ``import {entry_module} as entry`` (e.g. ``(entry, "_publish", "publish"),``).
    """
    rebinds = "\n".join(f"import {m}\n{m}.{entry_function} = counted_entry" for m in rebind)
    return f"""
import os, runpy, shutil, signal, sys
import xarray as xr
from zarr.core.attributes import Attributes
import {entry_module} as entry

spec = os.environ.get("KILL_AT", "")
active, total, per_name = [False], [0], {{}}
def event(name):
    if not active[0]:
        return
    total[0] += 1
    per_name[name] = per_name.get(name, 0) + 1
    if spec and spec in (str(total[0]), f"{{name}}:{{per_name[name]}}"):
        os.kill(os.getpid(), signal.SIGKILL)
def wrap(owner, attr, name):
    orig = getattr(owner, attr)
    def counted(*a, **k):
        event(name)
        return orig(*a, **k)
    setattr(owner, attr, counted)
for owner, attr, name in ((os, "replace", "replace"), (shutil, "rmtree", "rmtree"), (xr.Dataset, "to_zarr", "to_zarr"),
                          (xr.Dataset, "to_netcdf", "to_netcdf"), (Attributes, "update", "update"), {extra_events}):
    wrap(owner, attr, name)
orig_entry = entry.{entry_function}
def counted_entry(*a, **k):
    active[0] = True
    try:
        return orig_entry(*a, **k)
    finally:
        active[0] = False
        print(f"EVENTS {{total[0]}}", file=sys.stderr)
entry.{entry_function} = counted_entry
{rebinds}
sys.argv = ["chaosbench"] + sys.argv[1:]
runpy.run_module("chaosbench_py", run_name="__main__", alter_sys=True)
"""
