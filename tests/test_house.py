"""Properties of the house itself: what importing costs and changes, and the one resolve step."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dreamreel.animator.request.configs import Backend, ClipSpec, DreamConfig, Outputs, Picture, StyleSpec, VideoConfig, build
from dreamreel.animator.errors import UserError

from conftest import CLIP


def _python(code: str, env: dict | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_command_line_and_configs_import_without_torch():
    code = ("import sys; import dreamreel.animator.cli, dreamreel.animator.request.configs, dreamreel.engine; "
            "print(sorted(m for m in ('torch', 'cv2', 'numpy', 'torchvision') if m in sys.modules))")
    assert _python(code) == "[]"


def test_importing_the_engine_changes_no_process_state():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import os, dreamreel.engine; from dreamreel.engine import dream; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "None", out.stderr


def test_engine_names_load_on_first_use():
    code = ("import sys, dreamreel.engine as e; a = 'torch' in sys.modules; e.DreamParams; b = 'torch' in sys.modules; "
            "e.dream; print(a, b, 'torch' in sys.modules)")
    assert _python(code) == "False False True"


def test_a_bad_argument_fails_before_torch_loads(tmp_path):
    code = ("import sys\nfrom dreamreel.animator.cli import main\n"
            "try:\n    main(['zoom', 'x.jpg', '-o', 'z.mp4', '--zoom', '0:(1.0), 5 (2)'])\n"
            "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n")
    assert _python(code) == "2 False"


def test_settings_use_the_same_keys_in_every_command():
    still = build(DreamConfig, {"image": "a.png", "output": "b.png", "seed": 3, "model": "vgg16",
                                 "layers": "block6"}).as_settings()
    clip = build(VideoConfig, {"path": "c.mp4", "mp4": "o.mp4", "dream_clip": True, "seed": 3, "model": "vgg16",
                               "layers": "block6"}).as_settings()
    shared = ("model", "weights", "device", "seed", "layers", "channels", "class", "guide", "similarity")
    assert all(k in still and k in clip for k in shared)
    assert [still[k] for k in shared] == [clip[k] for k in shared]
    assert "resume" not in still and "resume" not in clip  # --resume is how, not what, is rendered


@pytest.mark.parametrize("config, message", [
    (VideoConfig(clip=ClipSpec(str(CLIP)), outputs=Outputs(mp4="o.mp4"), style_spec=StyleSpec(("x.jpg",))),
     "style image not found: x.jpg"),
    (VideoConfig(clip=ClipSpec(str(CLIP)), outputs=Outputs(mp4="o.mp4"), dream_clip=True, flow="magic"),
     "use one of dis, farneback, raft, raft_small, raft_large"),
    (DreamConfig(output="x.png", picture=Picture("noise"), backend=Backend(weights="nowhere.pth")),
     "weights file not found: nowhere.pth"),
    (DreamConfig(output="x.txt", picture=Picture("noise")), "must end in one of .png"),
    (DreamConfig(output="x.png", picture=Picture("missing.jpg")), "file not found: missing.jpg"),
    (VideoConfig(clip=ClipSpec("nope.mp4"), outputs=Outputs(mp4="o.mp4"), dream_clip=True), "file not found: nope.mp4"),
])
def test_configs_check_themselves_in_one_line(config, message):
    with pytest.raises(UserError, match=message):
        config.validate()


def test_zero_style_weight_is_one_rule_for_stills_and_clips(tmp_path):
    style = tmp_path / "s.png"
    style.write_bytes(b"")
    spec = StyleSpec((str(style), str(style)), style_weights="1,0")
    with pytest.raises(UserError, match="must all be > 0"):
        spec.validate()


def test_a_lite0_dream_does_not_load_torchvisions_model_zoo(tmp_path):
    code = ("import sys\nfrom dreamreel.animator.cli import main\n"
            f"try:\n    main(['dream', 'noise', '-o', r'{tmp_path / 'd.png'}', '--size', '64', '--steps', '1'])\n"
            "except SystemExit as e:\n    print(e.code, 'torchvision.models' in sys.modules)\n")
    assert _python(code) == "0 False"


def test_samples_hold_inputs_and_the_studio_offers_only_them(monkeypatch):
    """samples/ is what a user may dream or stylise; README's pictures live in docs/gallery/ and are not offered."""
    from conftest import REPO

    pytest.importorskip("gradio", reason="the studio extra is not installed: pip install '.[studio]'")
    from dreamreel.animator.front import studio
    from dreamreel.animator.front.studio import samples

    # (the repository's samples/: an installed copy of dreamreel, not an editable one, has none beside it)
    monkeypatch.setattr(studio, "SAMPLES", REPO / "samples")

    gallery = {p.name for p in (REPO / "docs" / "gallery").iterdir()}
    pictures, clips = samples("picture"), samples("clip")
    assert {"figures.jpg", "starry_night.jpg", "chelsea.png"} <= set(pictures) and clips == ["bunny.mp4"]
    assert gallery and not gallery & set(pictures + clips)
    assert {"zoom_strip.png", "studio.png", "clipstyle_sheet.png"} <= gallery
