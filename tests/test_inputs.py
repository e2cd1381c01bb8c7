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

import builtins
import contextlib
import ast
import struct
import subprocess
import warnings
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from PIL import Image, ImageOps

from dreamreel.animator.errors import SourceEnded, UserError
from dreamreel.animator.media import ClipReader, open_clip
from dreamreel.animator.media import images
from dreamreel.animator.media.ffmpeg import probe_video, run_ffmpeg
from dreamreel.animator.media.images import decode_image, read_image
from dreamreel.animator.schedule import ScheduleError, parse_schedule
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
    """eval / exec fail the test, and compile may only parse (``ast.parse``), never make code."""
    real_compile = builtins.compile

    def refuse(*args, **kwargs):
        raise AssertionError("code was run")

    def parse_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError("code was compiled")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    saved = builtins.eval, builtins.exec
    builtins.eval, builtins.exec, builtins.compile = refuse, refuse, parse_only
    try:
        yield
    finally:
        builtins.eval, builtins.exec = saved
        builtins.compile = real_compile


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
layer_texts = st.one_of(st.none(), st.text(max_size=20), st.lists(st.sampled_from(LAYER_TOKENS), max_size=6).map("".join))
channel_texts = st.one_of(st.none(), st.text(max_size=10), st.lists(st.sampled_from(CHANNEL_TOKENS), max_size=5).map("".join))
class_texts = st.one_of(st.none(), st.text(max_size=12), st.lists(st.sampled_from(CLASS_TOKENS), max_size=3).map("".join))


@FUZZ
@given(layers=layer_texts, channels=channel_texts, klass=class_texts)
@example(layers="block6:nan", channels=None, klass=None)
@example(layers="block6", channels="9" * 5000, klass=None)
@example(layers=None, channels=None, klass="²")
@example(layers=None, channels=None, klass="9" * 5000)
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
    from dreamreel.animator.configs import zoom_config

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
