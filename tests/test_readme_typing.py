"""The README's Python examples type-check under ``mypy --strict``.

Each ```` ```python title="shop/views.py" ```` block is written to that path in a scratch project
(blocks without a title become modules of their own), and mypy checks them together, so the
quickstart's view imports the quickstart's handlers as a reader's project would. A block that
cannot be a module on its own is preceded by ``<!-- typing: skip -->``.

A page's examples in ``docs/`` are checked the same way when they carry a title, on top of the
README's files (so they may import ``shop.restate_services``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(
    r'^(?P<skip><!-- typing: skip -->\n)?```python(?: title="(?P<title>[^"]+)")?\n(?P<code>.*?)^```$',
    re.MULTILINE | re.DOTALL,
)
MYPY_INI = """\
[mypy]
strict = True
warn_unreachable = True
show_error_codes = True
cache_dir = {cache}
plugins = mypy_django_plugin.main

[mypy.plugins.django-stubs]
django_settings_module = "tests.settings"

[mypy-django_restate.*]
follow_imports = silent
"""


@dataclass
class Example:
    path: str  # where it goes in the scratch project
    code: str
    line: int  # where it starts in its page, for the failure message


def examples(page: Path, *, titled_only: bool = False) -> list[Example]:
    text = page.read_text()
    found = []
    for number, match in enumerate(FENCE.finditer(text)):
        if match["skip"] or (titled_only and not match["title"]):
            continue
        path = match["title"] or f"examples/{page.stem.lower()}_{number}.py"
        found.append(Example(path, match["code"], text.count("\n", 0, match.start("code")) + 1))
    return found


def write_project(directory: Path, blocks: list[Example]) -> dict[str, Example]:
    written = {}
    for block in blocks:
        target = directory / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        for package in target.relative_to(directory).parents:
            if package != Path("."):
                (directory / package / "__init__.py").touch()
        target.write_text(block.code)
        written[block.path] = block
    return written


def run_mypy(directory: Path, files: list[str]) -> subprocess.CompletedProcess[str]:
    cache = ROOT / ".mypy_cache" / "examples"
    (directory / "mypy.ini").write_text(MYPY_INI.format(cache=cache))
    # The django-stubs plugin, as a project would run it: it sets Django up with the test settings
    # (the demo shop's models, so that examples using them get their field types).
    env = {**os.environ, "MYPYPATH": str(ROOT), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", *files],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def explain(result: subprocess.CompletedProcess[str], page: Path, written: dict[str, Example]) -> str:
    """mypy's messages with the page's line numbers instead of the scratch file's."""
    lines = []
    for message in result.stdout.splitlines():
        match = re.match(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<rest>.*)$", message)
        if match and match["path"] in written:
            block = written[match["path"]]
            message = f"{page.name}:{block.line + int(match['line']) - 1} ({block.path}): {match['rest']}"
        lines.append(message)
    return "\n".join(lines) + result.stderr


def test_readme_examples_type_check(tmp_path: Path) -> None:
    readme = ROOT / "README.md"
    blocks = examples(readme)
    assert len(blocks) >= 4, "the quickstart's examples were not found: did the fences change?"
    written = write_project(tmp_path, blocks)
    result = run_mypy(tmp_path, sorted(written))
    if result.returncode:
        pytest.fail(explain(result, readme, written), pytrace=False)


DOC_PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if examples(p, titled_only=True))


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_docs_titled_examples_type_check(tmp_path: Path, page: Path) -> None:
    write_project(tmp_path, examples(ROOT / "README.md"))
    blocks = examples(page, titled_only=True)
    written = write_project(tmp_path, blocks)
    result = run_mypy(tmp_path, sorted(written))
    if result.returncode:
        pytest.fail(explain(result, page, written), pytrace=False)


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_every_docs_example_parses(page: Path) -> None:
    """Fragments (``left = await ctx.run_typed(...)``) cannot be type-checked alone, but they parse."""
    for block in examples(page):
        try:
            compile(block.code, block.path, "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as exc:
            pytest.fail(f"{page.name}:{block.line + (exc.lineno or 1) - 1}: {exc.msg}", pytrace=False)
