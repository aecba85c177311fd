"""Browser tests: the app served on 127.0.0.1 by a real WSGI server in a thread, driven by
Playwright in Debian's chromium (never a downloaded browser)."""

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import migrate
from tests.conftest import make_test_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e") / "shop.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    app = make_test_app(url)
    assert app.test_cli_runner().invoke(args=["demo", "seed"]).exit_code == 0
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["holdfast.db"].dispose()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/ensure_browser.sh"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
