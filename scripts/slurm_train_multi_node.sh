#!/bin/bash
# SLURM template: data-parallel training over several nodes (torchrun c10d rendezvous, NCCL).
# Submit:  sbatch --nodes=4 scripts/slurm_train_multi_node.sh configs/pangu_lite_era5_wb2.yaml /scratch/$USER/runs/pangu
# train.batch_size in the YAML is the GLOBAL batch: it is split evenly over nodes x GPUs, so the same
# file gives the same optimisation on 1 GPU or 32 (up to float summation order).
# Requeue-safe: a resubmitted or requeued job resumes from OUT/checkpoints/last.pt (or last.dcp/).
# FSDP2 (parameters, gradients and optimizer state sharded over all GPUs of all nodes):
#   sbatch --nodes=4 scripts/slurm_train_multi_node.sh configs/pangu_lite_era5_wb2.yaml /scratch/$USER/runs/pangu \
#          --set train.strategy=fsdp
#SBATCH --job-name=chaosbench-train-mn
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --output=%x-%j.out
set -euo pipefail
CONFIG=${1:?YAML run configuration}
OUT=${2:?run folder (on a file system all nodes see)}
shift 2
source "${VENV:-.venv}/bin/activate"
GPUS=${SLURM_GPUS_ON_NODE:-4}
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
PORT=${MASTER_PORT:-29500}
RESUME=""
# last.pt (ddp) or the sharded last.dcp/ (fsdp; either resumes on another number of GPUs)
if [ -e "$OUT/checkpoints/last.pt" ] || [ -e "$OUT/checkpoints/last.dcp/training.pt" ]; then RESUME="--resume"; fi
export OMP_NUM_THREADS=$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS ))
trap 'scontrol requeue "$SLURM_JOB_ID"' USR1
# one torchrun per node (srun --ntasks-per-node=1); they meet at HEAD:PORT
srun --kill-on-bad-exit=1 torchrun \
  --nnodes "$SLURM_JOB_NUM_NODES" --nproc_per_node "$GPUS" \
  --rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d --rdzv_endpoint "$HEAD:$PORT" \
  -m chaosbench_py train "$CONFIG" --out "$OUT" $RESUME "$@" &
wait
