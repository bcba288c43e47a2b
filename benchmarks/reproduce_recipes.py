"""Paper reproductions as benchmarks: a thin caller of ``chaosbench reproduce`` for one or more recipes.

The data recipes, run configs, evaluation protocols, published numbers and goals live in
:mod:`chaosbench_py.reproduce` (one definition each, also behind the CLI; ``chaosbench reproduce --list``);
this script runs the named recipes one after another into ``OUT/NAME`` and prints each table (median ±
MAD over seeds, 95 % interval, the published value, the paired test of the main model against its
strongest baseline). It replaces the former ``gtf_reproduction.py`` and ``phyxmamba_reproduction.py``.

Run::

    nice -n 5 python benchmarks/reproduce_recipes.py gtf-lorenz63 phyxmamba-lorenz63 --out runs/repro \
        [--seeds 5] [--budget default|tiny|published|STEPS] [--data ../shared/data/gtf] [--resume]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chaosbench_py.reproduce import list_recipes, run_recipe


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipes", nargs="+", choices=list_recipes(), metavar="RECIPE")
    ap.add_argument("--out", required=True, help="folder; each recipe writes OUT/RECIPE")
    ap.add_argument("--seeds", type=int, default=None, help="default: the budget's")
    ap.add_argument("--budget", default="default")
    ap.add_argument(
        "--data", default=None, help="folder of a shared data set (GTF recipes: the GTF data sets)"
    )
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)
    for name in args.recipes:
        res = run_recipe(name, Path(args.out) / name, seeds=args.seeds, budget=args.budget, data=args.data,
                         resume=args.resume, log=print)  # fmt: skip
        print((res.out / "report" / "table.md").read_text(encoding="utf-8"))
        print(f"report: {res.report}")


if __name__ == "__main__":
    main()
