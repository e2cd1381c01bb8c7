#!/usr/bin/env bash
# The CPU baseline (issue 22, part 7): the PNG hashes of a still, a zoom, a recursive run, a stylisation, a video
# dream, the three clip methods and split renders (keyframes, network), rendered by the dreamreel installed in SITE, into OUTDIR/hashes.txt.
# Compare two commits: install each with `pip install --no-deps --no-build-isolation --target SITE TREE`, run this
# for both, then `diff <(awk '{print $2, $1}' A/hashes.txt) <(awk '{print $2, $1}' B/hashes.txt)`.
#   usage: tests/helpers/baseline_hashes.sh SITE OUTDIR [PYTHON]
set -u
SITE=$(cd "$1" && pwd); O=$2; PY=${3:-python3}
S=$(cd "$(dirname "$0")/../../samples" && pwd)
rm -rf "$O"; mkdir -p "$O"; cd "$O" || exit 2
export PYTHONPATH=$SITE OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
r() { name=$1; shift; DREAMREEL_CACHE="$O/cache_$name" "$PY" -m dreamreel.animator.cli "$@" > "$O/$name.log" 2>&1 \
      || echo "FAIL $name"; }
r dream dream "$S/figures.jpg" -o dream.png --size 128 --octaves 2 --steps 3
r zoom zoom "$S/figures.jpg" --preset classic-zoom --frames 6 --size 128 -o zoom.mp4
r recursive recursive "$S/figures.jpg" --layers block2..block4 --size 128 --octaves 1 --steps 2 -o stages
r stylize stylize "$S/figures.jpg" --style "$S/starry_night.jpg" --size 96 --iters 10 -o styl.png
r keyframes video "$S/bunny.mp4" --style "$S/starry_night.jpg" --method keyframes --max-frames 8 --width 96 \
  --key-iters 10 -o key.mp4
r network video "$S/bunny.mp4" --style "$S/starry_night.jpg" --method network --max-frames 8 --width 96 \
  --train-iters 10 -o net.mp4
r optimize video "$S/bunny.mp4" --style "$S/starry_night.jpg" --method optimize --max-frames 4 --width 96 \
  --iters-first 8 --iters 4 -o opt.mp4
r splitkey video "$S/bunny.mp4" --style "$S/starry_night.jpg" --method keyframes --max-frames 12 --width 96 \
  --key-iters 10 --workers 2 -o splitkey.mp4
r splitnet video "$S/bunny.mp4" --style "$S/starry_night.jpg" --method network --max-frames 12 --width 96 \
  --train-iters 10 --net-blend 0.3 --workers 2 -o splitnet.mp4
r videodream video "$S/bunny.mp4" --dream --max-frames 6 --width 96 --octaves 1 --steps 2 -o vd.mp4
find . -name "*.png" -not -path "./cache*" | sort | xargs sha256sum > hashes.txt
# settings files, less what differs from run to run (times; OUTDIR is written OUT)
find . -name "*.json" -not -path "./cache*" | sort | while read -r f; do
  "$PY" -c 'import json,os,sys; d=json.load(open(sys.argv[1]))
def clean(x):
    if isinstance(x, dict): return {k: clean(v) for k, v in x.items() if k not in ("seconds", "mtime_ns", "elapsed", "started", "finished")}
    if isinstance(x, list): return [clean(v) for v in x]
    return x
print(sys.argv[1], json.dumps(clean(d), sort_keys=True).replace(os.getcwd(), "OUT"))' "$f"
done > settings.txt
wc -l < hashes.txt
