"""dreamreel's animator: time and files (config, schedules, the frame scheduler, sources, sinks, CLI)."""
# the engine chooses OpenMP's waiting policy before torch loads (see dreamreel.engine)
import dreamreel.engine  # noqa: F401
