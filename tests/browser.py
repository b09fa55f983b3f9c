"""Headless Debian Chromium for the browser tests, and where their screenshots go.

Test modules import the fixture they use (``from tests.browser import browser``). Wait for what
the next page positively shows (an element, a URL), never for the old page to go stale: some
chromedriver builds raise a WebDriverException instead of StaleElementReferenceException.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
        ):
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        driver.implicitly_wait(0)
        try:
            yield driver
        finally:
            driver.quit()


def log_in(browser: webdriver.Chrome, base_url: str, username: str, password: str, next_path: str = "/admin/") -> None:
    """Log in through the admin's own login page and wait for the page it leads to."""
    browser.get(f"{base_url}/admin/login/?next={next_path}")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "user-tools")))


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    """Save what the browser shows as test-artifacts/<name>.png, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
