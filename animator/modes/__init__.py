"""The modes of pictures: ``still`` (dream), ``zoom``, ``stages`` (recursive runs and progressions), ``stylize`` (style
transfer of a picture, its progression GIF, a trained network's pass), ``sheet`` (contact sheets). Each: config ->
plan -> mode -> ``frameloop.render.run``."""
