"""Input no request may carry, refused before any view runs, the same on SQLite and Postgres.

- A NUL byte anywhere in the path, a query parameter or a form field: Postgres cannot store it
  in a text column (psycopg raises ``DataError``) and no shopper types one. 400.
- A query or form value longer than any field of ours takes: 413 for form values (like a body
  over ``MAX_CONTENT_LENGTH``), 400 for the address bar.
- An id in the path beyond the database's integer range (``<int:…>`` routes): 404, as for any
  id that names nothing. Forms bound their id fields the same way (``app.forms``).

Webhooks are left to their own checks: their bodies are verified byte for byte and parsed by
the provider's adapter (``services.payments`` refuses fields that do not fit our columns).
"""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, ValidationError

MAX_ID = 2**31 - 1  # the largest value of the INTEGER primary keys, on Postgres and SQLite
MAX_QUERY_VALUE = 8_000  # gunicorn refuses request lines over 4 KiB before this
MAX_FORM_VALUE = 20_000
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BoundedIntConverter(IntegerConverter):
    """``<int:id>`` that never matches an id the database cannot hold (a 404, not a 500)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str):
        number = super().to_python(value)
        if number > MAX_ID:
            raise ValidationError()
        return number


class UnsafeInput(BadRequest):
    description = (
        "That request contains characters we cannot accept. Please check what you "
        "typed and try again."
    )


class ValueTooLong(RequestEntityTooLarge):
    description = "Something you sent is far longer than any field here takes."


def _check(pairs, limit: int, too_long: type[Exception]) -> None:
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise UnsafeInput()
        if len(value) > limit or len(key) > 200:
            raise too_long()


def allow_upload(view):
    """Mark a view that takes a file: its body may be up to ``MAX_UPLOAD_LENGTH`` (the rest of
    the app keeps ``MAX_CONTENT_LENGTH``)."""
    view.allows_upload = True
    return view


def refuse_unsafe_input() -> None:
    if getattr(current_app.view_functions.get(request.endpoint or ""), "allows_upload", False):
        request.max_content_length = current_app.config["MAX_UPLOAD_LENGTH"]
    if "\x00" in request.path:
        raise UnsafeInput()
    _check(request.args.items(multi=True), MAX_QUERY_VALUE, UnsafeInput)
    if request.mimetype in FORM_TYPES and not request.path.startswith("/webhooks/"):
        _check(request.form.items(multi=True), MAX_FORM_VALUE, ValueTooLong)


def install(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(refuse_unsafe_input)
