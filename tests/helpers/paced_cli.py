"""The dreamreel command line, paced so that a test can stop it at a known point mid-render.

``python paced_cli.py PAUSE ARGS...``: the real command line, with a pause of PAUSE seconds after
each frame is written (a test sends SIGKILL or SIGINT while it sleeps after frame k).
``python paced_cli.py --kill-in-write N ARGS...``: the process kills itself (SIGKILL) in the middle
of writing frame N: its bytes are on disk under the temporary name, not yet renamed into place.
``python paced_cli.py --slow PHASE SECONDS MARKER ARGS...``: each iteration of PHASE (``paint``: a keyframe's
optimisation; ``train``: the network's training) takes SECONDS longer, and MARKER (a file) is made once the
phase has run 3 iterations: a test sends its signal then, knowing where the render is.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from dreamreel.animator.cli import main
from dreamreel.animator.media import atomic, frames


def pace(seconds: float) -> None:
    write = frames.FrameDir.write

    def write_then_wait(self, i, frame):
        path = write(self, i, frame)
        time.sleep(seconds)
        return path

    frames.FrameDir.write = write_then_wait


def kill_in_write(n: int) -> None:
    publish = atomic.publish
    name = frames.FrameDir.PATTERN.format(n)

    def publish_or_die(tmp, path):
        if os.path.basename(path) == name:
            os.kill(os.getpid(), signal.SIGKILL)
        publish(tmp, path)

    atomic.publish = publish_or_die


def slow(phase: str, seconds: float, marker: str) -> None:
    from dreamreel.engine.style import network, transfer

    count = {"n": 0}

    def tick():
        count["n"] += 1
        if count["n"] == 3:
            open(marker, "w").close()
        time.sleep(seconds)

    if phase == "paint":
        done = transfer.StyleTransfer._iteration_done

        def iteration_done(self, *a, **kw):
            done(self, *a, **kw)
            tick()

        transfer.StyleTransfer._iteration_done = iteration_done
    elif phase == "train":
        loss = network.NetTrainer.loss

        def slow_loss(self):
            tick()
            return loss(self)

        network.NetTrainer.loss = slow_loss
    else:
        raise SystemExit(f"unknown phase {phase}")


if __name__ == "__main__":
    # Ctrl-C as in a terminal, however the suite was started: a background job of a non-interactive shell
    # (`.ci/run &`) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = sys.argv[1:]
    if args[0] == "--kill-in-write":
        kill_in_write(int(args[1]))
        args = args[2:]
    elif args[0] == "--slow":
        slow(args[1], float(args[2]), args[3])
        args = args[4:]
    else:
        pace(float(args[0]))
        args = args[1:]
    main(args)
