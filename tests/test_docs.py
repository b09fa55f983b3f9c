"""The docs say what the code does: the settings and checks reference matches ``conf.DEFAULTS`` and
``checks.py``, and every file, link and nav entry the README and the docs name exists.

``mkdocs build --strict`` (run by scripts/test) checks the links inside the site; these tests
cover what it cannot see: the README, and paths into the repository outside ``docs/``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from django_restate.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHECK_ID = re.compile(r'id="(django_restate(?:_\w+)?\.[EW]\d{3})"')


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


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", DOCS / "hooks" / "settings_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_settings_table_is_conf_defaults() -> None:
    rows = load_hook().settings_rows((ROOT / "django_restate" / "conf.py").read_text())
    # Defaults are Python expressions as written (24 * 3600): evaluate them, nothing else in scope.
    assert {key: eval(default, {"__builtins__": {}}) for key, default, _ in rows} == DEFAULTS
    assert all(meaning for _, _, meaning in rows)


def test_a_setting_without_a_comment_fails_the_build() -> None:
    source = 'DEFAULTS: dict[str, Any] = {\n    # documented\n    "A": 1,\n    "B": 2,\n}\n'
    with pytest.raises(ValueError, match="RESTATE\\['B'\\] has no comment"):
        load_hook().settings_rows(source)


def test_checks_table_lists_every_check_id() -> None:
    rows = table_rows((DOCS / "settings.md").read_text(), "## System checks")
    documented = [unquote(check_id) for check_id, _ in rows]
    sources = sorted((ROOT / "django_restate").rglob("*.py"))
    in_code = sorted({check_id for path in sources for check_id in CHECK_ID.findall(path.read_text())})
    assert documented == in_code, "docs/settings.md: list every system check id in its table, in this order"


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
