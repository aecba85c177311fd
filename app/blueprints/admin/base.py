"""The owner's admin at ``/admin``: for staff and owners only. Everyone else gets a 404, as if
it did not exist. Each action is checked against ``services.admin.permissions`` on the server
(staff cannot refund), carries a CSRF token, and leaves an audit row.

Each area's views live in their own module of this package and register on ``bp``.
"""

from __future__ import annotations

from flask import Blueprint, abort, request
from flask_login import current_user

from app.db import get_session
from app.services.admin.permissions import allowed
from app.services.errors import Forbidden

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def staff_only():
    if not current_user.is_authenticated or not allowed(current_user.role, "view"):
        abort(404)
    # Every audit row this request's session records names the person and their address.
    info = get_session().info
    info["audit_actor_id"], info["audit_ip"] = current_user.id, request.remote_addr


def require(action: str) -> None:
    """Refuse (403) unless the signed-in person's role may take ``action``."""
    if not allowed(current_user.role, action):
        raise Forbidden("Only the shop's owner can do that.")


def may(action: str) -> bool:
    return allowed(current_user.role, action)


def actor() -> str:
    """Who is acting, for audit rows."""
    return current_user.email


@bp.context_processor
def _permissions():
    """Admin templates ask ``may('action')`` (the nav shows owner-only links to owners)."""
    return {"may": may}
