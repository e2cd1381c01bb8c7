"""dreamreel's animator: time and files (config, schedules, the frame scheduler, sources, sinks, CLI)."""
# OpenMP threads that spin while they wait make torch many times slower as soon as anything else
# runs on the machine (ffmpeg encoding our own MP4, another job): the same dream took 0.5 s with
# passive waiting and 1.5-14 s with spinning on 2 busy cores. It must be set before torch loads;
# a value the user set wins.
import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
