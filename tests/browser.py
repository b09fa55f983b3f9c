"""Headless Debian Chromium for the browser tests, how they wait, and where their screenshots go.

Test modules import the fixture they use (``from tests.browser import browser``). Wait with
:func:`wait_for` for what the next page positively shows (its URL, a result row, a message),
never for the old page to go stale: chromedriver 156 raises ``WebDriverException: unhandled
inspector error: Node with given id does not belong to the document`` instead of
``StaleElementReferenceException`` when an element's page is being replaced, so
``staleness_of`` fails at random. :func:`wait_for` treats every WebDriverException raised
while it checks as "not yet" (the page is changing under it) and says what it waited for.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT = 20.0
T = TypeVar("T")


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


def wait_for(
    browser: webdriver.Chrome, what: str, check: Callable[[webdriver.Chrome], T | None], timeout: float = WAIT
) -> T:
    """``check(browser)``'s first truthy answer; any WebDriverException while checking means "not yet"."""
    try:
        return WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,)).until(check)  # type: ignore[arg-type]
    except TimeoutException:
        raise AssertionError(f"waited {timeout:g}s for {what}; the browser is at {browser.current_url}") from None


def element(browser: webdriver.Chrome, css: str, *, url_has: str = "", text: str = "") -> WebElement:
    """Wait for the page whose URL contains ``url_has`` to show an element matching ``css`` (holding ``text``)."""

    def shown(driver: webdriver.Chrome) -> WebElement | None:
        if url_has not in driver.current_url:
            return None
        for found in driver.find_elements(By.CSS_SELECTOR, css):
            if found.is_displayed() and text in found.text:
                return found
        return None

    where = f" on a page at *{url_has}*" if url_has else ""
    return wait_for(browser, f"{css!r}{f' with {text!r}' if text else ''}{where}", shown)


def next_page(browser: webdriver.Chrome, click: str, css: str, *, text: str = "") -> WebElement:
    """Click the element ``click`` (a CSS selector) and wait for the page it leads to to show ``css``.

    The page being left is marked first, so an element of the same id on the old page (a form
    that posts back to itself) never counts: the wait is for a new document that shows ``css``.
    """
    browser.execute_script("document.documentElement.dataset.restateLeft = 'yes'")
    browser.find_element(By.CSS_SELECTOR, click).click()

    def arrived(driver: webdriver.Chrome) -> WebElement | None:
        fresh = driver.execute_script(
            "return !document.documentElement.dataset.restateLeft && document.readyState === 'complete'"
        )
        if not fresh:
            return None
        for found in driver.find_elements(By.CSS_SELECTOR, css):
            if found.is_displayed() and text in found.text:
                return found
        return None

    what = f"{css!r}{f' with {text!r}' if text else ''} on the page after clicking {click!r}"
    return wait_for(browser, what, arrived)


def log_in(browser: webdriver.Chrome, base_url: str, username: str, password: str, next_path: str = "/admin/") -> None:
    """Log in through the admin's own login page and wait for the page it leads to."""
    browser.get(f"{base_url}/admin/login/?next={next_path}")
    element(browser, "input[name=username]").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    element(browser, "#user-tools", url_has=next_path.split("?")[0])


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    """Save what the browser shows as test-artifacts/<name>.png, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
