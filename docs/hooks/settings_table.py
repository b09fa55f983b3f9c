"""MkDocs hook: the settings reference is generated from ``django_restate/conf.py``.

``<!-- restate-settings -->`` in a page becomes a table of every key of ``DEFAULTS``, its default
and the comment written above it, so the reference cannot drift from the code. A key without a
comment fails the build: the comment is its documentation.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path
from typing import Any

MARKER = "<!-- restate-settings -->"
CONF = Path(__file__).resolve().parents[2] / "django_restate" / "conf.py"


def settings_rows(source: str) -> list[tuple[str, str, str]]:
    """(key, default as written, the comment lines above it) for each entry of ``DEFAULTS``."""
    tree = ast.parse(source)
    defaults = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign | ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in getattr(node, "targets", [node.target]))
    )
    assert isinstance(defaults, ast.Dict)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    rows = []
    for key, value in zip(defaults.keys, defaults.values, strict=True):
        assert isinstance(key, ast.Constant) and value is not None
        above, line = [], key.lineno - 1
        while line in comments:
            above.insert(0, comments[line])
            line -= 1
        if not above:
            raise ValueError(f"RESTATE[{key.value!r}] has no comment above it in {CONF}: write what it means there.")
        rows.append((key.value, ast.get_source_segment(source, value) or "", " ".join(above)))
    return rows


def settings_table(source: str) -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, meaning in settings_rows(source):
        escaped = meaning.replace("|", "\\|")
        lines.append(f"| `{key}` | `{default}` | {escaped} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, settings_table(CONF.read_text()))
