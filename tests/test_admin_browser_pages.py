"""Headless Chromium through the admin pages added for issue 12: the invoke form (typed fields,
call and send), the journal timeline, restart as new, bulk actions on every match, the overview,
and the Order page with its Checkout workflow. Each page's screenshot lands in test-artifacts/.

Every wait is for something the next page positively shows (an element, a URL), never for the
old page to go stale."""

from __future__ import annotations

import uuid

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from demo_project.shop.models import Order, Product
from tests import browser as browsers
from tests.admin_app import fixtures
from tests.admin_app.fixtures import until_truthy
from tests.browser import element, log_in, next_page, screenshot, wait_for

notebooks = fixtures.notebooks
browser = browsers.browser
pytestmark = [pytest.mark.e2e, pytest.mark.browser]
ADMIN = "/admin/django_restate"


@pytest.fixture
def admin_browser(live_server, admin_user, browser):
    log_in(browser, live_server.url, admin_user.username, "password")
    browser.base = live_server.url
    return browser


def visit(browser, path: str, element_id: str):
    browser.get(browser.base + path)
    return element(browser, f"#{element_id}", url_has=path.split("?")[0])


def submit_and_wait(browser, button_id: str, element_id: str):
    """Submit, and wait for the page the form leads to (never the one it was on) to show ``element_id``."""
    return next_page(browser, f"#{button_id}", f"#{element_id}")


def test_invoke_form_with_typed_fields_calls_and_sends(notebooks, admin_browser):
    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    key = notebooks.key("cart")
    visit(admin_browser, f"{ADMIN}/registeredservice/Cart/add_item/invoke/?key={key}", "restate-invoke")
    quantity = admin_browser.find_element(By.NAME, "in_quantity")
    assert quantity.get_attribute("type") == "number" and quantity.get_attribute("max") == "1000"
    admin_browser.find_element(By.NAME, "in_sku").send_keys("tea")
    quantity.send_keys("2")
    result = submit_and_wait(admin_browser, "restate-invoke-submit", "restate-result")
    assert result.text.strip() == "2"
    assert admin_browser.find_element(By.ID, "restate-new-invocation").get_attribute("href")
    screenshot(admin_browser, "admin-invoke-call")

    # Send, with a delay: the page names the new invocation without waiting for it.
    admin_browser.find_element(By.NAME, "in_sku").send_keys("tea")
    admin_browser.find_element(By.NAME, "in_quantity").send_keys("1")
    admin_browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=send]").click()
    admin_browser.find_element(By.NAME, "delay").send_keys("3600")
    sent = submit_and_wait(admin_browser, "restate-invoke-submit", "restate-new-invocation")
    invocation_id = sent.text.strip()
    assert notebooks.wait_for_status(invocation_id, "scheduled")
    screenshot(admin_browser, "admin-invoke-send")
    notebooks.client.post(f"{ADMIN}/invocation/{invocation_id}/kill/", {"confirmed": "yes"})


def test_journal_timeline_and_restart_as_new(notebooks, admin_browser):
    key = notebooks.key()
    first = notebooks.send(key, "write", {"a": 1, "b": 2})
    notebooks.wait_for_status(first, "completed")
    visit(admin_browser, f"{ADMIN}/invocation/{first}/", "restate-timeline")
    kinds = [row.get_attribute("class") for row in admin_browser.find_elements(By.CSS_SELECTOR, "tr.restate-step")]
    assert any("restate-step-setstate" in k for k in kinds) and any("restate-step-output" in k for k in kinds)
    assert admin_browser.find_elements(By.CSS_SELECTOR, "#restate-timeline .restate-bar")
    screenshot(admin_browser, "admin-journal-timeline")

    choice = next_page(admin_browser, "#restate-action-restart", "#restate-restart-from")
    screenshot(admin_browser, "admin-restart-confirm")
    Select(choice).select_by_index(0)  # from the start
    next_page(admin_browser, "#restate-confirm", "#restate-status")
    wait_for(
        admin_browser,
        "the new invocation's page",
        lambda b: f"/invocation/{first}/" not in b.current_url and "/inv_" in b.current_url,
    )
    new_id = admin_browser.current_url.rstrip("/").rsplit("/", 1)[1]
    assert notebooks.wait_for_status(new_id, "completed")["target"] == f"AdminNotebook/{key}/write"
    screenshot(admin_browser, "admin-restarted")


def test_bulk_action_on_every_invocation_matching_the_filter(notebooks, admin_browser):
    key = notebooks.key()
    ids = [notebooks.send(key, "write", {"i": i}) for i in range(3)]
    for invocation_id in ids:
        notebooks.wait_for_status(invocation_id, "completed")
    visit(admin_browser, f"{ADMIN}/invocation/?key={key}", "restate-invocation-actions")
    Select(admin_browser.find_element(By.NAME, "action")).select_by_value("purge")
    admin_browser.find_element(By.ID, "restate-across").click()
    count = submit_and_wait(admin_browser, "restate-bulk-go", "restate-confirm-count")
    assert "all 3 invocations matching" in count.text
    screenshot(admin_browser, "admin-bulk-confirm")
    results = submit_and_wait(admin_browser, "restate-confirm", "restate-results")
    assert len(results.find_elements(By.CSS_SELECTOR, "tbody tr.restate-status-succeeded")) == 3
    screenshot(admin_browser, "admin-bulk-results")
    until_truthy(lambda: all(not notebooks.invocation(i) for i in ids))


def test_overview_shows_what_is_failing(notebooks, admin_browser):
    failing = notebooks.send(notebooks.key(), "stumble", "the printer is on fire")
    notebooks.wait_for_status(failing, "backing-off")
    failing_now = visit(admin_browser, f"{ADMIN}/overview/", "restate-failing")
    assert "the printer is on fire" in failing_now.text
    assert admin_browser.find_element(By.ID, "restate-per-status").text
    screenshot(admin_browser, "admin-overview")
    notebooks.client.post(f"{ADMIN}/invocation/{failing}/kill/", {"confirmed": "yes"})


def test_the_order_page_shows_its_checkout_workflow(notebooks, admin_browser):
    Product.objects.create(sku="tea", name="Tea", price="3.50", stock=10)
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    httpx.post(
        f"{notebooks.live.ingress_url}/Checkout/{order_id}/run/send", json={"customer": "ada", "items": {"tea": 1}}
    ).raise_for_status()
    until_truthy(lambda: notebooks.api.query(f"SELECT 1 FROM sys_promise WHERE service_key = '{order_id}'") or None)
    order = Order.objects.create(order_id=order_id, customer="ada", total="3.50")
    section = visit(admin_browser, f"/admin/shop/order/{order.pk}/change/", "restate-object")
    assert "approval" in section.find_element(By.ID, "restate-object-promises").text
    assert section.find_elements(By.CSS_SELECTOR, "#restate-object-invocations tbody tr")
    screenshot(admin_browser, "admin-order-with-checkout")
