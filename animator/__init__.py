"""dreamreel's animator: time and files (configs, resolving, schedules, the frame scheduler, media, CLI)."""
