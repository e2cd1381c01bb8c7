"""A request: what the user asked, checked, and what it resolves to.

``config_parts``/``configs``: one frozen config per command, built from shared parts, ``validate()`` (one line each)
and ``as_settings()``; torch-free. ``schedule``: Deforum-style schedules; ``objective_schedule``: a zoom's objective
keyframes. ``resolve``: the one place a request is resolved into a ``Plan`` (device, model, weights, pictures,
objective, a network file).
"""
