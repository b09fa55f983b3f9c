"""MkDocs hook: docstrings use Sphinx roles (``:meth:`drain```); show them as plain code.

mkdocstrings renders the role's name as text before the code (":meth:drain"), which reads as
noise. The role adds nothing a reader of the API page needs, so it is dropped.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|mod|exc|obj|const):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return ROLE.sub("", html)
