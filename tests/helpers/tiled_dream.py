"""Dream a 1600x1000 picture once, tiled or not; print the peak RSS (MB) the dream added, save the result.

The baseline is the peak after loading torch and the model and a tiny warm-up dream, so the
figure is what the big dream itself needed.

Run as a subprocess so that each run's peak memory is its own:
    python tiled_dream.py TILE OUT.pt
"""
import resource
import sys

import torch

from dreamreel.animator.media import read_image, resize_to
from dreamreel.engine import DreamParams, dream, get_backbone, objectives

tile, out = int(sys.argv[1]), sys.argv[2]
src = sys.argv[3]
torch.set_num_threads(2)
net = get_backbone()
img = resize_to(read_image(src), (1000, 1600))
dream(net, img[..., :64, :64].contiguous(), objectives.layer("block9"), DreamParams(octaves=1, steps=1))
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
params = DreamParams(octaves=1, steps=int(sys.argv[4]) if len(sys.argv) > 4 else 3, lr=0.03, tile=tile, seed=1)
res = dream(net, img, objectives.layer("block9"), params)
torch.save({"in": img, "out": res}, out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline)
