"""dreamreel's animator: time and files. The folder is the map (docs/architecture.md draws it):

- ``errors``, ``progress``: what every room may use (one-line user errors, rich progress with an ETA)
- ``media/``: files in and out (pictures, PNG frame folders, ffmpeg, MP4, GIF, clips)
- ``request/``: what is asked (one frozen config per command, schedules) and what it resolves to (``resolve``)
- ``frameloop/``: the one frame loop (scheduler, render runner, writer thread, colour coherence, loops)
- ``modes/``: stills, zooms, recursive runs and progressions, style transfer of stills
- ``clips/``: a clip's render and its methods (dream, optimisation, keyframes, network), chosen by name
- ``cluster/``: Ray, and a clip split into frame ranges
- ``front/``: the commands and their one option declaration, batches, the studio
- ``cli``: the program's entry point

A request goes down through them once: ``LAYERS`` below, bottom up. A module imports only from its own unit or
a layer below; the units of one layer do not import each other (``tests/test_layers.py`` reads every import,
those inside functions too). Nothing is imported here.
"""

#: the project's layers, bottom up; each a tuple of units (module-name prefixes under ``dreamreel.``)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("engine",),
    ("presets",),
    ("animator.errors", "animator.progress"),
    ("animator.media",),
    ("animator.request",),
    ("animator.frameloop",),
    ("animator.modes", "animator.clips"),
    ("animator.cluster",),
    ("animator.front",),
    ("animator.cli",),
)
