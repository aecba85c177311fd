"""Browser tests: the app served on 127.0.0.1 by a real WSGI server in a thread, driven by
Playwright in Debian's chromium (never a downloaded browser)."""

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import migrate
from tests.conftest import make_test_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class LiveServer:
    """The demo shop served by a real threaded WSGI server on 127.0.0.1."""

    def __init__(self, tmp_path, **overrides) -> None:
        url = f"sqlite:///{tmp_path / 'shop.db'}"
        migrate.upgrade(url)
        self.app = make_test_app(url, **overrides)
        assert self.app.test_cli_runner().invoke(args=["demo", "seed"]).exit_code == 0
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.app.extensions["holdfast.db"].dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("e2e"))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/ensure_tools.sh"
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
