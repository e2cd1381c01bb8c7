"""dreamreel studio in a real browser (issue 24): headless Chromium (Debian's) driven by Playwright.

Skips, saying why, where the studio extra (gradio), Playwright or Chromium are not installed; CI installs
them (.ci/run). Screenshots go to tests/studio_screens/ (not committed): look at them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES

gradio = pytest.importorskip("gradio", reason="the studio extra is not installed: pip install '.[studio]'")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install '.[test]'")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no Chromium: apt-get install chromium (CI does)", allow_module_level=True)

SCREENS = REPO / "tests" / "studio_screens"
ZOOM = {"--frames": "12", "--size": "128", "--steps": "0:(1)", "--octaves": "0:(1)"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """The studio as a user starts it: ``dreamreel studio --port N --workdir W``."""
    work = tmp_path_factory.mktemp("studio")
    port = free_port()
    log = open(work / "studio.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "dreamreel.animator.cli", "studio", "--port", str(port),
                             "--workdir", str(work / "renders")], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "DREAMREEL_CACHE": str(work / "cache")})
    url = f"http://127.0.0.1:{port}/"
    end = time.monotonic() + 120
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, (work / "studio.log").read_text()
            time.sleep(0.5)
    yield url, work, proc
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def page(studio):
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        pg.goto(studio[0])
        pg.get_by_role("tab", name="zoom").click()
        yield pg
        browser.close()


def zoom_tab(page, command: str = "zoom"):
    return page.locator(f"#{command}-render").locator("xpath=ancestor::div[contains(@class,'tabitem')]").first


def fill(page, values: dict[str, str], command: str = "zoom") -> None:
    tab = zoom_tab(page, command)
    for label, value in values.items():
        if not tab.get_by_label(label).first.is_visible():  # in a closed panel: open them
            for panel in tab.locator("button.label-wrap").all():
                if panel.locator("span.icon[style*='rotate(90deg)']").count():
                    panel.click()
        box = tab.get_by_label(label).first  # (the label holds the option name, then its help)
        box.fill(value)
        box.press("Tab")


def open_panels(page, command: str = "zoom") -> None:
    for panel in zoom_tab(page, command).locator("button.label-wrap").all():
        if panel.locator("span.icon[style*='rotate(90deg)']").count():
            panel.click()


def field(page, name: str, command: str = "zoom") -> str:
    """What the field of option --NAME holds."""
    return page.locator(f"#{command}-{name} input, #{command}-{name} textarea").first.input_value()


def pick_preset(page, name: str) -> None:
    page.locator("#zoom-preset input").click()
    page.get_by_role("option", name=name, exact=True).first.click()


def test_a_zoom_from_the_preset_list_shows_its_values_renders_plays_in_the_page_and_equals_the_cli(
        page, studio, run_cli, tmp_path):
    url, work, proc = studio
    open_panels(page)
    assert field(page, "zoom") == "0:(1.025)" and field(page, "frames") == "240"  # journey's, the default look
    assert field(page, "model") == "efficientnet_lite0" and field(page, "border") == "reflect"
    pick_preset(page, "spiral")
    page.wait_for_function("document.querySelector('#zoom-angle input').value === '0:(1.0)'", timeout=30_000)
    assert field(page, "zoom") == "0:(1.02)" and field(page, "layers") == "block5,block8"
    assert field(page, "objective") == "" and field(page, "frames") == "240"  # (spiral has none: the zoom's)
    page.locator("#zoom-upload input[type=file]").set_input_files(str(SAMPLES / "figures.jpg"))
    fill(page, ZOOM)
    page.locator("#zoom-render").click()
    status = page.locator("#zoom-status")
    # a frame appears while the render is still going, and the schedules mark the frame being rendered
    seen_during, marked = False, set()
    end = time.monotonic() + 240
    while time.monotonic() < end:
        text = status.inner_text()
        now = page.locator("#zoom-schedules g.now")
        if now.count():
            marked.add(int(now.first.get_attribute("data-frame")))
        if text.startswith("frame ") and page.locator("#zoom-frame img").count():
            seen_during = True
            page.screenshot(path=str(SCREENS / "1-zoom-in-progress.png"))
        if text.startswith(("done", "error", "failed")):
            break
        time.sleep(0.2)
    assert seen_during, f"no frame shown before the render ended: {status.inner_text()}"
    assert len(marked) >= 2 and max(marked) > 0, marked  # the rule moved with the frames
    page.wait_for_function("document.querySelector('#zoom-status').innerText.startsWith('done')", timeout=240_000)
    assert proc.poll() is None

    # the MP4 plays in the page to its end; the GIF is shown
    page.locator("#zoom-video video").wait_for(timeout=30_000)
    ended = page.evaluate("""async () => {
        const v = document.querySelector('#zoom-video video');
        v.muted = true;
        const done = new Promise((ok, no) => { v.addEventListener('ended', () => ok(true), {once: true});
                                              setTimeout(() => no('no ended event in 30 s'), 30000); });
        await v.play();
        return await done && v.ended;
    }""")
    assert ended is True
    gif = page.locator("#zoom-gif img").first
    gif.wait_for(timeout=30_000)
    assert ".gif" in gif.get_attribute("src")
    page.wait_for_function("document.querySelector('#zoom-gif img').naturalWidth > 0", timeout=30_000)
    page.screenshot(path=str(SCREENS / "2-zoom-done.png"), full_page=True)

    # the MP4, downloaded from the page
    link = page.locator("#zoom-files a[download='out.mp4']").first
    with page.expect_download() as dl:
        link.click()
    mp4 = tmp_path / "downloaded.mp4"
    dl.value.save_as(mp4)
    from dreamreel.animator.media.ffmpeg import probe_video

    assert probe_video(mp4)["frames"] == 12

    # the same zoom from the command line with that preset: the same frames, hash for hash
    folder = sorted((work / "renders").glob("*-zoom"))[-1]
    settings = json.loads((folder / "out_frames" / "settings.json").read_text())
    assert settings["frames"] == 12 and settings["command"] == "zoom" and settings["preset"] == "spiral"
    args = ["zoom", SAMPLES / "figures.jpg", "-o", tmp_path / "cli.mp4", "--preset", "spiral"]
    for k, v in ZOOM.items():
        args += [k, v]
    code, _, err = run_cli(*args)
    assert code == 0, err

    def hashes(d: Path) -> list[str]:
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob("frame_*.png"))]

    studio_frames, cli_frames = hashes(folder / "out_frames"), hashes(tmp_path / "cli_frames")
    assert len(studio_frames) == 12 and studio_frames == cli_frames
    # the command line the page shows is the one that ran
    shown = page.locator("#zoom-line").inner_text()
    assert "dreamreel zoom" in shown and "--frames 12" in shown and "--preset spiral" in shown, shown


def test_the_schedules_have_a_legend_naming_them_in_their_colours(page):
    items = page.locator("#zoom-schedules .legend-item")
    names = [items.nth(k).get_attribute("data-name") for k in range(items.count())]
    assert names == ["zoom", "angle", "translation-x", "translation-y", "center-x", "center-y", "strength", "steps",
                     "octaves"]
    for name in names:
        item = page.locator(f"#zoom-schedules .legend-item[data-name='{name}']")
        assert item.text_content().strip() == name  # (the name written beside its swatch)
        swatch = item.locator("rect").get_attribute("fill")
        assert page.locator(f"#zoom-schedules polyline[data-name='{name}']").get_attribute("stroke") == swatch


def test_a_number_out_of_range_is_refused_with_its_message_and_nothing_renders(page, studio):
    url, work, proc = studio
    before = sorted(p.name for p in (work / "renders").iterdir())
    fill(page, {"--frames": "0"})
    page.locator("#zoom-render").click()
    status = page.locator("#zoom-status")
    status.filter(has_text="error").wait_for(timeout=30_000)
    line = status.inner_text().strip()
    assert line == "error: --frames must be >= 1 (got 0)", line
    assert page.locator("#zoom-status .status-error").count() == 1  # (red)
    assert sorted(p.name for p in (work / "renders").iterdir()) == before  # no render, no folder
    page.screenshot(path=str(SCREENS / "2a-out-of-range.png"))
    fill(page, {"--frames": "12"})


def test_stop_keeps_the_frames_so_far_and_resume_finishes_the_render(page, studio):
    url, work, proc = studio
    # 60 frames: at 36, with two test suites sharing the 2 cores, the render once ended before the Stop arrived
    fill(page, {"--frames": "60"})
    page.locator("#zoom-render").click()
    page.wait_for_function("/^frame ([3-9]|[1-9][0-9]) of 60/.test(document.querySelector('#zoom-status').innerText)",
                           timeout=120_000)
    page.locator("#zoom-stop").click()
    page.wait_for_function("document.querySelector('#zoom-status').innerText.startsWith('stopped')", timeout=60_000)
    folder = sorted((work / "renders").glob("*-zoom"))[-1]
    from dreamreel.animator.media import FrameDir
    from dreamreel.animator.media.ffmpeg import probe_video

    kept = FrameDir(folder / "out_frames").count_complete()
    assert 3 <= kept < 60 and probe_video(folder / "out.mp4")["frames"] == kept  # the MP4 of the frames so far
    page.screenshot(path=str(SCREENS / "2b-stopped.png"))
    page.locator("#zoom-resume").click()
    page.wait_for_function("document.querySelector('#zoom-status').innerText.startsWith('done')", timeout=240_000)
    assert FrameDir(folder / "out_frames").count_complete() == 60 and probe_video(folder / "out.mp4")["frames"] == 60
    fill(page, {"--frames": "12"})


def test_the_renders_list_reopens_an_earlier_render_and_survives_a_restart(page, studio):
    """Each render is a folder of the workdir with its render.json: the list under the tab reads them; a click
    reopens one (its result, its command line, its fields); a studio started again on the workdir lists them."""
    url, work, proc = studio
    page.reload()  # (a fresh page: journey's values in the fields)
    page.get_by_role("tab", name="zoom").click()
    rows = page.locator("#zoom-renders-list tbody tr")
    rows.first.wait_for(timeout=30_000)
    first = rows.filter(has_text="--frames 12").last  # the spiral of the first test (newest first)
    assert "#001" in first.inner_text() and "out.mp4" in first.inner_text()
    assert first.locator("img").count() == 1  # its thumbnail
    page.screenshot(path=str(SCREENS / "6-renders.png"), full_page=True)
    first.click()
    page.locator("#zoom-status").filter(has_text="reopened render #001").wait_for(timeout=30_000)
    line = page.locator("#zoom-line").inner_text()
    assert "--preset spiral" in line and "--frames 12" in line and "001-zoom/out.mp4" in line, line
    open_panels(page)
    assert field(page, "preset") == "spiral" and field(page, "frames") == "12" and field(page, "angle") == "0:(1.0)"
    assert field(page, "sample") == "" or field(page, "sample") == "figures.jpg"
    page.locator("#zoom-video video").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelector('#zoom-gif img') && "
                           "document.querySelector('#zoom-gif img').naturalWidth > 0", timeout=30_000)

    from dreamreel.animator.front.studio import Studio

    again = Studio(str(work / "renders")).renders("zoom")  # what a restarted studio lists
    assert [r.folder.name for r in again][-1] == "001-zoom" and "--preset spiral" in again[-1].command_line()


def test_a_malformed_schedule_shows_its_position(page):
    fill(page, {"--zoom": "0:(1.02), 10 (1.1)"})
    note = page.locator("#zoom-schedule-note")
    note.filter(has_text="position").wait_for(timeout=30_000)
    assert "position 13" in note.inner_text()
    page.screenshot(path=str(SCREENS / "3-schedule-error.png"))
    fill(page, {"--zoom": "0:(1.02), 6:(1.06)"})
    note.filter(has_text="schedules of").wait_for(timeout=30_000)


def test_a_preset_picked_from_the_list_fills_the_fields_and_draws_its_schedules(page):
    pick_preset(page, "tunnel")
    note = page.locator("#zoom-schedule-note")
    note.filter(has_text="preset tunnel").wait_for(timeout=30_000)
    assert field(page, "zoom") == "0:(1.06)" and field(page, "layers") == "block11"
    zoom = page.locator("#zoom-schedules .legend-item[data-name='zoom']")
    assert zoom.count() == 1


def test_a_song_draws_its_curves_under_the_schedules(page, tmp_path):
    """Issue 34: a schedule that reads the music is one line until a song is given; then the schedules are drawn
    over the song's frames and its curves under them."""
    sys.path.insert(0, str(REPO / "tests" / "helpers"))
    from drums import drum_wav

    drum_wav(tmp_path / "song.wav", 4.0, 120)
    fill(page, {"--zoom": "0:(1 + 0.1*beat)", "--frames": ""})  # (as long as the song)
    note = page.locator("#zoom-schedule-note")
    note.filter(has_text="is a music variable").wait_for(timeout=30_000)
    tab = zoom_tab(page)
    if not tab.locator("#zoom-audio").first.is_visible():  # in the closed Music panel: open the panels
        open_panels(page)
    page.locator("#zoom-audio input[type=file]").set_input_files(str(tmp_path / "song.wav"))
    note.filter(has_text="bpm").wait_for(timeout=60_000)
    text = note.inner_text()
    assert "schedules of 96 frames" in text and "bpm, 8 beats" in text, text
    page.screenshot(path=str(SCREENS / "5-song-curves.png"), full_page=True)
    page.reload()  # (the next tests start from an empty page)
    page.get_by_role("tab", name="zoom").wait_for(timeout=30_000)


def test_a_text_file_as_a_picture_is_one_line_and_the_studio_stays_up(page, studio, tmp_path):
    url, work, proc = studio
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    clear = page.locator("#zoom-upload button[aria-label*='lear']")  # the picture uploaded before
    if clear.count():
        clear.first.click()
    page.locator("#zoom-upload input[type=file]").set_input_files(str(text))
    page.locator("#zoom-render").click()
    status = page.locator("#zoom-status")
    status.filter(has_text="error").wait_for(timeout=60_000)
    line = status.inner_text().strip()
    assert len(line.splitlines()) == 1 and "not an image" in line, line
    page.screenshot(path=str(SCREENS / "4-not-a-picture.png"))
    assert proc.poll() is None
    page.reload()
    page.get_by_role("tab", name="zoom").wait_for(timeout=30_000)


def test_serving_beyond_this_machine_warns():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "dreamreel.animator.cli", "studio", "--host", "0.0.0.0", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200", "GRADIO_ANALYTICS_ENABLED": "False"})
    try:
        first = proc.stdout.readline()
        assert "warning" in first and "anyone who can reach port" in first, first
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_stop_while_a_clips_first_keyframe_is_painted_ends_the_render_in_seconds(page, studio):
    """Stop was one Ctrl-C, which the keyframe painting took as "go on with the keyframe as it is": a clip's render
    did not stop for minutes. Now Stop ends it in seconds, keeping the keyframe as far as it was painted."""
    url, work, proc = studio
    page.get_by_role("tab", name="video").click()
    page.locator("#video-upload input[type=file]").set_input_files(str(SAMPLES / "bunny.mp4"))
    page.locator("#video-style input[type=file]").set_input_files(str(SAMPLES / "starry_night.jpg"))
    fill(page, {"--width": "128", "--max-frames": "8", "--key-iters": "2000"}, "video")
    page.locator("#video-render").click()
    end = time.monotonic() + 120
    log = None
    while time.monotonic() < end:  # the render's process is painting the first keyframe (its log says so)
        folders = sorted((work / "renders").glob("*-video"))
        log = folders[-1] / "log.txt" if folders else None
        if log is not None and log.exists() and "method: keyframes" in log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    assert log is not None and "method: keyframes" in log.read_text(errors="replace")
    time.sleep(3)  # (well into the painting: 2000 iterations take minutes)
    page.locator("#video-stop").click()
    t0 = time.monotonic()
    page.wait_for_function("document.querySelector('#video-status').innerText.startsWith('stopping')",
                           timeout=5_000)
    page.wait_for_function("document.querySelector('#video-status').innerText.startsWith('stopped')", timeout=15_000)
    seconds = time.monotonic() - t0
    page.screenshot(path=str(SCREENS / "3-clip-stopped-while-painting.png"))
    text = page.locator("#video-status").inner_text()
    assert seconds <= 5, f"{seconds:.1f} s from Stop to stopped"
    assert "0 frames kept, Resume continues" in text and "keyframe 4 painted for" in text, text
    assert list((work / "cache").rglob("*.pt")) or "not kept" in text, text
    page.get_by_role("tab", name="zoom").click()


def test_the_fields_are_made_from_the_one_declaration_and_send_only_what_differs(tmp_path):
    """Numbers (a slider and a refusal where the option declares a range), the lists where the code checks them,
    and a command line that leaves out what equals the defaults (a zoom's: its preset's)."""
    import typer

    from dreamreel.animator.front import fields as F
    from dreamreel.animator.front.studio import Studio, _widget, command_params
    from dreamreel.animator.request.configs import BORDERS
    from dreamreel.engine.backbones import MODELS

    _, options = command_params("zoom")
    by = {p.name: p for p in options}
    assert F.choices(by["model"]) == tuple(MODELS) and F.choices(by["border"]) == BORDERS
    assert F.number_kind(by["frames"]) is int and F.number_kind(by["fps"]) is float
    assert F.number_kind(by["zoom"]) is None and F.choices(by["zoom"]) is None
    assert F.said_default(by["model"]) == "efficientnet_lite0"

    ranged = typer.Typer()

    @ranged.command()
    def one(n: int = typer.Option(3, min=1, max=9, help="A number.")):
        pass

    p = typer.main.get_command(ranged).params[0]
    assert F.out_of_range(p, 0) == "--n must be in [1, 9] (got 0)" and F.out_of_range(p, 9) is None
    assert isinstance(_widget(p, "one", 3), gradio.Slider)

    studio = Studio(str(tmp_path))
    base = F.preset_values("spiral")
    values = {**base, "frames": 24, "size": 256, "angle": "0:(2)"}
    render = studio.plan("zoom", str(SAMPLES / "figures.jpg"), values, options, base)
    assert render.argv[6:] == ["--preset", "spiral", "--frames", "24", "--size", "256", "--angle", "0:(2)"], render.argv
    _, dream = command_params("dream")
    render = studio.plan("dream", str(SAMPLES / "figures.jpg"), {"size": 512, "steps": 3, "model": ""}, dream)
    assert render.argv[4:] == ["--steps", "3"], render.argv
