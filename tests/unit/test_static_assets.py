"""Fingerprinted static files (app/static_assets.py, ``flask holdfast build-static``): after a
build, pages link ``css/shop.<hash>.css`` and it is served as immutable; without one, nothing
changes. Each test works on a copy of a small static folder, never on app/static."""

from __future__ import annotations

import hashlib
import json

import pytest
from flask import Flask, render_template_string, url_for

from app import static_assets
from app.cli import production  # noqa: F401 - adds build-static to holdfast_group
from app.cli.holdfast import holdfast_group

CSS = b"body { color: #222; }\n"
JS = b"console.log('countdown');\n"


@pytest.fixture
def static_dir(tmp_path):
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "js").mkdir()
    (root / "css" / "shop.css").write_bytes(CSS)
    (root / "js" / "countdown.js").write_bytes(JS)
    (root / "favicon.svg").write_bytes(b"<svg/>")
    (root / "LICENSE").write_bytes(b"no extension: left alone")
    return root


def make_app(static_dir) -> Flask:
    app = Flask(__name__, static_folder=str(static_dir))
    static_assets.install(app)
    app.cli.add_command(holdfast_group)
    return app


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]


def test_without_a_build_urls_and_caching_are_unchanged(static_dir):
    app = make_app(static_dir)
    with app.test_request_context():
        assert url_for("static", filename="css/shop.css") == "/static/css/shop.css"
    answer = app.test_client().get("/static/css/shop.css")
    assert answer.status_code == 200
    assert "immutable" not in answer.headers.get("Cache-Control", "")


def test_a_build_writes_fingerprinted_copies_and_a_manifest(static_dir):
    report = static_assets.build(static_dir)

    css = f"css/shop.{digest(CSS)}.css"
    assert report.files["css/shop.css"] == css
    assert report.files["js/countdown.js"] == f"js/countdown.{digest(JS)}.js"
    assert "LICENSE" not in report.files
    assert (static_dir / css).read_bytes() == CSS
    assert json.loads((static_dir / "manifest.json").read_text()) == report.files
    assert report.written == 3
    # Built again, nothing is rewritten and the copies are not fingerprinted twice.
    again = static_assets.build(static_dir)
    assert again.files == report.files and again.written == 0


def test_after_a_build_pages_link_the_fingerprinted_names_served_as_immutable(static_dir):
    static_assets.build(static_dir)
    app = make_app(static_dir)
    css = f"/static/css/shop.{digest(CSS)}.css"
    with app.test_request_context():
        page = render_template_string(
            "<link rel=stylesheet href=\"{{ url_for('static', filename='css/shop.css') }}\">"
        )
        assert css in page
        assert url_for("static", filename="js/countdown.js").endswith(f".{digest(JS)}.js")
        assert url_for("static", filename="LICENSE") == "/static/LICENSE"

    client = app.test_client()
    answer = client.get(css)
    assert answer.status_code == 200 and answer.data == CSS
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    plain = client.get("/static/css/shop.css")  # the original name still answers
    assert plain.status_code == 200 and "immutable" not in plain.headers.get("Cache-Control", "")


def test_a_changed_file_gets_a_new_name_and_the_old_copy_goes(static_dir):
    old = static_assets.build(static_dir).files["css/shop.css"]
    (static_dir / "css" / "shop.css").write_bytes(b"body { color: #000; }\n")

    report = static_assets.build(static_dir)

    assert report.files["css/shop.css"] != old
    assert not (static_dir / old).exists()
    assert report.removed == 1


def test_the_cli_builds_and_cleans(static_dir):
    app = make_app(static_dir)
    runner = app.test_cli_runner()

    built = runner.invoke(args=["holdfast", "build-static"])
    assert built.exit_code == 0, built.output
    assert f"css/shop.css -> css/shop.{digest(CSS)}.css" in built.output
    assert (static_dir / "manifest.json").exists()

    cleaned = runner.invoke(args=["holdfast", "build-static", "--clean"])
    assert cleaned.exit_code == 0, cleaned.output
    assert not (static_dir / "manifest.json").exists()
    assert not list(static_dir.rglob("*.????????????.*"))
    assert (static_dir / "css" / "shop.css").read_bytes() == CSS


def test_a_manifest_naming_missing_or_odd_copies_is_not_trusted(static_dir):
    (static_dir / "manifest.json").write_text(
        json.dumps({"css/shop.css": "css/shop.0123456789ab.css", "favicon.svg": "../x"})
    )
    assert static_assets.load_manifest(static_dir) == {}
    (static_dir / "manifest.json").write_text("{not json")
    app = make_app(static_dir)
    with app.test_request_context():
        assert url_for("static", filename="css/shop.css") == "/static/css/shop.css"
