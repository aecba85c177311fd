"""Error pages: every error a visitor can cause answers a styled 4xx page (or JSON for JSON
clients and HTMX fragments for swaps), never a bare 500."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .services.errors import DomainError
from .web import render_page

MESSAGES = {
    400: "That request could not be understood.",
    401: "Please log in first.",
    403: "You do not have access to that page.",
    404: "We could not find that page.",
    405: "That page does not accept this kind of request.",
    409: "That could not be done right now.",
    413: "That upload is too large.",
    422: "Some of what you sent is not valid.",
    429: "Too many requests. Please wait a moment and try again.",
    500: "Something went wrong on our side. Nothing was changed; please try again.",
}


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.path.startswith(("/health", "/webhooks", "/api")) or (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, message: str | None = None):
    message = message or MESSAGES.get(status, "Something went wrong.")
    if _wants_json():
        response = jsonify({"error": message, "status": status})
        response.status_code = status
        return response
    return render_page(
        "errors/error.html", block="error", status=status, code=status, message=message
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(
            400, "Your form expired or was not sent from this shop. Reload the page and try again."
        )

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return error_response(exc.status_code, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        message = MESSAGES.get(status, exc.description)
        response = error_response(status, message)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
