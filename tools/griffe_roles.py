"""A griffe extension (mkdocs.yml: the API page's ``extensions``): the sources' docstrings use Sphinx's roles
(``:func:`dream```, ``:class:`~.x.Y```); the page shows them as code, without the role."""
from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|data|attr|mod|exc|obj|const):`~?\.?([^`]+)`")


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(lambda m: f"``{m.group(1)}``", obj.docstring.value)
