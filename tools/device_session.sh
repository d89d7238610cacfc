#!/usr/bin/env bash
# One lent-GPU session's work, as one `device` run (README, "On a lent GPU"):
#   run(command="bash tools/device_session.sh <commit> <bench_s> <fill_s> <figures> [<scale>]",
#       carry=[".devicedata"], timeout_s=600)
# 1. the GPU benchmark (benchmarks/bench_gpu.py: epoch, HVP, certified top-8; MLP and VGG10;
#    single and vmapped), stopped after <bench_s> seconds (what it measured is kept);
# 2. the paper-scale CIFAR-10 runs (tools/device_cifar.py) for <fill_s> seconds, figures in the
#    order <figures> (e.g. 13,6,5b), resuming from the travelled store; <scale> (default paper):
#    cpu-1k fills the CPU scale's runs instead, from the same pack.
# Everything lands in $OUT: bench_gpu.json, records.tar.gz, timings.json, session.log.
set -u
commit=${1:?commit}; bench_s=${2:-200}; fill_s=${3:-330}; figures=${4:-13,6,5b}; scale=${5:-paper}
# no preallocation: device_cifar.py's parent touches the GPU, its sweep child needs the memory
export PYTHONUNBUFFERED=1 EOSLIB_GIT_COMMIT=$commit OPENBLAS_NUM_THREADS=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
exec > >(tee "$OUT/session.log") 2>&1
nvidia-smi -L || true
python3 -c "import jax, flax, optax, numpy, scipy; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())"
tic=$SECONDS
timeout "$bench_s" python3 benchmarks/bench_gpu.py run --out "$OUT" 2>&1 | grep -v "^\s*$" | tail -n 40
echo "bench: rc ${PIPESTATUS[0]} after $((SECONDS - tic)) s"
tic=$SECONDS
python3 tools/device_cifar.py run --budget-s "$fill_s" --margin-s 30 --models 0 --figures "$figures" --scale "$scale" --out "$OUT" 2>&1 \
  | tr '\r' '\n' | grep -v "^\s*$" | tail -n 60
echo "fill: rc ${PIPESTATUS[0]} after $((SECONDS - tic)) s"
