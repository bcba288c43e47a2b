#!/bin/bash
# SLURM template: evaluate a trained gridded emulator with its scorecards computed on a dask.distributed
# cluster spread over the allocation (the same numbers as scoring in one process).
# Submit:  sbatch scripts/slurm_evaluate.sh /scratch/$USER/runs/fno /scratch/$USER/evals/fno --n-inits 64
# Extra arguments after RUN OUT go to `chaosbench evaluate` (e.g. --n-inits 64 --steps 40 --members 10).
# How: this batch script starts `dask scheduler --scheduler-file FILE` (on the first node), `srun` starts one
# `dask worker` per task of the allocation (1 thread, --memory-limit each), then
# `chaosbench evaluate RUN --out OUT --dask scheduler-file:FILE` rolls out here and scores on the workers.
# FILE lies in DASK_DIR (default: a folder in the submit directory, which the nodes must share).
# Requeue-safe: a stopped evaluation continues with --resume (added when OUT or .OUT.partial exists).
# Without SLURM (e.g. a stub srun that runs its command once) the script still runs: one local worker.
#SBATCH --job-name=chaosbench-evaluate
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=8G
#SBATCH --time=04:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
RUN=${1:?run folder}
OUT=${2:?evaluation folder}
shift 2
source "${VENV:-.venv}/bin/activate"
NTASKS=${SLURM_NTASKS:-2}
# per-worker memory limit: DASK_WORKER_MEMORY, else SLURM's per-CPU memory (MB), else 4 GiB
if [ -n "${DASK_WORKER_MEMORY:-}" ]; then MEM=$DASK_WORKER_MEMORY
elif [ -n "${SLURM_MEM_PER_CPU:-}" ]; then MEM="${SLURM_MEM_PER_CPU}MB"
else MEM=4GiB; fi
DASK_DIR=${DASK_DIR:-${SLURM_SUBMIT_DIR:-$PWD}/.chaosbench-dask-${SLURM_JOB_ID:-$$}}
SCHEDULER_FILE="$DASK_DIR/scheduler.json"
mkdir -p "$DASK_DIR"
rm -f "$SCHEDULER_FILE"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$SCHEDULER_FILE" "$DASK_DIR/workers"  # the logs stay in DASK_DIR
}
trap cleanup EXIT

dask scheduler --scheduler-file "$SCHEDULER_FILE" --port 0 --no-dashboard >"$DASK_DIR/scheduler.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 120); do [ -s "$SCHEDULER_FILE" ] && break; sleep 0.5; done
[ -s "$SCHEDULER_FILE" ] || { echo "dask scheduler did not start (see $DASK_DIR/scheduler.log)" >&2; exit 1; }

srun --ntasks "$NTASKS" --cpus-per-task 1 \
  dask worker --scheduler-file "$SCHEDULER_FILE" --nworkers 1 --nthreads 1 --memory-limit "$MEM" \
  --local-directory "$DASK_DIR/workers" --no-dashboard >"$DASK_DIR/workers.log" 2>&1 &
PIDS+=($!)
python - "$SCHEDULER_FILE" <<'PY'
import sys

from distributed import Client

with Client(scheduler_file=sys.argv[1], timeout=60) as client:
    client.wait_for_workers(1, timeout=300)
    print(f"dask: {len(client.scheduler_info()['workers'])} worker(s) up", flush=True)
PY

RESUME=""
if [ -e "$OUT" ] || [ -e "$(dirname "$OUT")/.$(basename "$OUT").partial" ]; then RESUME="--resume"; fi
chaosbench evaluate "$RUN" --out "$OUT" --dask "scheduler-file:$SCHEDULER_FILE" $RESUME "$@"
