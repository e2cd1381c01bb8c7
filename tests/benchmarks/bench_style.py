"""Style transfer speed and quality: VGG-16 (shared Caffe weights) against EfficientNet-Lite0.

    python tests/benchmarks/bench_style.py [--size 512] [--iters 300] [--styles starry_night,the_scream]
                                           [--content tubingen] [--sheet docs/gallery/style_side_by_side.png]
                                           [--models vgg16_caffe,efficientnet_lite0] [--init content|noise]

For each style and model: seconds for ``--iters`` L-BFGS iterations (after a warm-up
evaluation; model loading excluded), the L-BFGS iterations needed to reach 1.1x the final loss,
and both results judged in VGG-16's feature space (the classic Gatys losses at relu4_2 and
relu1_1..relu5_1, the same content and style inputs): the style and content losses, and the
style loss per layer. With ``--sheet`` it also writes a contact sheet: content, style, VGG-16,
Lite0 for each style. ``--init noise`` starts from noise instead of the photo: VGG-16 run that
way calibrates the judge (the same network and loss, another start: how far apart two good
results of the judge's own objective land).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from dreamreel.animator.media import fit_size, read_image, resize_to, write_image
from dreamreel.animator.modes.sheet import contact_sheet
from dreamreel.engine import get_backbone, pick_device
from dreamreel.engine.style import StyleParams, StyleTransfer, judge, recipe_for, style_size

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO.parent / "shared" / "media"
SHORT = {"vgg16_caffe": "VGG-16", "efficientnet_lite0": "Lite0"}
VGG = REPO.parent / "shared" / "weights" / "vgg16_caffe_features.pth"


def load(path: Path, size: int) -> torch.Tensor:
    img = read_image(str(path))
    return resize_to(img, fit_size(img.shape[-2], img.shape[-1], size))


def crop_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Centre crop of ``x`` with ``like``'s aspect ratio (for the sheet)."""
    h, w = x.shape[-2:]
    th, tw = like.shape[-2:]
    if h * tw > w * th:
        ch = round(w * th / tw)
        return x[..., (h - ch) // 2 : (h - ch) // 2 + ch, :]
    cw = round(h * tw / th)
    return x[..., :, (w - cw) // 2 : (w - cw) // 2 + cw]


def run(net, content, style, iters: int, init: str = "content") -> dict:
    st = StyleTransfer(net, content, [style], params=StyleParams(iters=iters, init=init))
    st._closure()  # warm-up: first-call allocations
    st.opt.zero_grad()
    t = time.perf_counter()
    out = st.run(iters)
    seconds = time.perf_counter() - t
    hist = [float(h) for h in st.history]
    final = hist[-1]
    to_11 = next(i + 1 for i, v in enumerate(hist) if v <= 1.1 * final)
    return {"image": out, "seconds": seconds, "evals": st.evaluations - 1, "to_1.1x": to_11, "final": final}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--content", default="tubingen")
    ap.add_argument("--styles", default="starry_night")
    ap.add_argument("--sheet", default=None, help="write a contact sheet of the results here")
    ap.add_argument("--keep", default=None, help="folder for the result PNGs")
    ap.add_argument("--models", default="vgg16_caffe,efficientnet_lite0")
    ap.add_argument("--init", default="content", choices=("content", "noise"))
    a = ap.parse_args()
    dev = pick_device("auto")
    content = load(MEDIA / f"{a.content}.jpg", a.size).to(dev)
    h, w = content.shape[-2:]
    vgg = get_backbone("vgg16_caffe", weights=str(VGG), device=dev)
    lite = get_backbone("efficientnet_lite0", device=dev)
    print(f"bench_style: {a.content} {w}x{h}, {a.iters} L-BFGS iterations from {a.init}, "
          f"{torch.get_num_threads()} threads, {dev}")
    cells, labels = [], []
    for name in a.styles.split(","):
        raw = read_image(str(MEDIA / f"{name}.jpg"))
        style = resize_to(raw, style_size((h, w), raw.shape[-2:])).to(dev)
        cells += [content, crop_like(style, content)]
        labels += [a.content, f"{name} (crop)"]
        for label, net in (("vgg16_caffe", vgg), ("efficientnet_lite0", lite)):
            if label not in a.models.split(","):
                continue
            r = run(net, content, style, a.iters, a.init)
            j = judge(vgg, r["image"], content, [style])
            per = " ".join(f"{k} {v:.3g}" for k, v in j["layers"].items())
            print(f"{name:<13} {label:<19} recipe {recipe_for(net).name:<16} {r['seconds']:7.1f} s "
                  f"({r['seconds'] / a.iters:.2f} s/iter, {r['evals']} evaluations)  1.1x final loss at "
                  f"iteration {r['to_1.1x']:3d}  | VGG-16 judge: style {j['style']:.4g}  content {j['content']:.4g}  "
                  f"[{per}]", flush=True)
            cells.append(r["image"])
            labels.append(f"{SHORT[label]}: {name}")
            if a.keep:
                Path(a.keep).mkdir(parents=True, exist_ok=True)
                write_image(str(Path(a.keep) / f"{a.content}_{name}_{label}.png"), r["image"])
        ref = judge(vgg, resize_to(raw, (h, w)).to(dev), content, [style])
        print(f"{name:<13} {'(the painting itself, resized to the output)':<56} | VGG-16 judge: style "
              f"{ref['style']:.4g}  content {ref['content']:.4g}", flush=True)
    if a.sheet:
        contact_sheet(cells, labels, a.sheet, cell_width=256, cols=4)
        print(f"wrote {a.sheet}")


if __name__ == "__main__":
    main()
