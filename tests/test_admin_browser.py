"""A real browser (headless Debian Chromium) finds a Virtual Object's state in the admin,
edits it, and sees the new value. The screenshot lands in test-artifacts/.

Every wait is for what the next page positively shows (its URL and a row or message on it),
through ``tests.browser.wait_for``; see that module for why never ``staleness_of``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By

from tests import browser as browsers
from tests.admin_app import fixtures
from tests.admin_app.fixtures import SERVICE
from tests.browser import element, log_in, screenshot

notebooks = fixtures.notebooks
browser = browsers.browser

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

STATE_LIST = "/admin/django_restate/state/"


def test_staff_finds_a_virtual_objects_state_edits_it_and_sees_the_new_value(
    notebooks, live_server, admin_user, browser
):
    key = notebooks.key("browser")
    notebooks.write(key, items={"apple": 2}, note="gift wrap")

    # Log in through the admin's own login page; it leads to the state list.
    log_in(browser, live_server.url, admin_user.username, "password", next_path=STATE_LIST)

    # Find the object by service and key prefix.
    element(browser, "#restate-state-search", url_has=STATE_LIST)
    browser.find_element(By.NAME, "service").send_keys(SERVICE)
    browser.find_element(By.NAME, "key_prefix").send_keys(key[:-3])
    browser.find_element(By.CSS_SELECTOR, "#restate-state-search input[type=submit]").click()
    # The unfiltered list may show the key too: click it on the search's own page (its URL says so).
    element(browser, "#result_list a", url_has=f"key_prefix={quote(key[:-3])}", text=key).click()

    # Edit the "items" entry.
    row = element(browser, "tr.restate-entry[data-key=items]", url_has="/state/instance/")
    assert '"apple": 2' in row.find_element(By.CSS_SELECTOR, "pre.restate-value").text
    row.find_element(By.CSS_SELECTOR, "details.restate-edit summary").click()
    editor = row.find_element(By.NAME, "value")
    editor.clear()
    editor.send_keys('{"apple": 5, "pear": 1}')
    row.find_element(By.CSS_SELECTOR, "input[type=submit][value=Save]").click()

    # The page comes back with the new value, read from Restate.
    element(browser, "ul.messagelist", url_has="/state/instance/", text="Saved")
    value = element(browser, "tr.restate-entry[data-key=items] pre.restate-value", text='"pear": 1').text
    assert '"pear": 1' in value and '"apple": 5' in value
    screenshot(browser, "admin-state-edit")
    assert notebooks.state(key) == {"items": b'{"apple": 5, "pear": 1}', "note": b'"gift wrap"'}
