"""The frame loop's writer thread: order, bounded waiting, errors raised in the loop, abort."""
from __future__ import annotations

import errno
import threading

import pytest

from dreamreel.animator.frameloop.writer import BackgroundWriter


def test_items_are_written_in_order_by_another_thread():
    done, threads = [], set()

    def write(i, text):
        threads.add(threading.get_ident())
        done.append((i, text))

    w = BackgroundWriter(write)
    for i in range(20):
        w.put(i, f"frame {i}")
    w.close()
    assert done == [(i, f"frame {i}") for i in range(20)]
    assert threads and threading.get_ident() not in threads


def test_at_most_depth_items_wait():
    gate, started, done = threading.Event(), threading.Event(), []

    def write(i):
        started.set()
        gate.wait(10)
        done.append(i)

    w = BackgroundWriter(write, depth=2)
    w.put(0)
    assert started.wait(10)  # 0 is being written (held at the gate); 1 and 2 wait in the queue
    w.put(1)
    w.put(2)
    blocked = threading.Thread(target=w.put, args=(3,), daemon=True)
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # a full queue holds the loop back
    gate.set()
    blocked.join(10)
    w.close()
    assert done == [0, 1, 2, 3]


def test_the_threads_error_is_raised_in_the_loop_and_nothing_after_it_is_written():
    done = []

    def write(i):
        if i == 2:
            raise OSError(errno.ENOSPC, "No space left on device", f"frame_{i}.png")
        done.append(i)

    w = BackgroundWriter(write)
    with pytest.raises(OSError) as e:
        for i in range(50):
            w.put(i)
        w.close()
    assert e.value.errno == errno.ENOSPC and e.value.filename == "frame_2.png"
    w.abort()
    assert done == [0, 1]


def test_abort_drops_what_waits_and_waits_for_the_item_being_written():
    gate, started, done = threading.Event(), threading.Event(), []

    def write(i):
        started.set()
        gate.wait(10)
        done.append(i)

    w = BackgroundWriter(write, depth=3)
    w.put(0)
    assert started.wait(10)
    w.put(1)
    w.put(2)
    threading.Timer(0.2, gate.set).start()
    w.abort()  # returns once 0 is written; 1 and 2 are dropped
    assert done == [0]
    w.abort()  # twice is harmless


def test_drain_writes_what_waits_and_keeps_the_threads_error_to_itself():
    done = []
    w = BackgroundWriter(done.append, depth=4)
    for i in range(4):
        w.put(i)
    w.drain()  # (the loop failed: its own error goes up, the frames finished before it are kept)
    assert done == [0, 1, 2, 3]

    def fail(i):
        raise OSError(errno.ENOSPC, "No space left on device")

    w = BackgroundWriter(fail)
    w.put(0)
    w.drain()  # does not raise
    with pytest.raises(OSError):
        w.close()


# ------------------------------------------------------------------ PNG frames by several threads (GPU renders)


def test_png_threads_write_every_frame_whole_and_raise_a_write_error():
    import time

    from dreamreel.animator.frameloop.writer import PngWriters

    done, lock = {}, threading.Lock()

    def write(t, png):
        time.sleep(0.02 * (t % 3))  # out of order on purpose
        with lock:
            done[t] = png

    pngs = PngWriters(write, threads=4)
    for t in range(20):
        pngs.put(t, f"frame {t}")
        assert len(pngs._pending) <= 8  # at most 2 x threads in flight
    pngs.finish()
    assert done == {t: f"frame {t}" for t in range(20)}

    def full_disk(t, png):
        if t == 5:
            raise OSError(errno.ENOSPC, "No space left on device")

    pngs = PngWriters(full_disk, threads=4)
    with pytest.raises(OSError, match="No space"):
        for t in range(20):
            pngs.put(t, None)
        pngs.finish()
    pngs.settle()


def test_a_zoom_with_png_threads_gives_the_frames_of_one_writer(lite0, tmp_path):
    """What a GPU render does (several PNG threads), on the CPU: the same frames, bit for bit, and a resume."""
    from test_zoom import make_mode

    from dreamreel.animator.media import FrameDir
    from dreamreel.animator.frameloop.scheduler import FrameScheduler, Sinks

    one, four = tmp_path / "one", tmp_path / "four"
    FrameScheduler(make_mode(lite0, 10), Sinks(frames_dir=str(one)), {"a": 1}, seed=3, png_threads=1).run()
    s = FrameScheduler(make_mode(lite0, 10), Sinks(frames_dir=str(four), mp4=str(tmp_path / "f.mp4")), {"a": 1},
                       seed=3, png_threads=4)
    assert s.run()["frames"] == 10
    assert FrameDir(four).count_complete() == 10
    assert all((one / f"frame_{i:06d}.png").read_bytes() == (four / f"frame_{i:06d}.png").read_bytes()
               for i in range(10))
    for i in range(6, 10):
        (four / f"frame_{i:06d}.png").unlink()
    r = FrameScheduler(make_mode(lite0, 10), Sinks(frames_dir=str(four)), {"a": 1}, seed=3, png_threads=4,
                       resume=True).run()
    assert r["resumed_from"] == 6
    assert all((one / f"frame_{i:06d}.png").read_bytes() == (four / f"frame_{i:06d}.png").read_bytes()
               for i in range(10))
