"""The one frame loop every mode runs in.

``scheduler``: ``FrameScheduler`` (cadence, seeds, colour coherence, resume, sinks, Ctrl-C, NaN checks), ``Source`` and
the ``Mode`` protocol; ``render``: the runner that wires it to progress, outputs and settings; ``writer``: the thread
that writes finished frames; ``color``: colour coherence; ``loop``: what a loop's MP4/GIF play; ``settings``:
settings.json; ``metrics``: a loop's steps and a clip's warping error.
"""
