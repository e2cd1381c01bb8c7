"""A clip's render and its methods.

``video``: ``render_video`` (a clip in one process); ``registry``: the methods by name (``method_for``); ``base``:
``ClipMethod`` (the steps every method has: ``prepare``, ``open``, its split rules) and ``Opened``; one module per
method: ``dream`` (``video --dream``), ``optimize``, ``keyframes`` (the default of ``video --style``), ``network``;
``cache``: where keyframes and networks are kept and their file keys.
"""
