#!/bin/bash
# SLURM template: generate a large trajectory archive on one GPU node, resumable.
# Submit:  sbatch scripts/slurm_generate.sh Lorenz 100000 20000 /scratch/$USER/lorenz.zarr
# If the job hits its time limit, submit the same line again: --resume continues the zarr store
# from its last complete chunk and ends with the same numbers as an uninterrupted run.
#SBATCH --job-name=chaosbench-generate
#SBATCH --nodes=1
#SBATCH --gpus=1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
SYSTEM=${1:?system name}
TRAJECTORIES=${2:?number of trajectories}
LENGTH=${3:?samples per trajectory}
OUT=${4:?output .zarr path}
source "${VENV:-.venv}/bin/activate"
RESUME=""
[ -e "$OUT" ] && RESUME="--resume"
chaosbench generate --system "$SYSTEM" --trajectories "$TRAJECTORIES" --length "$LENGTH" \
  --out "$OUT" --device cuda --chunk 2000 $RESUME
