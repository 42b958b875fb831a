#!/usr/bin/env bash
# The scheduler-agnostic fan-out: N independent gpu-eval processes, each evaluating its part of
# the shards and saving its state, then one merge. Replace the loop with a Slurm array
# (--shard-index $SLURM_ARRAY_TASK_ID), Ray tasks or anything else that runs commands: nothing
# but the state files passes between the parts.
#
#   examples/distributed/fan_out.sh DATA_DIR [N] [gpu-eval options...]
#
# DATA_DIR holds pred_*.npy, target_*.npy (and mask_*.npy), as `gpu-eval synth` writes them.
# GPU_EVAL names the gpu-eval binary (default: build/bin/gpu-eval); FORMAT the merged report's
# format (table, json or csv; default table).
set -euo pipefail
data=${1:?usage: fan_out.sh DATA_DIR [N] [gpu-eval options...]}
parts=${2:-4}
shift $(($# >= 2 ? 2 : 1))
gpu_eval=${GPU_EVAL:-build/bin/gpu-eval}
states=$(mktemp -d)
trap 'rm -rf "$states"' EXIT

inputs=(--pred "$data"/pred_*.npy --target "$data"/target_*.npy)
if compgen -G "$data/mask_*.npy" >/dev/null; then
  inputs+=(--mask "$data"/mask_*.npy)
fi

for ((i = 0; i < parts; i++)); do
  "$gpu_eval" "${inputs[@]}" "$@" --shard-index "$i" --shard-count "$parts" \
    --save-state "$states/part-$i.state" --format none --no-progress &
done
wait

# States merge in the order given: list them in part order for a report that is the same, bit
# for bit, however the parts were scheduled.
mapfile -t files < <(for ((i = 0; i < parts; i++)); do echo "$states/part-$i.state"; done)
"$gpu_eval" merge "${files[@]}" --format "${FORMAT:-table}"
