"""A real browser (headless Debian Chromium) finds a Virtual Object's state in the admin,
edits it, and sees the new value. The screenshot lands in test-artifacts/."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests import browser as browsers
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE
from tests.browser import ARTIFACTS

notebooks = fixtures.notebooks
browser = browsers.browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_staff_finds_a_virtual_objects_state_edits_it_and_sees_the_new_value(
    notebooks, live_server, admin_user, browser
):
    key = notebooks.key("browser")
    notebooks.write(key, items={"apple": 2}, note="gift wrap")
    wait = WebDriverWait(browser, 20)

    # Log in through the admin's own login page.
    browser.get(f"{live_server.url}/admin/login/?next=/admin/django_restate/state/")
    browser.find_element(By.NAME, "username").send_keys(admin_user.username)
    browser.find_element(By.NAME, "password").send_keys("password")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    # Find the object by service and key prefix.
    wait.until(expected_conditions.presence_of_element_located((By.ID, "restate-state-search")))
    browser.find_element(By.NAME, "service").send_keys(SERVICE)
    browser.find_element(By.NAME, "key_prefix").send_keys(key[:-3])
    unfiltered = browser.find_element(By.ID, "restate-state-search")
    browser.find_element(By.CSS_SELECTOR, "#restate-state-search input[type=submit]").click()
    # The unfiltered list may show the key too: wait for the search's own page before clicking.
    wait.until(expected_conditions.staleness_of(unfiltered))
    wait.until(expected_conditions.element_to_be_clickable((By.LINK_TEXT, key))).click()

    # Edit the "items" entry.
    row = wait.until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "tr.restate-entry[data-key=items]"))
    )
    assert '"apple": 2' in row.find_element(By.CSS_SELECTOR, "pre.restate-value").text
    row.find_element(By.CSS_SELECTOR, "details.restate-edit summary").click()
    editor = row.find_element(By.NAME, "value")
    editor.clear()
    editor.send_keys('{"apple": 5, "pear": 1}')
    row.find_element(By.CSS_SELECTOR, "input[type=submit][value=Save]").click()

    # The page comes back with the new value, read from Restate.
    wait.until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "ul.messagelist"), "Saved"))
    value = browser.find_element(By.CSS_SELECTOR, "tr.restate-entry[data-key=items] pre.restate-value").text
    assert '"pear": 1' in value and '"apple": 5' in value
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "admin-state-edit.png"))
    assert notebooks.state(key) == {"items": b'{"apple": 5, "pear": 1}', "note": b'"gift wrap"'}
