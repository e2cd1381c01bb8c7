"""Hostile inputs (issue 14, part 2): every one gives a correct render, or one line and exit code 2.

* Text: schedules and objective strings are fuzzed (hypothesis): any string parses or gives one
  line (a schedule's with its position); never another exception, never code run.
* Presets with values of the wrong kind or unknown keys; zoom factors that reach 0.
* Pictures: tiny, grey, alpha, palette, 16-bit, CMYK, EXIF-turned, animated, truncated, not a
  picture, empty, too large (the limits are lowered here: the suite makes only small files; the
  real 10000x10000 figures are in tests/benchmarks/bench_inputs.py).
* Clips: variable frame rate, odd sizes, rotated, audio only, no frames, truncated, a still, GIFs.

Every file is made here, in tmp_path, with Pillow, numpy, OpenCV or the bundled ffmpeg.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import os
import struct
import types
import warnings
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from PIL import Image, ImageOps

from dreamreel.animator.media import ClipReader, open_clip
from dreamreel.animator.media import images
from dreamreel.animator.media.ffmpeg import probe_video, run_ffmpeg
from dreamreel.animator.media.images import decode_image, read_image
from dreamreel.animator.request.schedule import ScheduleError, parse_schedule
from dreamreel.engine.backbones import BackboneError
from dreamreel.engine.objectives import Objective, as_objective, parse_layers

from conftest import TUBINGEN

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DREAM = ["--size", "64", "--steps", "1", "--octaves", "1"]
VIDEO = ["--width", "64", "--max-frames", "4", "--octaves", "1", "--steps", "1", "--refine-steps", "1"]


def one_line(text: str) -> bool:
    return len(text.splitlines()) == 1


def error_line(err: str) -> str:
    """The one line a user mistake prints (and nothing else on stderr)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# ============================================================================ text: schedules


@contextlib.contextmanager
def no_code_run():
    """The text never becomes code: eval / exec may only run code read from a module file (a lazy
    import of the standard library, such as a codec's), compile may otherwise only parse (ast.parse)."""
    real_compile, real_eval, real_exec = builtins.compile, builtins.eval, builtins.exec

    def from_a_file(run):
        def guarded(code, *args, **kwargs):
            if not (isinstance(code, types.CodeType) and os.path.isfile(code.co_filename)):
                raise AssertionError("code was run")
            return run(code, *args, **kwargs)
        return guarded

    def parse_only(source, filename, mode, flags=0, *args, **kwargs):
        if not (flags & ast.PyCF_ONLY_AST or os.path.isfile(filename)):
            raise AssertionError("code was compiled")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    builtins.eval, builtins.exec, builtins.compile = from_a_file(real_eval), from_a_file(real_exec), parse_only
    try:
        yield
    finally:
        builtins.compile, builtins.eval, builtins.exec = real_compile, real_eval, real_exec


MARKER = Path("/tmp") / "dreamreel-schedule-code-was-run"  # what the payloads below would create
PAYLOADS = [f"__import__('os').system('touch {MARKER}')", f"open('{MARKER}', 'w')",
            f"exec(\"open('{MARKER}', 'w')\")", f"eval(\"open('{MARKER}','w')\")",
            "().__class__.__base__.__subclasses__()", "(lambda: 1)()", "[t for t in (1,)]", "f'{t}'",
            "t.__class__", "globals()", "breakpoint()"]
TOKENS = ["0", "1", "12", "3.5", "1e308", "1e-9", "9" * 30, ":", "(", ")", ",", " ", "t", "max_f", "pi", "e",
          "+", "-", "*", "/", "%", "**", "sin(", "cos(", "sqrt(", "exp(", "floor(", "min(", "max(", "abs(",
          "1/0", "t%0", "\n", "\x0c", "\u2028", "\x00", "é", "'", '"', "[", "]", "{", "}", "=", "==", "if", "else",
          "lambda", "import", ";", ".", "_", "True", "None", "1j", "0x1F", "1_000", "\\", *PAYLOADS]
schedule_texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(TOKENS), max_size=14).map("".join),
    st.builds(lambda f, body: f"{f}:({body})", st.integers(0, 300),
              st.lists(st.sampled_from(TOKENS), max_size=10).map("".join)),
)


@FUZZ
@given(schedule_texts)
@example("0:(1/(t-3))")  # a division by zero at frame 3 only
@example("0:(" + "-" * 900 + "t)")  # nested deeper than a render's stack allows
@example("0:(" + "9" * 5000 + ")")  # more digits than Python converts
@example("0:(floor(1e308)*floor(1e308))")  # a giant integer that is no float
@example("0:(t)\x0c5:(1)")  # a form feed: a line break on some terminals
@example("0:(sqrt(-1))")
@example("²:(1)")  # a digit to str.isdigit(), not to int()
@example("9" * 5000 + ":(1)")
@example("\ud7fc")  # shown escaped: the first use of a codec (an import, not the text run)
@example(PAYLOADS[0])
def test_any_schedule_text_parses_or_is_one_line_with_its_position(text):
    with no_code_run(), warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be a second line on the console
        try:
            s = parse_schedule(text, name="zoom")
            values = s.values(5) + [s(2.5, 5)]
        except ScheduleError as e:
            msg = str(e)
            assert one_line(msg) and msg.startswith("zoom: ") and f"at position {e.position} in " in msg, msg
            assert 0 <= e.position <= len(text)
            return
    assert all(isinstance(v, float) and np.isfinite(v) for v in values)


def test_the_payloads_were_never_run():
    """(After the fuzzing above, in the same session: none of its payloads made the marker.)"""
    for text in PAYLOADS:
        with pytest.raises(ScheduleError):
            parse_schedule(f"0:({text})")
    assert not MARKER.exists()


# ============================================================================ text: objectives

LAYER_TOKENS = ["block6", "block9", "block1..block3", "block9..block2", "block", "stem", "head", "logits", "input",
                "..", ",", ":", ":0.5", ":-1", ":nan", ":inf", ":1e309", " ", "\n", "é", "\x00", "__class__",
                "9" * 30, "block99", "conv1_1"]
CHANNEL_TOKENS = ["0", "12", "1279", "1280", "-1", ",", " ", "1e3", "²", "٣", "x", "9" * 5000, "0x10", "+5"]
CLASS_TOKENS = ["jellyfish", "207", "-1", "1000", "²", "٣", "9" * 5000, " ", "_", "golden retriever", "jelly",
                "\x00", "é"]


def texts(tokens: list[str], n: int):
    """None, any short text, or a few of ``tokens`` run together."""
    return st.one_of(st.none(), st.text(max_size=2 * n), st.lists(st.sampled_from(tokens), max_size=n).map("".join))


layer_texts, channel_texts, class_texts = texts(LAYER_TOKENS, 6), texts(CHANNEL_TOKENS, 5), texts(CLASS_TOKENS, 3)


@FUZZ
@given(layers=layer_texts, channels=channel_texts, klass=class_texts)
@example(layers="block6:nan", channels=None, klass=None)
@example(layers="block6", channels="9" * 5000, klass=None)
@example(layers=None, channels=None, klass="²")
@example(layers=None, channels=None, klass="9" * 5000)
@example(layers="block6", channels=",", klass=None)
@example(layers="block6..logits", channels=None, klass=None)  # logits is a tap, not a place in the order
def test_any_objective_text_is_an_objective_or_one_backbone_error(lite0, layers, channels, klass):
    try:
        names, weights = parse_layers(lite0.spec, layers)
        assert names and all(np.isfinite(weights))
    except BackboneError as e:
        assert one_line(str(e)), str(e)
    try:
        obj = as_objective(lite0, layers, channels, klass)
    except BackboneError as e:
        assert one_line(str(e)), str(e)
        return
    assert isinstance(obj, Objective)


# ============================================================================ presets and zoom factors


@pytest.mark.parametrize("body, words", [
    ('frames = "many"', "frames must be a whole number (got 'many')"),
    ("frames = 2.5", "frames must be a whole number (got 2.5)"),
    ("layers = 5", "layers must be text (in quotes) (got 5)"),
    ('octave_scale = "big"', "octave_scale must be a number (got 'big')"),
    ("jitter = 2.5", "jitter must be a whole number"),
    ("cadence = true", "cadence must be a whole number (got True)"),
    ("zoom = [1, 2]", "zoom must be a number or a schedule string"),
    ("smooth = {a = 1}", "smooth must be a number"),
    ('crf = "a"', "crf must be a whole number"),
    ("border = 3", "border must be text"),
    ("bogus = 1", "unknown key 'bogus'"),
    ("zoom = 0", "the zoom factor must be > 0"),
    ('zoom = "0:(1), 10:(-1)"', "got 0 at frame 5"),
    ('zoom = "0:(1/(t-3))"', "division by zero at frame 3"),
    ("zoom = ", "preset"),  # not TOML at all
])
def test_a_preset_of_the_wrong_kind_is_one_line(run_cli, tmp_path, body, words):
    preset = tmp_path / "mine.toml"
    preset.write_text(body + "\n")
    code, _, err = run_cli("zoom", TUBINGEN, "-o", tmp_path / "z.mp4", "--preset", preset, "--size", 64)
    line = error_line(err)
    assert code == 2 and words in line, line
    assert not (tmp_path / "z.mp4").exists() and not (tmp_path / "z_frames").exists()


def test_a_preset_number_where_a_schedule_goes_is_fine(tmp_path):
    from dreamreel.animator.request.configs import zoom_config

    preset = tmp_path / "mine.toml"
    preset.write_text('zoom = 3\nclass = 207\nchannels = 12\nlayers = "block6"\n')
    cfg = zoom_config({"image": str(TUBINGEN), "mp4": str(tmp_path / "z.mp4")}, str(preset))
    assert cfg.zoom == "3" and cfg.schedule("zoom")(7) == 3.0 and cfg.target.klass == 207


@pytest.mark.parametrize("zoom, value, frame", [("0:(0)", "0", 0), ("0:(-1)", "-1", 0), ("0:(1), 4:(-1)", "0", 2),
                                                ("0:(1 - t/4)", "0", 4)])
def test_a_zoom_factor_that_reaches_zero_is_one_line_naming_value_and_frame(run_cli, tmp_path, zoom, value, frame):
    code, _, err = run_cli("zoom", TUBINGEN, "-o", tmp_path / "z.mp4", "--zoom", zoom, "--frames", 8, "--size", 64)
    line = error_line(err)
    assert code == 2 and line == (f'error: zoom: the zoom factor must be > 0 (1 = none, 1.02 = in, 0.98 = out), '
                                  f'got {value} at frame {frame} in "{zoom}"')


# ============================================================================ pictures


def gradient(h: int = 96, w: int = 128) -> np.ndarray:
    """An RGB picture whose every pixel differs from its neighbours and whose corners all differ."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + 2 * y) * 255 // max(w + 2 * h - 3, 1)],
                    2).astype(np.uint8)


def save_exif(img: Image.Image, path: Path, orientation: int, **kw) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, exif=exif, **kw)
    return path


def animated_gif(path: Path, n: int = 5, durations=100, size=(96, 128)) -> list[np.ndarray]:
    frames = [np.roll(gradient(*size), 17 * i, axis=1) for i in range(n)]
    pics = [Image.fromarray(f) for f in frames]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=durations, loop=0)
    return frames


def truncated(path: Path, data: bytes) -> Path:
    path.write_bytes(data[: len(data) // 2])
    return path


def encoded(ext: str, arr: np.ndarray, **kw) -> bytes:
    buf = __import__("io").BytesIO()
    Image.fromarray(arr).save(buf, format=ext, **kw)
    return buf.getvalue()


A = gradient()
# name -> (make the file in a folder, expected (width, height) of a --size 64 dream or the words of its one line)
PICTURES = {
    "1x1.png": (lambda d: Image.fromarray(A[:1, :1]).save(d / "1x1.png"), (64, 64)),
    "16x16.png": (lambda d: Image.fromarray(A[:16, :16]).save(d / "16x16.png"), (64, 64)),
    "grey.png": (lambda d: Image.fromarray(A).convert("L").save(d / "grey.png"), (64, 48)),
    "grey_alpha.png": (lambda d: Image.fromarray(A).convert("LA").save(d / "grey_alpha.png"), (64, 48)),
    "rgba.png": (lambda d: Image.fromarray(np.dstack([A, A[:, :, :1]])).save(d / "rgba.png"), (64, 48)),
    "palette.png": (lambda d: Image.fromarray(A).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "palette.png"),
                    (64, 48)),
    "palette_transparent.png": (lambda d: Image.fromarray(A).convert("P", palette=Image.Palette.ADAPTIVE).save(
        d / "palette_transparent.png", transparency=0), (64, 48)),
    "16bit.png": (lambda d: cv2.imwrite(str(d / "16bit.png"), A[:, :, ::-1].astype(np.uint16) * 257), (64, 48)),
    "16bit_grey.png": (lambda d: cv2.imwrite(str(d / "16bit_grey.png"), A[:, :, 0].astype(np.uint16) * 257), (64, 48)),
    "cmyk.jpg": (lambda d: Image.fromarray(A).convert("CMYK").save(d / "cmyk.jpg"), (64, 48)),
    "exif_rotated.jpg": (lambda d: save_exif(Image.fromarray(A), d / "exif_rotated.jpg", 6), (48, 64)),
    "animated.gif": (lambda d: animated_gif(d / "animated.gif"), (64, 48)),
    "picture.tga": (lambda d: Image.fromarray(A).save(d / "picture.tga"), (64, 48)),  # OpenCV does not read TGA
    "truncated.jpg": (lambda d: truncated(d / "truncated.jpg", encoded("JPEG", A)),
                      "picture {} is truncated: the file ends before the picture does"),
    "truncated.png": (lambda d: truncated(d / "truncated.png", encoded("PNG", A)),
                      "picture {} is truncated: the file ends before the picture does"),
    "text.jpg": (lambda d: (d / "text.jpg").write_text("not a picture at all\n"),
                 "not an image (or a corrupt one): {}"),
    "empty.png": (lambda d: (d / "empty.png").write_bytes(b""), "{} is an empty file (0 bytes), not an image"),
}


@pytest.mark.parametrize("name", list(PICTURES))
def test_a_picture_dreams_or_is_one_line(run_cli, tmp_path, name):
    make, expected = PICTURES[name]
    make(tmp_path)
    src, out = tmp_path / name, tmp_path / "out.png"
    code, _, err = run_cli("dream", src, "-o", out, *DREAM)
    if isinstance(expected, str):
        assert code == 2 and error_line(err) == "error: " + expected.format(src)
        assert not out.exists()
    else:
        assert code == 0, err
        h, w = cv2.imread(str(out)).shape[:2]
        assert (w, h) == expected


def test_pictures_decode_to_what_they_hold(tmp_path):
    """Grey, alpha, palettes, 16 bits, CMYK and animations: the RGB a viewer shows (first frame)."""
    make = {name: PICTURES[name][0] for name in PICTURES}
    for name in ("grey.png", "grey_alpha.png", "rgba.png", "palette.png", "palette_transparent.png", "16bit.png",
                 "16bit_grey.png", "cmyk.jpg", "animated.gif", "picture.tga"):
        make[name](tmp_path)
    grey = np.asarray(Image.fromarray(A).convert("L"))
    assert np.array_equal(decode_image(tmp_path / "grey.png"), np.dstack([grey] * 3))
    assert np.array_equal(decode_image(tmp_path / "grey_alpha.png"), np.dstack([grey] * 3))
    assert np.array_equal(decode_image(tmp_path / "rgba.png"), A)  # alpha dropped
    for name in ("palette.png", "palette_transparent.png", "animated.gif"):
        assert np.array_equal(decode_image(tmp_path / name), np.asarray(Image.open(tmp_path / name).convert("RGB")))
    assert np.array_equal(decode_image(tmp_path / "16bit.png"), A)  # 257 * v -> v
    assert np.array_equal(decode_image(tmp_path / "16bit_grey.png"), np.dstack([A[:, :, 0]] * 3))
    cmyk = decode_image(tmp_path / "cmyk.jpg").astype(int)
    assert np.abs(cmyk - np.asarray(Image.open(tmp_path / "cmyk.jpg").convert("RGB"))).mean() < 2
    assert np.abs(cmyk - A).mean() < 3
    assert np.array_equal(decode_image(tmp_path / "picture.tga"), A)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_honoured_as_pillow_does(tmp_path, orientation):
    """All eight EXIF orientations turn the picture as Pillow's ImageOps.exif_transpose does (a
    lossless PNG: exactly; a JPEG: within its decoders' rounding)."""
    png = save_exif(Image.fromarray(A), tmp_path / "o.png", orientation)
    want = np.asarray(ImageOps.exif_transpose(Image.open(png)).convert("RGB"))
    assert np.array_equal(decode_image(png), want)
    jpg = save_exif(Image.fromarray(A), tmp_path / "o.jpg", orientation, quality=95)
    want = np.asarray(ImageOps.exif_transpose(Image.open(jpg)).convert("RGB")).astype(int)
    got = decode_image(jpg)
    assert got.shape == want.shape and np.abs(got - want).mean() < 2


def test_an_ordinary_picture_reads_exactly_as_before(tmp_path):
    """No orientation tag, under the size limits: OpenCV's pixels, untouched (what every render so far used)."""
    for name, data in (("a.png", encoded("PNG", A)), ("a.jpg", encoded("JPEG", A)), ("a.webp", encoded("WEBP", A))):
        (tmp_path / name).write_bytes(data)
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decode_image(tmp_path / name), cv2.cvtColor(raw, cv2.COLOR_BGR2RGB))


def test_a_huge_picture_is_shrunk_while_read_and_one_too_huge_is_one_line(run_cli, tmp_path, monkeypatch):
    """The limits, lowered so that small files cross them: a picture over LARGE_PIXELS is shrunk as it is
    read (to the size asked for; never a full-size float copy), one over MAX_PIXELS is refused
    before it is decoded."""
    monkeypatch.setattr(images, "LARGE_PIXELS", 4000)
    monkeypatch.setattr(images, "MAX_PIXELS", 20000)
    (tmp_path / "big.png").write_bytes(encoded("PNG", A))  # 12288 px: large, not too large
    small = read_image(tmp_path / "big.png", longest=40)
    assert small.shape == (1, 3, 30, 40)
    want = cv2.resize(A, (40, 30), interpolation=cv2.INTER_AREA)
    assert np.array_equal((small[0].permute(1, 2, 0) * 255).round().byte().numpy(), want)
    assert decode_image(tmp_path / "big.png").shape[0] * decode_image(tmp_path / "big.png").shape[1] <= 4000
    # a JPEG is shrunk by its decoder (1/2, 1/4, 1/8) first; turned afterwards
    save_exif(Image.fromarray(A), tmp_path / "big.jpg", 6, quality=95)
    got = decode_image(tmp_path / "big.jpg", longest=16)
    want = cv2.resize(np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "big.jpg"))), (12, 16),
                      interpolation=cv2.INTER_AREA)
    assert got.shape == (16, 12, 3) and np.abs(got.astype(int) - want).mean() < 6
    code, _, err = run_cli("dream", tmp_path / "big.png", "-o", tmp_path / "o.png", *DREAM)
    assert code == 0, err
    (tmp_path / "huge.png").write_bytes(encoded("PNG", gradient(150, 200)))
    code, _, err = run_cli("dream", tmp_path / "huge.png", "-o", tmp_path / "o2.png", *DREAM)
    assert code == 2 and error_line(err) == (f"error: picture {tmp_path / 'huge.png'} is 200x150 px (0.03 megapixels); "
                                             f"the limit is 0.02 megapixels: make it smaller first")


# ============================================================================ clips


def ffmpeg(*args) -> None:
    run_ffmpeg([str(a) for a in args])


def encode(path: Path, frames: list[np.ndarray], fps: float = 12, extra: tuple = ()) -> Path:
    """Frames as lossless H.264 (4:4:4, qp 0), so a reader's pixels can be compared with them."""
    h, w = frames[0].shape[:2]
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
                "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p", *extra, str(path)],
               frames=iter(frames))
    return path


def flat(level: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.full((h, w, 3), level, np.uint8)


def atoms(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Top-level MP4 boxes: name -> (offset, size)."""
    out, i = {}, 0
    while i + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[i : i + 8])
        out[name] = (i, size)
        if size < 8:
            break
        i += size
    return out


def vfr_clip(folder: Path, levels: list[int], seconds: list[float]) -> Path:
    """A variable-frame-rate clip: frame i is flat grey ``levels[i]``, shown ``seconds[i]``."""
    lines = []
    for i, (level, secs) in enumerate(zip(levels, seconds)):
        Image.fromarray(flat(level)).save(folder / f"f{i}.png")
        lines += [f"file 'f{i}.png'", f"duration {secs}"]
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    out = folder / "vfr.mp4"
    from dreamreel.animator.media.ffmpeg import fps_mode

    ffmpeg("-f", "concat", "-safe", "0", "-i", folder / "list.txt", *fps_mode("vfr"), "-c:v", "libx264",
           "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p", out)
    return out


def rotated_clip(folder: Path) -> tuple[Path, np.ndarray]:
    """A clip shown turned 90 degrees (counter-clockwise, as its display matrix says) and its stored frame."""
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:24, :32] = 255  # a bright top-left quarter
    plain = encode(folder / "plain.mp4", [frame] * 6)
    out = folder / "rotated.mp4"
    try:  # the display matrix (ffmpeg >= 6); older ffmpeg wrote the 'rotate' tag instead
        ffmpeg("-display_rotation", "90", "-i", plain, "-c", "copy", out)
    except Exception:
        ffmpeg("-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", out)
    return out, frame


def truncated_clip(folder: Path, faststart: bool) -> Path:
    """24 noisy frames, every one a keyframe; cut inside the third frame (with the index at the front),
    or anywhere (with the index at the end, which is then missing)."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(24)]
    whole = encode(folder / "whole.mp4", frames, extra=("-g", "1", *(("-movflags", "+faststart") if faststart else ())))
    data = whole.read_bytes()
    out = folder / ("cut.mp4" if faststart else "unfinished.mp4")
    if faststart:
        start, size = atoms(data)[b"mdat"]
        out.write_bytes(data[: start + 8 + int((size - 8) / 24 * 2.5)])
    else:
        out.write_bytes(data[: len(data) // 2])
    return out


def zero_frame_clip(folder: Path) -> Path:
    """An MP4 whose index announces 12 frames and whose data holds none."""
    whole = encode(folder / "whole.mp4", [flat(100)] * 12, extra=("-movflags", "+faststart"))
    data = whole.read_bytes()
    out = folder / "zero_frames.mp4"
    out.write_bytes(data[: atoms(data)[b"mdat"][0] + 8])
    return out


def video(run_cli, clip: Path, out: Path) -> tuple[int, str]:
    code, _, err = run_cli("video", clip, "--dream", "-o", out, *VIDEO)
    return code, err


def test_a_variable_frame_rate_clip_gives_each_frame_once(run_cli, tmp_path):
    levels = [20, 50, 80, 110, 140, 170, 200, 230]
    clip = vfr_clip(tmp_path, levels, [0.04, 0.04, 0.3, 0.04, 0.5, 0.1, 0.04, 0.2])
    # (it is variable: read at a constant rate, frames are repeated)
    assert sum(1 for _ in imageio_ffmpeg.read_frames(str(clip))) - 1 != len(levels)
    info = open_clip(str(clip))
    assert info.frames == len(levels)
    reader = ClipReader(info)
    got = [round(float(reader.frame(t).mean()) * 255) for t in range(info.frames)]
    reader.close()
    assert np.allclose(got, levels, atol=2), got
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, clip, out)
    assert code == 0, err
    assert probe_video(out)["frames"] == 4


def test_an_odd_sized_clip_renders_at_an_even_size(run_cli, tmp_path):
    clip = tmp_path / "odd.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=12:duration=1", "-vf", "scale=101:77", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv444p", clip)
    assert probe_video(clip)["width"] == 101
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, clip, out)
    got = probe_video(out)
    assert code == 0, err
    assert (got["frames"], got["width"], got["height"]) == (4, 64, 48)


def test_a_rotated_phone_clip_is_read_upright(run_cli, tmp_path):
    clip, stored = rotated_clip(tmp_path)
    info = open_clip(str(clip))
    assert (info.width, info.height) == (48, 64)  # shown portrait
    reader = ClipReader(info)
    frame = (reader.frame(0)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    reader.close()
    assert np.abs(frame.astype(int) - np.rot90(stored, 1)).mean() < 4  # turned as the display matrix says
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, clip, out)
    got = probe_video(out)
    assert code == 0, err
    assert (got["frames"], got["width"], got["height"]) == (4, 64, 86)
    assert "different from the source" not in err  # (imageio-ffmpeg's warning about the turned size)


def test_animated_gifs_are_clips_of_all_their_frames(run_cli, tmp_path):
    for name, durations in (("steady.gif", 100), ("no_delays.gif", 0), ("uneven.gif", [100, 500, 100, 1000, 100])):
        frames = animated_gif(tmp_path / name, n=5, durations=durations, size=(48, 64))
        info = open_clip(str(tmp_path / name))
        assert info.frames == 5, name
        reader = ClipReader(info)
        for t, want in enumerate(frames):
            got = (reader.frame(t)[0].permute(1, 2, 0) * 255).round().byte().numpy()
            assert np.abs(got.astype(int) - want).mean() < 4, (name, t)  # (the GIF's palette)
        reader.close()
    animated_gif(tmp_path / "three.gif", n=3, size=(48, 64))
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, tmp_path / "three.gif", out)
    assert code == 0, err
    assert probe_video(out)["frames"] == 3


def test_a_still_picture_as_a_clip_is_one_frame(run_cli, tmp_path):
    Image.fromarray(A).save(tmp_path / "still.png")
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, tmp_path / "still.png", out)
    got = probe_video(out)
    assert code == 0, err
    assert (got["frames"], got["width"], got["height"]) == (1, 64, 48)


def test_a_clip_truncated_in_the_middle_keeps_what_was_rendered(run_cli, tmp_path):
    clip = truncated_clip(tmp_path, faststart=True)
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, clip, out)
    line = error_line([ln for ln in err.splitlines() if "error:" in ln][0])
    assert code == 2 and line.startswith("error: the clip ends early: decoding stopped at frame "), err
    made = int(line.split("stopped at frame ")[1].split()[0])
    assert 1 <= made < 4
    assert len(list((tmp_path / "o_frames").glob("frame_*.png"))) == made
    assert probe_video(out)["frames"] == made  # the MP4 holds what was made, and plays


@pytest.mark.parametrize("name, make, words", [
    ("audio.mp4", lambda d: ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", d / "audio.mp4"),
     "{} has no video stream (only audio)"),
    ("zero_frames.mp4", zero_frame_clip, "the clip has no frames that decode: {}"),
    ("unfinished.mp4", lambda d: truncated_clip(d, faststart=False),
     "{} is truncated or was never finished: an MP4 without its index (the 'moov atom'), so no frame can be found"),
    ("empty.mp4", lambda d: (d / "empty.mp4").write_bytes(b""), "{} is an empty file (0 bytes), not a video"),
    ("text.mp4", lambda d: (d / "text.mp4").write_text("not a video\n"), "not a video (or a corrupt one): {}"),
])
def test_a_clip_that_cannot_be_read_is_one_line(run_cli, tmp_path, name, make, words):
    make(tmp_path)
    out = tmp_path / "o.mp4"
    code, err = video(run_cli, tmp_path / name, out)
    assert code == 2 and error_line(err) == "error: " + words.format(tmp_path / name)
    assert not out.exists()
