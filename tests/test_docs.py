"""The docs say what the code does: the settings and checks reference matches ``conf.DEFAULTS`` and
``checks.py``, and every file, link and nav entry the README and the docs name exists.

``mkdocs build --strict`` (run by scripts/test) checks the links inside the site; these tests
cover what it cannot see: the README, and paths into the repository outside ``docs/``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from django_restate.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHECK_ID = re.compile(r"django_restate\.[EW]\d{3}")


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under ``heading``, cells stripped."""
    section = markdown.split(heading, 1)[1]
    rows: list[list[str]] = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # the header row


def unquote(cell: str) -> str:
    assert cell.startswith("`") and cell.endswith("`"), cell
    return cell[1:-1]


def test_settings_table_is_conf_defaults() -> None:
    rows = table_rows((DOCS / "settings.md").read_text(), "## The `RESTATE` setting")
    documented = {unquote(key): ast.literal_eval(unquote(default)) for key, default, _ in rows}
    assert documented == DEFAULTS
    assert [unquote(key) for key, _, _ in rows] == list(DEFAULTS), "keep the table in conf.DEFAULTS' order"


def test_checks_table_is_checks_py() -> None:
    rows = table_rows((DOCS / "settings.md").read_text(), "## System checks")
    documented = [unquote(check_id) for check_id, _ in rows]
    in_code = sorted(set(CHECK_ID.findall((ROOT / "django_restate" / "checks.py").read_text())))
    assert documented == in_code


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


REPO_PATH = re.compile(r"`((?:tests|bench|django_restate|demo_project|scripts)/[\w./-]*)`")


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_named_repository_paths_exist(page: Path) -> None:
    """``tests/reliability/test_load.py`` in a page is a promise that the file is there."""
    missing = [path for path in REPO_PATH.findall(page.read_text()) if not (ROOT / path).exists()]
    assert not missing, f"{page.name} names files that do not exist: {missing}"


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"], ids=str)
def test_relative_links_outside_the_site_resolve(page: Path) -> None:
    targets = [t for t in LINK.findall(page.read_text()) if "://" not in t]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"


def test_readme_is_short_and_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "bash scripts/demo" in readme and "bash scripts/test" in readme
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()
