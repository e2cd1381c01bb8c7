"""Long renders: memory, open files and ffmpeg processes over a 1000-frame zoom and a 500-frame
video dream, and their outputs read back.

    python tests/benchmarks/bench_long.py [--zoom-frames 1000] [--video-frames 500] [--skip-zoom] [--skip-video]

Each render runs as a ``dreamreel`` subprocess; this script polls ``/proc/PID`` every 50 ms and,
each time another 100 frames are on disk, records the process's resident memory (VmRSS), its
open file descriptors and its ffmpeg child processes. At the end: the MP4's frame count (decoded)
and the GIF's (parsed), audio where the source has it, and no ffmpeg process of the render left
running. Memory must be flat from frame 100 on (the figures are memory and counts, not seconds:
other work on the machine does not change them). Linux only (``/proc``).

1. zoom: samples/figures.jpg, 256 px, cadence 3, the classic-zoom preset, MP4 + GIF (128 px wide).
2. video dream: bigbuckbunny.mp4 from ../shared/media (132 frames, 1280x720, with audio) looped to
   500+ frames and cut to 320 px wide (else samples/bunny.mp4 looped), dreamed at --width 160.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
SHARED_BUNNY = REPO.parent / "shared" / "media" / "bigbuckbunny.mp4"
CLI = "import sys; from dreamreel.animator.cli import main; main(sys.argv[1:])"


def status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in MB from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    return out


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            out[int(entry.name)] = (ppid, name)
    return out


def ffmpeg_children(pid: int) -> list[int]:
    """ffmpeg processes descending from ``pid``."""
    procs = processes()
    family, found = {pid}, []
    grew = True
    while grew:
        grew = False
        for p, (ppid, _) in procs.items():
            if ppid in family and p not in family:
                family.add(p)
                grew = True
    return sorted(p for p in family if p != pid and procs[p][1].startswith("ffmpeg"))


def watch(args: list[str], frames_dir: Path, n: int, every: int = 100) -> dict:
    """Run ``dreamreel ARGS`` and sample it each time another ``every`` frames are on disk."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    log = tempfile.TemporaryFile()
    p = subprocess.Popen([sys.executable, "-c", CLI, *map(str, args)], stdout=log, stderr=log, env=env)
    marks = [1] + list(range(every, n + 1, every))
    if marks[-1] != n:
        marks.append(n)
    rows, seen_ffmpeg, hwm = [], set(), 0
    t0 = time.monotonic()
    while p.poll() is None:
        try:
            st = status(p.pid)
            hwm = max(hwm, st.get("VmHWM", 0))
            kids = ffmpeg_children(p.pid)
            seen_ffmpeg.update(kids)
            if marks and (frames_dir / f"frame_{marks[0] - 1:06d}.png").exists():
                fds = len(os.listdir(f"/proc/{p.pid}/fd"))
                rows.append({"frame": marks.pop(0), "rss": st["VmRSS"], "fds": fds, "ffmpeg": len(kids),
                             "seconds": time.monotonic() - t0})
        except (FileNotFoundError, ProcessLookupError, KeyError):
            pass
        time.sleep(0.05)
    log.seek(0)
    text = log.read().decode(errors="replace")
    time.sleep(0.5)
    left = [k for k in seen_ffmpeg if os.path.exists(f"/proc/{k}")]
    return {"rc": p.returncode, "rows": rows, "hwm": hwm, "ffmpeg_seen": len(seen_ffmpeg), "ffmpeg_left": left,
            "log": " ".join(text.split()).rpartition("wrote ")[2] or text.strip()[-300:]}


def report(title: str, r: dict, checks: list[tuple[str, bool, str]]) -> bool:
    print(f"\n{title}\n  exit {r['rc']}; wrote {r['log']}")
    print(f"{'frames':>7} {'RSS MB':>7} {'open fds':>9} {'ffmpeg':>7} {'elapsed s':>10}")
    for row in r["rows"]:
        print(f"{row['frame']:>7} {row['rss']:>7} {row['fds']:>9} {row['ffmpeg']:>7} {row['seconds']:>10.0f}")
    later = [row for row in r["rows"] if row["frame"] >= 100]
    ok = r["rc"] == 0
    if len(later) >= 2:
        rss = [row["rss"] for row in later]
        growth = rss[-1] - rss[0]
        flat = max(rss) - min(rss) <= max(16, 0.05 * rss[0])
        fds = [row["fds"] for row in later]
        # (+1 at most: a frame file being written when the sample is taken; the writer closes at the end)
        checks = [(f"memory flat from frame 100 (min {min(rss)}, max {max(rss)}, end - start {growth:+d} MB)", flat, ""),
                  (f"open fds do not grow from frame 100 ({fds[0]} -> {fds[-1]}, max {max(fds)})",
                   max(fds) <= fds[0] + 1 and fds[-1] <= fds[0], str(fds)), *checks]
    checks.append((f"no ffmpeg left running ({r['ffmpeg_seen']} started)", not r["ffmpeg_left"], str(r["ffmpeg_left"])))
    print(f"peak RSS (VmHWM) {r['hwm']} MB")
    for what, good, detail in checks:
        print(f"  [{'ok' if good else 'FAIL'}] {what}{'' if good or not detail else ': ' + detail}")
        ok &= good
    return ok


def bench_zoom(folder: Path, n: int) -> bool:
    from dreamreel.animator.media.ffmpeg import probe_video
    from helpers.gif_parse import gif_info

    mp4, gif = folder / "zoom.mp4", folder / "zoom.gif"
    args = ["zoom", REPO / "samples" / "figures.jpg", "-o", mp4, "--gif", gif, "--gif-width", 128, "--frames", n,
            "--size", 256, "--cadence", 3, "--preset", "classic-zoom"]
    r = watch(args, folder / "zoom_frames", n)
    got = probe_video(mp4) if mp4.exists() else {"frames": None}
    g = gif_info(gif) if gif.exists() else {"frames": None}
    return report(f"zoom: {n} frames, 256 px, cadence 3 (classic-zoom)", r, [
        (f"MP4 plays, {got['frames']} frames decoded", got["frames"] == n, ""),
        (f"GIF has {g['frames']} frames", g["frames"] == n, ""),
    ])


def looped_clip(folder: Path, n: int) -> Path:
    """A clip of at least ``n`` frames, with audio: bigbuckbunny (else samples/bunny.mp4) looped, 320 px wide."""
    from dreamreel.animator.media.ffmpeg import probe_video, run_ffmpeg

    src = SHARED_BUNNY if SHARED_BUNNY.exists() else REPO / "samples" / "bunny.mp4"
    loops = -(-n // probe_video(src)["frames"])
    out = folder / f"{src.stem}_x{loops}.mp4"
    run_ffmpeg(["-stream_loop", str(loops - 1), "-i", str(src), "-vf", "scale=320:-2", "-c:v", "libx264", "-crf", "20",
                "-c:a", "aac", str(out)])
    return out


def bench_video(folder: Path, n: int) -> bool:
    from dreamreel.animator.media.ffmpeg import probe_video

    clip = looped_clip(folder, n)
    info = probe_video(clip)
    out = folder / "dream.mp4"
    args = ["video", clip, "--dream", "-o", out, "--width", 160, "--max-frames", n]
    r = watch(args, folder / "dream_frames", n)
    got = probe_video(out) if out.exists() else {"frames": None, "has_audio": None}
    return report(f"video dream: {n} frames of {clip.name} ({info['frames']} frames, {info['width']}x{info['height']}), "
                  "--width 160", r, [
        (f"MP4 plays, {got['frames']} frames decoded", got["frames"] == n, ""),
        ("MP4 keeps the clip's audio", bool(got.get("has_audio")) == info["has_audio"], ""),
    ])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoom-frames", type=int, default=1000)
    ap.add_argument("--video-frames", type=int, default=500)
    ap.add_argument("--skip-zoom", action="store_true")
    ap.add_argument("--skip-video", action="store_true")
    ap.add_argument("--keep", help="render into this folder (kept) instead of a temporary one")
    a = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench_long-") as tmp:
        folder = Path(a.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not a.skip_zoom:
            ok &= bench_zoom(folder, a.zoom_frames)
        if not a.skip_video:
            ok &= bench_video(folder, a.video_frames)
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
