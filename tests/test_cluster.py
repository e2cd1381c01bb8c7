"""Batches and split clips on Ray (``dreamreel batch``, ``video --workers``), and dreamreel without Ray.

The Ray tests start one local Ray (2 CPUs) for the module and skip, saying why, where Ray is not
installed (``pip install ".[test,cluster]"`` installs it). The tests of what happens without Ray
hide it, so they run either way.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import BUNNY, CLIP, REPO, STARRY, TUBINGEN

from dreamreel.animator.front import batch
from dreamreel.animator.errors import UserError
from dreamreel.animator.media import ClipReader, FrameDir, open_clip
from dreamreel.animator.media.ffmpeg import count_video_packets, probe_video
from dreamreel.animator.cluster.split import plan_ranges

INSTALL = 'pip install "dreamreel[cluster]"'


# --------------------------------------------------------------------------- without Ray


def hidden_ray(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``dreamreel ARGS`` in a process where ``import ray`` fails (as where it is not installed)."""
    code = "import sys; sys.modules['ray'] = None\nfrom dreamreel.animator.cli import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("extra", [["--workers", "2"], ["--address", "10.0.0.1:6379"]])
def test_video_split_without_ray_says_how_to_install(tmp_path, extra):
    p = hidden_ray("video", str(CLIP), "--dream", "-o", str(tmp_path / "o.mp4"), *extra)
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and INSTALL in lines[0], p.stderr
    assert not any(tmp_path.iterdir())


def test_batch_without_ray_says_how_to_install(tmp_path):
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[a]\ncommand = "dream"\nimage = "x.jpg"\noutput = "x.png"\n')
    p = hidden_ray("batch", str(jobs))
    assert p.returncode == 2 and INSTALL in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_only_cluster_imports_ray():
    """The core never imports Ray: only animator/cluster/ray_tasks.py names it, inside functions."""
    for path in [*REPO.glob("animator/**/*.py"), *REPO.glob("engine/**/*.py")]:
        text = path.read_text()
        imports = re.findall(r"^([ \t]*)(?:import ray\b|from ray\b)", text, flags=re.M)
        if path.name == "ray_tasks.py":
            assert imports and all(indent for indent in imports), "ray_tasks.py imports ray at module level"
        else:
            assert not imports, f"{path} imports ray"
    code = ("import sys, dreamreel.animator.cli, dreamreel.animator.front.batch, dreamreel.animator.cluster.split, "
            "dreamreel.animator.cluster.ray_tasks; assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------------------- jobs files (no Ray)


def jobs_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tubingen.jpg").write_bytes(TUBINGEN.read_bytes())
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return path


def test_a_grid_expands_with_distinct_outputs(tmp_path):
    (tmp_path / "b.jpg").write_bytes(TUBINGEN.read_bytes())
    path = jobs_file(tmp_path, """
[sweep]
command = "zoom"
images = ["tubingen.jpg", "b.jpg"]
preset = ["gentle", "drift"]
output = "out/z.mp4"
gif = "out/z.gif"
frames = 3
gpus = 1
cpus = 2

[still]
command = "dream"
image = "tubingen.jpg"
output = "still.png"
octave-scale = 1.3
""")
    jobs = batch.load_jobs(str(path))
    assert [j.name for j in jobs] == ["sweep_tubingen_gentle", "sweep_tubingen_drift", "sweep_b_gentle",
                                      "sweep_b_drift", "still"]
    assert jobs[1].argv[:2] == ("zoom", "tubingen.jpg") and "--preset" in jobs[1].argv
    assert jobs[1].outputs == (str(tmp_path / "out/z_tubingen_drift.mp4"), str(tmp_path / "out/z_tubingen_drift.gif"))
    assert jobs[1].marker == str(tmp_path / "out/z_tubingen_drift.settings.json")
    assert (jobs[0].cpus, jobs[0].gpus, jobs[4].cpus, jobs[4].gpus) == (2, 1, 1, 0)
    assert "--octave-scale" in jobs[4].argv and not any(batch.finished(j) for j in jobs)


def test_style_lists_are_a_grid_and_inner_lists_a_blend(tmp_path):
    (tmp_path / "s1.jpg").write_bytes(TUBINGEN.read_bytes())
    (tmp_path / "s2.jpg").write_bytes(TUBINGEN.read_bytes())
    path = jobs_file(tmp_path, """
[paint]
command = "stylize"
image = "tubingen.jpg"
style = ["s1.jpg", ["s1.jpg", "s2.jpg"]]
output = "p.png"
original-colors = true
""")
    jobs = batch.load_jobs(str(path))
    assert [j.name for j in jobs] == ["paint_s1", "paint_s1+s2"]
    assert jobs[1].argv.count("--style") == 2 and "--original-colors" in jobs[1].argv
    assert jobs[1].outputs == (str(tmp_path / "p_s1+s2.png"),)


@pytest.mark.parametrize("text, message", [
    ('[a]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "o.png"\nsizes = 3\n', "job a: dream has no option --sizes"),
    ('[a]\ncommand = "dreem"\n', "job a: unknown command 'dreem'"),
    ('[a]\ncommand = "dream"\nimage = "nope.jpg"\noutput = "o.png"\n', "job a: file not found: nope.jpg"),
    ('[a]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "o.png"\nsize = "big"\n', "job a: Invalid value"),
    ('[a]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "o.png"\nalpha = 2\n', "job a: --alpha must be in [0, 1] (got 2.0)"),
    ('[a\n', "not valid TOML"),
    ('[a]\ncommand = "zoom"\nimage = "tubingen.jpg"\noutput = "z.mp4"\npreset = ["gentle", "nope"]\n',
     "job a_nope: unknown preset 'nope'"),
    ('[a]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "o.png"\ncpus = -1\n', "job a: cpus must be"),
    ('[a]\ncommand = "video"\nclip = "c.mp4"\noutput = "o.mp4"\nworkers = 2\n', "job a: workers is an option of"),
    ('[a]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "o.png"\n'
     '[b]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "o.png"\n', "jobs a and b both write"),
])
def test_a_mistake_in_any_job_is_one_line_before_any_job_runs(tmp_path, run_cli, text, message):
    path = jobs_file(tmp_path, text)
    with pytest.raises(UserError, match=re.escape(message)):
        batch.load_jobs(str(path))
    if "ray" in sys.modules or _has_ray():  # through the command line: exit 2, one line, nothing written
        code, _, err = run_cli("batch", path)
        assert code == 2 and message in " ".join(err.split()) and len(err.strip().splitlines()) <= 2, err
        assert not (tmp_path / "jobs_logs").exists()


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def test_ranges_cover_the_clip_once_on_the_cadence():
    for n, parts, overlap, cadence in [(24, 2, 4, 1), (100, 3, 4, 1), (97, 4, 3, 2), (10, 8, 4, 1), (5, 3, 0, 1)]:
        ranges = plan_ranges(n, parts, overlap, cadence)
        assert ranges[0].start == 0 and ranges[-1].stop == n and len(ranges) <= parts
        assert all(a.stop == b.start for a, b in zip(ranges, ranges[1:]))
        assert all(r.start % cadence == 0 and r.first % cadence == 0 for r in ranges)
        assert all(r.stop - r.start > 2 * r.head for r in ranges)
        assert all(r.head >= overlap for r in ranges[1:]) and ranges[0].head == 0
    assert len(plan_ranges(10, 8, 4)) == 1  # too short to split with that overlap


# --------------------------------------------------------------------------- on a local Ray


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason='Ray is not installed (pip install ".[test,cluster]")')
    from ray import cloudpickle

    import helpers.split_modes

    cloudpickle.register_pickle_by_value(helpers.split_modes)  # the workers cannot import tests/helpers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_a_batch_with_a_failing_job_reports_it_and_a_rerun_skips_the_finished(tmp_path, ray_local, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    path = jobs_file(tmp_path, """
[one]
command = "dream"
image = "tubingen.jpg"
output = "out/one.png"
size = 64
octaves = 1
steps = 1

[two]
command = "dream"
images = ["tubingen.jpg", "broken.jpg"]
output = "out/two.png"
size = 64
octaves = 1
steps = 1
jitter = 4

[three]
command = "dream"
image = "tubingen.jpg"
output = "out/three.png"
size = 48
octaves = 1
steps = 1
""")
    assert batch.run_batch(str(path), retries=0) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 of 4 jobs failed (two_broken)" in err and "not an image" in err
    done = [tmp_path / "out" / f for f in ("one.png", "two_tubingen.png", "three.png")]
    assert all(p.is_file() and p.with_suffix(".settings.json").is_file() for p in done)
    assert not (tmp_path / "out" / "two_broken.png").exists()
    before = {p: (p.stat().st_mtime_ns, p.with_suffix(".settings.json").stat().st_mtime_ns) for p in done}
    logs = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "jobs_logs").iterdir()}
    assert batch.run_batch(str(path), retries=0) == 1  # the three are skipped, the broken one fails again
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("skipped (finished)") == 3 and "1 of 4 jobs failed" in err
    assert before == {p: (p.stat().st_mtime_ns, p.with_suffix(".settings.json").stat().st_mtime_ns) for p in done}
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "jobs_logs").iterdir()}
    assert [n for n in after if after[n] != logs[n]] == ["two_broken.log"]  # only it ran again


def one_process(factory, info, folder: Path, threads: int = 1) -> list[torch.Tensor]:
    """The frames of ``factory``'s mode over the whole clip, rendered in this process."""
    from dreamreel.animator.frameloop.scheduler import FrameScheduler, Sinks

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        opened = factory(info)
        FrameScheduler(opened.mode, Sinks(frames_dir=str(folder)), {}).run()
        opened.reader.close()
    finally:
        torch.set_num_threads(old)
    return [FrameDir(folder).read(t) for t in range(info.frames)]


def split_run(tmp_path: Path, args: list[str], factory=None, workers: int = 2, retries: int = 2) -> dict:
    from dreamreel.animator.request.configs import VideoConfig, build
    from dreamreel.animator.cluster.split import render_video_split

    values = dict(path=str(args[0]), mp4=str(tmp_path / "split.mp4"), **args[1])
    cfg = build(VideoConfig, values)
    return render_video_split(cfg, workers=workers, factory=factory, retries=retries)


def test_a_split_clip_of_an_overlap_1_mode_equals_one_process_bit_for_bit(tmp_path, ray_local):
    from helpers.split_modes import BlendFactory

    res = split_run(tmp_path, [BUNNY, dict(width=64, max_frames=30, dream_clip=True, gif=str(tmp_path / "s.gif"))],
                    factory=BlendFactory())
    info = open_clip(str(BUNNY), width=64, max_frames=30)
    assert [(r.start, r.stop, r.head) for r in res["ranges"]] == [(0, 15, 0), (15, 30, 1)]
    want = one_process(BlendFactory(), info, tmp_path / "one")
    got = FrameDir(tmp_path / "split_frames")
    assert got.count_complete() == 30 == len(want)
    assert all(torch.equal(got.read(t), want[t]) for t in range(30))
    assert count_video_packets(tmp_path / "split.mp4") == 30 and probe_video(tmp_path / "split.mp4")["has_audio"]
    assert (tmp_path / "s.gif").is_file() and not (tmp_path / "split.ranges").exists()
    settings = json.loads((tmp_path / "split.settings.json").read_text())
    assert settings["split"] == {"ranges": [[0, 15], [15, 30]], "overlap": 1, "seam": "discard"}


def test_a_worker_killed_mid_range_has_its_range_redone(tmp_path, ray_local):
    from helpers.split_modes import BlendFactory, KillOnce

    marker = tmp_path / "killed"
    res = split_run(tmp_path, [CLIP, dict(max_frames=20, width=64, dream_clip=True)],
                    factory=KillOnce(kill_at=15, marker=str(marker)))
    assert marker.is_file()  # the worker of the second range died at frame 15 ...
    info = open_clip(str(CLIP), width=64, max_frames=20)
    want = one_process(BlendFactory(), info, tmp_path / "one")
    got = FrameDir(tmp_path / "split_frames")  # ... and another redid the range: every frame, as one process makes it
    assert got.count_complete() == 20 and all(torch.equal(got.read(t), want[t]) for t in range(20))
    assert res["results"][1]["stepped"] < res["ranges"][1].rendered  # resumed from the frames it had made


def test_a_video_dream_split_over_2_workers_has_every_frame_and_crossfaded_seams(tmp_path, ray_local):
    """The video dream is recurrent: ranges overlap by 4 frames, cross-faded; same frame count as one process."""
    from dreamreel.animator.cluster.split import fade_weight

    res = split_run(tmp_path, [BUNNY, dict(width=64, max_frames=24, dream_clip=True, steps=1, octaves=1,
                                           refine_steps=1)])
    info = open_clip(str(BUNNY), width=64, max_frames=24)
    assert [(r.start, r.stop, r.head) for r in res["ranges"]] == [(0, 12, 0), (12, 24, 4)]
    frames = FrameDir(tmp_path / "split_frames")
    assert frames.count_complete() == info.frames == 24 == count_video_packets(tmp_path / "split.mp4")
    assert isinstance(res["results"][0]["settings"]["model"], str)
    x = torch.stack([frames.read(t) for t in range(24)])
    assert x.std() > 0.05 and all(f.std() > 0.05 for f in x)  # no blank frames
    assert fade_weight(0, 4) == 0.2 and fade_weight(3, 4) == 0.8


def test_a_job_asking_for_more_than_any_node_has_stops_the_batch_before_it_starts(tmp_path, ray_local):
    path = jobs_file(tmp_path, '[a]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "a.png"\n'
                               '[big]\ncommand = "dream"\nimage = "tubingen.jpg"\noutput = "b.png"\ngpus = 1\n')
    with pytest.raises(UserError, match=r"job big asks for 1 GPU; the largest node has 0"):
        batch.run_batch(str(path))
    assert not (tmp_path / "jobs_logs").exists()


def test_a_video_dream_of_independent_frames_split_over_2_workers_equals_one_process(tmp_path, ray_local):
    """--carry none: no overlap; the frames (each dreamed with its own frame's seed) are a one-process run's."""
    from dreamreel.animator.request.configs import VideoConfig, build
    from dreamreel.animator.clips.video import render_video

    dream = dict(width=64, max_frames=12, dream_clip=True, steps=1, octaves=1, carry="none", seed=3)
    res = split_run(tmp_path, [CLIP, dream])
    assert [(r.start, r.stop, r.head) for r in res["ranges"]] == [(0, 6, 0), (6, 12, 0)]
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: the same sums in the same order
    try:
        render_video(build(VideoConfig, dict(path=str(CLIP), mp4=str(tmp_path / "one.mp4"), **dream)))
    finally:
        torch.set_num_threads(old)
    got, want = FrameDir(tmp_path / "split_frames"), FrameDir(tmp_path / "one_frames")
    assert got.count_complete() == want.count_complete() == 12
    assert all(torch.equal(got.read(t), want.read(t)) for t in range(12))
    assert not torch.equal(got.read(0), got.read(6))


def test_the_network_method_split_over_2_workers_equals_one_process_bit_for_bit(tmp_path, ray_local, run_cli):
    """``video --method network --workers 2``: trained once in the driver, its weights handed to the
    workers; ranges start at multiples of --net-batch (the batches one process computes) and, with
    --net-blend, render the batch before their own to prime frame t-1's output. Then the same with
    --net. Every frame equals a one-process run's (1 torch thread, as each worker)."""
    from dreamreel.animator.request.configs import VideoConfig, build
    from dreamreel.animator.clips.video import render_video

    net = tmp_path / "net.pt"
    common = ["--width", 64, "--max-frames", 14, "--net-batch", 3, "--workers", 2, "--no-net-cache"]
    code, _, err = run_cli("video", BUNNY, "--style", STARRY, "--method", "network", "--train-iters", 3,
                           "--keyframes", 0, "--train-pairs", 4, "-o", tmp_path / "a.mp4", "--gif", tmp_path / "a.gif",
                           "--save-net", net, *common)
    assert code == 0, err
    assert "network trained: 3 iterations" in err and net.is_file()
    code, _, err = run_cli("video", BUNNY, "--net", net, "--net-blend", 0.5, "-o", tmp_path / "b.mp4", *common)
    assert code == 0, err
    assert "network trained" not in err
    for name, blend, ranges in (("a", 0.0, [(0, 6, 0), (6, 14, 0)]), ("b", 0.5, [(0, 6, 0), (6, 14, 3)])):
        settings = json.loads((tmp_path / f"{name}.settings.json").read_text())
        assert settings["split"]["ranges"] == [[a, b] for a, b, _ in ranges] and settings["network"]
        assert settings["split"]["overlap"] == ranges[1][2] and settings["split"]["seam"] == "discard"
        one = dict(path=str(BUNNY), mp4=str(tmp_path / f"{name}1.mp4"), width=64, max_frames=14, net_batch=3,
                   net=str(net), net_blend=blend)
        old = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the workers: the same sums in the same order
        try:
            render_video(build(VideoConfig, one))
        finally:
            torch.set_num_threads(old)
        got, want = FrameDir(tmp_path / f"{name}_frames"), FrameDir(tmp_path / f"{name}1_frames")
        assert got.count_complete() == want.count_complete() == 14 == count_video_packets(tmp_path / f"{name}.mp4")
        assert all(torch.equal(got.read(t), want.read(t)) for t in range(14)), name
        assert probe_video(tmp_path / f"{name}.mp4")["has_audio"] and not (tmp_path / f"{name}.ranges").exists()
    src = ClipReader(open_clip(str(BUNNY), width=64, max_frames=14))
    a, b = FrameDir(tmp_path / "a_frames"), FrameDir(tmp_path / "b_frames")
    assert float((a.read(7) - src.frame(7)).abs().mean()) > 0.005  # stylised, not the source
    assert not torch.equal(a.read(7), b.read(7))  # and the blend is in play
    assert (tmp_path / "a.gif").is_file()


def test_a_network_range_resumed_at_a_batch_start_with_the_blend_gives_the_same_frames():
    """A range redone after its worker died resumes at its first missing frame; at a batch's first
    frame, --net-blend still needs the previous batch (computed before this one, while the reader keeps it)."""
    from dreamreel.animator.clips.network import NetworkStyleMode
    from dreamreel.engine.style.network import StyleNet

    torch.manual_seed(0)
    net = StyleNet().eval()
    with torch.no_grad():
        net.out.weight.normal_(0, 0.05)
    info = open_clip(str(CLIP), width=64, max_frames=12)
    whole = NetworkStyleMode(net, ClipReader(info, keep=6), batch=4, blend=0.5)  # (keep: --net-batch + 2)
    frames = [whole.step(t, None, 0) for t in range(12)]
    reader = ClipReader(info, keep=6)
    resumed = NetworkStyleMode(net, reader, batch=4, blend=0.5)
    reader.frame(8)  # the scheduler asks for the source of the first missing frame first
    later = [resumed.step(t, None, 0) for t in range(8, 12)]
    assert all(torch.equal(a, b) for a, b in zip(frames[8:], later))
