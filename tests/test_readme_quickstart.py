"""The README's quickstart runs: its ``shop/tests.py`` passes against its ``shop/restate_services.py``
and ``shop/views.py``, in a project of their own (pytest in a subprocess, the mock, SQLite). The
docs' titled ``test_*.py`` examples pass too, against the demo shop with the test settings.

``tests/test_readme_typing.py`` checks that the same files type-check; this checks that what they
say happens does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme_typing import ROOT, examples, write_project

SETTINGS = """\
SECRET_KEY = "the README's quickstart, under test"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_restate",
    "django_restate.testing",
    "shop",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
ROOT_URLCONF = "quickstart_urls"
USE_TZ = True
"""


ON_SQLITE_ONLY = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="runs on SQLite of its own: the PostgreSQL pass would repeat it"
)


def run_pytest(directory: Path, files: list[str], settings: str, *paths: Path) -> str:
    """pytest on ``files`` in a process of its own, with ``settings``; its output when all of them pass."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT, *paths)),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(directory), *files],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@ON_SQLITE_ONLY
def test_readme_quickstart_tests_pass(tmp_path: Path) -> None:
    written = write_project(tmp_path, examples(ROOT / "README.md"))
    assert "shop/tests.py" in written, "the quickstart's shop/tests.py example was not found"
    (tmp_path / "quickstart_settings.py").write_text(SETTINGS)
    (tmp_path / "quickstart_urls.py").write_text("urlpatterns: list[object] = []\n")
    output = run_pytest(tmp_path, ["shop/tests.py"], "quickstart_settings", tmp_path)
    assert " passed" in output and "failed" not in output, output


DOC_TESTS = [
    (page, block)
    for page in sorted((ROOT / "docs").glob("*.md"))
    for block in examples(page, titled_only=True)
    if Path(block.path).name.startswith("test_")
]


@ON_SQLITE_ONLY
def test_docs_test_examples_pass(tmp_path: Path) -> None:
    """The docs' titled ``test_*.py`` examples are tests of the demo shop: they pass as written."""
    assert DOC_TESTS, "no titled test_*.py example in docs/: did the fences change?"
    names = []
    for page, block in DOC_TESTS:
        name = f"test_{page.stem.replace('-', '_')}_{Path(block.path).name.removeprefix('test_')}"
        (tmp_path / name).write_text(block.code)
        names.append(name)
    output = run_pytest(tmp_path, names, "tests.settings")
    assert f"{len(names)} passed" in output, output
