"""Public catalogue pages: the same for every visitor who carries none of the shop's cookies,
so they set no cookie, carry no CSRF token, answer ``ETag``/``Last-Modified`` (304 when the
browser's copy is current) and are kept for a few seconds in each process.

A page is *public* when the request carries no session, cart or remember-me cookie: nobody
is logged in, the cart is empty and there is no flashed message, so nothing on it belongs to
one visitor. Anyone with a cookie gets the page rendered for them, as before.

Each process keeps up to ``PAGE_CACHE_ENTRIES`` rendered pages for ``PAGE_CACHE_SECONDS``
(0 turns the cache off; the ``ETag`` and the cookie rules stay). Any database commit in this
process that wrote something drops them all at once (``_watch_writes``), so a change made
here shows on the next request; another process's change (another gunicorn worker, the RQ
worker's sweeper, a hold expiring with nobody writing) shows within ``PAGE_CACHE_SECONDS``.
What a page says about stock is a guide: adding to the cart asks the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps

from flask import Flask, current_app, g, make_response, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import http_date, quote_etag

from .web import CART_COOKIE

CACHE_CONTROL = "public, max-age=0, must-revalidate"
# The headers an HTMX request differs by: a swap gets a fragment, a history restore the page.
HTMX_KEYS = ("HX-Request", "HX-History-Restore-Request", "HX-Target", "HX-Trigger-Name")


@dataclass(frozen=True)
class Entry:
    body: bytes
    headers: tuple[tuple[str, str], ...]  # type, Vary, HX-*, validators, Cache-Control
    etag: str
    modified: datetime
    expires: float
    generation: int


class PageCache:
    """A small thread-safe LRU of rendered pages, emptied by ``bump`` (a write committed)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: tuple) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.generation != self.generation or entry.expires <= time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: Entry, limit: int) -> None:
        with self._lock:
            if entry.generation != self.generation:
                return  # a write committed while it was rendered: it may already be stale
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > limit:
                self._entries.popitem(last=False)

    def bump(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# Every app's cache in this process (tests make many apps): a commit empties them all.
_CACHES: weakref.WeakSet[PageCache] = weakref.WeakSet()
EXTENSION = "holdfast.pages"


def is_public_request() -> bool:
    """A GET from a visitor carrying none of the cookies a page depends on."""
    if request.method not in ("GET", "HEAD"):
        return False
    config = current_app.config
    personal = (
        config["SESSION_COOKIE_NAME"],
        CART_COOKIE,
        config.get("REMEMBER_COOKIE_NAME", "remember_token"),
    )
    return not any(name in request.cookies for name in personal)


def public_page() -> bool:
    """For templates: this page is rendered for everyone (no CSRF token, no cookie)."""
    return bool(g.get("public_page"))


def cached_public_page(view):
    """Serve ``view`` from the page cache to cookieless visitors, with validators."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not is_public_request():
            return view(*args, **kwargs)
        g.public_page = True
        seconds = current_app.config.get("PAGE_CACHE_SECONDS", 0)
        key = (request.path, request.query_string, *(request.headers.get(h) for h in HTMX_KEYS))
        pages: PageCache = current_app.extensions[EXTENSION]
        entry = pages.get(key) if seconds > 0 else None
        if entry is None:
            generation = pages.generation
            response = make_response(view(*args, **kwargs))
            if response.status_code != 200 or response.direct_passthrough:
                return response
            entry = _entry_of(response, seconds, generation)
            if seconds > 0:
                pages.put(key, entry, current_app.config.get("PAGE_CACHE_ENTRIES", 256))
        return _respond(entry)

    return wrapper


def _entry_of(response, seconds: float, generation: int) -> Entry:
    body = response.get_data()
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    modified = datetime.now(UTC).replace(microsecond=0)
    headers = [("Content-Type", response.content_type)]
    if response.vary:
        headers.append(("Vary", response.headers["Vary"]))
    headers += [(k, v) for k, v in response.headers.items() if k.lower().startswith("hx-")]
    headers += [
        ("ETag", quote_etag(etag)),
        ("Last-Modified", http_date(modified)),
        ("Cache-Control", CACHE_CONTROL),
    ]
    return Entry(body, tuple(headers), etag, modified, time.monotonic() + seconds, generation)


def _respond(entry: Entry):
    """The kept page, or 304 when the browser's copy is it (``If-None-Match`` first, else
    ``If-Modified-Since``, as RFC 9110 orders them). Headers are built once, at keeping."""
    if _current(entry):
        headers = [h for h in entry.headers if h[0] != "Content-Type"]
        return current_app.response_class(status=304, headers=headers)
    return current_app.response_class(entry.body, headers=entry.headers)


def _current(entry: Entry) -> bool:
    if "If-None-Match" in request.headers:
        return request.if_none_match.contains_weak(entry.etag)
    since = request.if_modified_since
    return since is not None and since >= entry.modified


def _note_write(conn, _cursor, statement, _params, context, _many) -> None:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        conn.info["page_cache_dirty"] = True
    elif statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
        conn.info["page_cache_dirty"] = True  # text() statements


def _committed(conn) -> None:
    try:
        dirty = conn.info.pop("page_cache_dirty", False)
    except SQLAlchemyError:
        dirty = True
    if dirty:
        for pages in list(_CACHES):
            pages.bump()


def _rolled_back(conn) -> None:
    # A connection the database cut is invalid: asking for its ``info`` raises, and this runs
    # inside the rollback that handles the cut. Its leftover mark costs one extra emptying.
    with contextlib.suppress(SQLAlchemyError):
        conn.info.pop("page_cache_dirty", None)


def register_page_cache(app: Flask) -> None:
    """Drop every kept page when a connection in this process commits a write (an insert,
    update or delete, from the ORM or not); give templates ``public_page()``."""
    pages = app.extensions[EXTENSION] = PageCache()
    _CACHES.add(pages)
    app.jinja_env.globals["public_page"] = public_page
    if not event.contains(Engine, "after_cursor_execute", _note_write):
        event.listen(Engine, "after_cursor_execute", _note_write)
        event.listen(Engine, "commit", _committed)
        event.listen(Engine, "rollback", _rolled_back)
