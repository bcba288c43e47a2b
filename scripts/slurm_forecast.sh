#!/bin/bash
# SLURM template: forecasts of a trained gridded emulator, split by init time over all GPUs of one node
# (torchrun, one rank per GPU), written into ONE zarr forecast store (each rank writes its own region).
# Submit:  sbatch scripts/slurm_forecast.sh /scratch/$USER/runs/fno /scratch/$USER/forecasts/fno.zarr \
#            --n-inits 256 --steps 40
# Extra arguments after RUN OUT go to `chaosbench forecast` (--test START END, --inits, --members,
# --perturbation, --batch-size ...). The store holds the same numbers on 1 GPU or 8.
# Requeue-safe: a stopped job submitted again continues with --resume (batches already written are skipped).
#SBATCH --job-name=chaosbench-forecast
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail
RUN=${1:?run folder written by chaosbench train}
OUT=${2:?forecast store (.zarr)}
shift 2
source "${VENV:-.venv}/bin/activate"
GPUS=${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L | wc -l)}
RESUME=""
[ -e "$OUT" ] && RESUME="--resume"
THREADS=$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS ))
export OMP_NUM_THREADS=$(( THREADS > 0 ? THREADS : 1 ))
trap 'scontrol requeue "$SLURM_JOB_ID"' USR1
torchrun --standalone --nproc_per_node "$GPUS" -m chaosbench_py forecast "$RUN" --out "$OUT" $RESUME "$@" &
wait
