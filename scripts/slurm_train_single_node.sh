#!/bin/bash
# SLURM template: train an emulator on one node with all its GPUs (torchrun, one process per GPU, NCCL).
# Submit:  sbatch scripts/slurm_train_single_node.sh configs/fno_shallow_water.yaml /scratch/$USER/runs/fno
# Requeue-safe: if the job stops (time limit, preemption, node failure), submitting the same line again
# resumes from OUT/checkpoints/last.pt and ends with the same weights as an uninterrupted run.
# Engine: train.strategy (default auto = DDP under torchrun); a model too large for one GPU (Pangu at
# 0.25 deg) shards with FSDP2, checkpoints going to OUT/checkpoints/last.dcp/ (sharded, DCP):
#   sbatch scripts/slurm_train_single_node.sh configs/pangu_lite_era5_wb2.yaml /scratch/$USER/runs/pangu \
#          --set train.strategy=fsdp
# Extra arguments after CONFIG OUT go to `chaosbench train` (e.g. --set train.steps=1000).
#SBATCH --job-name=chaosbench-train
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail
CONFIG=${1:?YAML run configuration}
OUT=${2:?run folder}
shift 2
source "${VENV:-.venv}/bin/activate"
GPUS=${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L | wc -l)}
RESUME=""
# last.pt (ddp) or the sharded last.dcp/ (fsdp; either resumes on another number of GPUs)
if [ -e "$OUT/checkpoints/last.pt" ] || [ -e "$OUT/checkpoints/last.dcp/training.pt" ]; then RESUME="--resume"; fi
export OMP_NUM_THREADS=$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS ))
# requeue shortly before the time limit; the last checkpoint is the resume point
trap 'scontrol requeue "$SLURM_JOB_ID"' USR1
torchrun --standalone --nproc_per_node "$GPUS" -m chaosbench_py train "$CONFIG" --out "$OUT" $RESUME "$@" &
wait
