#!/bin/bash
# SLURM template: generate a large trajectory archive on all GPUs of one node (torchrun, one rank per GPU),
# into ONE zarr store: the trajectories are cut into blocks of TRAJECTORY_CHUNK (default 1024), each block
# integrated as one batch by one rank and written into its own region of the store.
# Submit:  sbatch scripts/slurm_generate.sh Lorenz 100000 20000 /scratch/$USER/lorenz.zarr
# Extra arguments after OUT go to `chaosbench generate` (e.g. --noise 0.05 --pts-per-period 50).
# The numbers are the same on any number of GPUs (the block, not the rank, is the unit). If the job hits
# its time limit, submit the same line again: --resume continues every block from its last written chunk,
# on any number of GPUs, and ends with the same numbers as an uninterrupted run.
# DEVICE (default cuda: cuda:LOCAL_RANK on each rank; cpu for CPU nodes).
#SBATCH --job-name=chaosbench-generate
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
SYSTEM=${1:?system name}
TRAJECTORIES=${2:?number of trajectories}
LENGTH=${3:?samples per trajectory}
OUT=${4:?output .zarr path}
shift 4
source "${VENV:-.venv}/bin/activate"
GPUS=${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L | wc -l)}
RESUME=""
# the finished store, or the hidden unfinished run beside it
if [ -e "$OUT" ] || [ -e "$(dirname "$OUT")/.$(basename "$OUT").partial" ]; then RESUME="--resume"; fi
THREADS=$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS ))
export OMP_NUM_THREADS=$(( THREADS > 0 ? THREADS : 1 ))
torchrun --standalone --nproc_per_node "$GPUS" -m chaosbench_py generate --system "$SYSTEM" \
  --trajectories "$TRAJECTORIES" --length "$LENGTH" --out "$OUT" --device "${DEVICE:-cuda}" --chunk 2000 \
  --trajectory-chunk "${TRAJECTORY_CHUNK:-1024}" $RESUME "$@"
