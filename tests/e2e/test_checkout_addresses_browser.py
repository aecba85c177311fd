"""Saved addresses in a real browser with JavaScript off: a logged-in shopper's first checkout
keeps the address (the box is ticked for them), the next one starts filled in, a second saved
address is picked with a plain link, and the account page deletes one."""

import re

import pytest
from playwright.sync_api import expect

from app.services.accounts import signin
from tests.account_helpers import PASSWORD

from .conftest import LiveServer

pytestmark = pytest.mark.e2e

SHOPPER = "saver@example.com"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e-addresses"))
    session = server.app.extensions["holdfast.db"].session_factory()
    signin.register_user(session, SHOPPER, PASSWORD, name="Grace Hopper")
    session.close()
    yield server.url
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def _log_in(page, base: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(SHOPPER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def _to_checkout(page, base: str) -> None:
    page.goto(base + "/category/home-kitchen")
    page.locator(".card:not(:has(.tag-out)) .card-link").first.click()
    page.get_by_role("button", name="Add to cart").click()
    page.goto(base + "/checkout")


def _check_out(page, street: str, country: str) -> None:
    page.get_by_label("Address", exact=True).fill(street)
    page.get_by_label("City").fill("Arlington")
    page.get_by_label("State / region (optional)").fill("Virginia")
    page.get_by_label("Postal code").fill("22201")
    page.get_by_label("Country").select_option(country)
    page.get_by_label("Phone (optional)").fill("+1 (703) 555-0100")
    page.get_by_role("button", name="Reserve my items and review").click()
    page.wait_for_url(re.compile(r"/checkout/co_"))


def test_a_shopper_saves_reuses_picks_and_deletes_addresses(shop, page):
    _log_in(page, shop)
    _to_checkout(page, shop)
    expect(page.get_by_label("Email")).to_have_value(SHOPPER)
    expect(page.get_by_label("Full name")).to_have_value("Grace Hopper")
    expect(page.get_by_label("Country")).to_have_value("US")
    expect(page.get_by_label("Save this address to my account")).to_be_checked()
    _check_out(page, "1 Navy Yard", "US")
    expect(page.locator("main address")).to_contain_text("Virginia")
    expect(page.locator("main address")).to_contain_text("United States")

    _to_checkout(page, shop)
    expect(page.get_by_label("Address", exact=True)).to_have_value("1 Navy Yard")
    expect(page.get_by_label("Phone (optional)")).to_have_value("+1 (703) 555-0100")
    _check_out(page, "2 Harbour Road", "CA")

    _to_checkout(page, shop)  # two saved now: the default fills in, the other is a link
    expect(page.get_by_label("Address", exact=True)).to_have_value("1 Navy Yard")
    page.get_by_role("link", name=re.compile("2 Harbour Road")).click()
    expect(page.get_by_label("Address", exact=True)).to_have_value("2 Harbour Road")
    expect(page.get_by_label("Country")).to_have_value("CA")

    page.goto(shop + "/account")
    page.get_by_role("button", name="Delete the address 2 Harbour Road, Arlington").click()
    expect(page.get_by_text("Address deleted.")).to_be_visible()
    expect(page.locator("#addresses + ul")).not_to_contain_text("Harbour")
    expect(page.locator("#addresses + ul")).to_contain_text("1 Navy Yard")
