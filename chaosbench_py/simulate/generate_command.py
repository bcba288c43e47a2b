"""``chaosbench generate``: the subcommand's implementation (the parser is in :mod:`chaosbench_py.cli`).

A netCDF output of a flow whose plan is recorded is written without importing torch
(:func:`generate_netcdf_without_torch`); everything else goes through torch: one batch
(:func:`.trajectories.generate_trajectory_arrays`), a resumable zarr store, torchrun ranks or a dask cluster.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from ..errors import InputError, InputTypeError, OutputExistsError

logger = logging.getLogger(__name__)

__all__ = ["generate_command", "generate_netcdf_without_torch"]


def generate_command(args: argparse.Namespace) -> int:
    """``chaosbench generate``: parsed arguments ``args`` → the trajectory file ``args.out``; exit status 0."""

    def param_value(name: str, text: str) -> object:
        """A --param value: a number, or a JSON list of numbers for a vector/matrix parameter."""
        try:
            return float(text)
        except ValueError:
            pass
        if text.strip().startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                pass
        raise InputTypeError(
            f"--param {name}={text}: {text!r} is not a number (e.g. {name}=10, or {name}=[1,2,3] for a vector)"
        )

    params: dict[str, object] = {}
    for item in args.param or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise InputError(f"--param expects NAME=VALUE (e.g. --param sigma=10); got {item!r}")
        params[name.strip()] = param_value(name.strip(), text.strip())
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".zarr", ".nc", ".nc4", ".netcdf"):
        raise InputError(
            f"--out {out}: unknown format {suffix or '(no suffix)'!r}; use a .zarr directory or a .nc file"
        )
    if suffix != ".zarr" and args.resume:
        raise InputError(f"--resume applies to .zarr outputs (a .nc file is written in one piece): {out}")
    if args.resume and args.overwrite:
        raise InputError("pass --resume or --overwrite, not both")
    ranked = args.trajectory_chunk is not None or bool(os.environ.get("WORLD_SIZE")) or args.dask is not None
    if suffix != ".zarr" and out.exists() and not args.overwrite:  # refused before any integration
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it, or choose another path")
    if suffix != ".zarr" and not ranked and generate_netcdf_without_torch(args, params, out):
        print(f"wrote {out}")
        return 0
    import torch

    from ..systems import get_system

    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"--device {args.device!r} is not a torch device (cpu, cuda, cuda:1 ...)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {args.device}: CUDA is not available on this machine")
    factory_kwargs = {"dim": args.dim} if args.dim is not None else {}
    system = get_system(args.system, **factory_kwargs, **params)
    kwargs = dict(
        pts_per_period=args.pts_per_period,
        pts_per_lyapunov=args.pts_per_lyapunov,
        sample_dt=args.sample_dt,
        transient=args.transient,
        noise=args.noise,
        seed=args.seed,
        method=args.method,
        rtol=args.rtol,
        atol=args.atol,
        dt=args.dt,
    )
    if ranked and suffix != ".zarr":
        raise InputError(f"--out {out}: torchrun, --trajectory-chunk and --dask generate .zarr only")
    if args.dask is not None:
        from ..evaluation.dask_scoring import dask_client
        from .rank_generate import generate_to_store_dask

        with dask_client(args.dask) as client:
            generate_to_store_dask(
                out, system, args.trajectories, args.length, client=client, chunk=args.chunk,
                trajectory_chunk=args.trajectory_chunk or 64, resume=args.resume, overwrite=args.overwrite,
                progress=not args.quiet, **kwargs,
            )  # fmt: skip
    elif ranked:
        from .rank_generate import generate_to_store_ranks

        generate_to_store_ranks(
            out, system, args.trajectories, args.length, chunk=args.chunk,
            trajectory_chunk=args.trajectory_chunk or 64, resume=args.resume, overwrite=args.overwrite,
            progress=not args.quiet, device=device, **kwargs,
        )  # fmt: skip
    elif suffix == ".zarr":
        from .store import generate_to_store

        generate_to_store(
            out,
            system,
            args.trajectories,
            args.length,
            chunk=args.chunk,
            resume=args.resume,
            overwrite=args.overwrite,
            progress=not args.quiet,
            device=device,
            **kwargs,
        )
    else:
        # netCDF straight from the arrays: xarray, pandas and dask would cost more start-up than the run
        from .netcdf_writer import write_trajectories_netcdf
        from .trajectories import generate_trajectory_arrays

        arrays = generate_trajectory_arrays(
            system,
            args.trajectories,
            args.length,
            chunk=args.chunk,
            progress=not args.quiet,
            device=device,
            **kwargs,
        )
        write_trajectories_netcdf(arrays, out, overwrite=args.overwrite)
        if device.type == "cpu" and args.method == "dop853":  # later runs of this system skip torch
            from .native_dop853 import record_plan_after_run

            record_plan_after_run(system, args.dim, params, arrays)
    if os.environ.get("RANK", "0") in ("", "0"):
        print(f"wrote {out}")
    return 0


def generate_netcdf_without_torch(args: argparse.Namespace, params: dict, out: Path) -> bool:
    """``chaosbench generate`` (parsed arguments ``args``, ``--param`` values ``params``) to the netCDF file
    ``out`` from a recorded plan, without importing torch (:mod:`.fast_start`); False (nothing written) when no plan applies or
    ``CHAOSBENCH_FAST_START=0``."""
    from .fast_start import generate_from_plan, load_plan, plain_arguments, plan_path, switched_on

    if args.device != "cpu" or args.method != "dop853" or args.dt is not None:
        return False
    plain = plain_arguments(
        n_trajectories=args.trajectories, length=args.length, chunk=args.chunk, transient=args.transient,
        noise=args.noise, seed=args.seed, rtol=args.rtol, atol=args.atol, pts_per_period=args.pts_per_period,
        pts_per_lyapunov=args.pts_per_lyapunov, sample_dt=args.sample_dt,
    )  # fmt: skip
    if not (plain and switched_on("CHAOSBENCH_NATIVE") and switched_on("CHAOSBENCH_FAST_START")):
        return False
    plan = load_plan(plan_path(args.system, args.dim, params))
    if plan is None:
        return False
    arrays = generate_from_plan(
        plan, args.trajectories, args.length, pts_per_period=args.pts_per_period,
        pts_per_lyapunov=args.pts_per_lyapunov, sample_dt=args.sample_dt, transient=args.transient,
        noise=args.noise, seed=args.seed, rtol=args.rtol, atol=args.atol, chunk=args.chunk,
        progress=not args.quiet,
    )  # fmt: skip
    if arrays is None:
        return False
    from .netcdf_writer import write_trajectories_netcdf

    write_trajectories_netcdf(arrays, out, overwrite=args.overwrite)
    return True
