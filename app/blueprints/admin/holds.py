"""Holds: live and expired counts, the live holds with their time left, releasing one by
hand, and running the cleanup now (with what the sweeper did, run by run)."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for

from app.db import get_session
from app.forms import ActionForm
from app.services.admin import holds as holds_service
from app.services.errors import DomainError
from app.web import render_page

from .base import actor, bp, require


def _back():
    return redirect(url_for("admin.holds"), code=303)


def _checked() -> bool:
    if ActionForm().validate():
        return True
    flash("The form expired; please try again.", "error")
    return False


@bp.get("/holds")
def holds():
    session = get_session()
    return render_page(
        "admin/holds.html",
        block="results",
        overview=holds_service.overview(session),
        page=holds_service.live_holds(session, request.args.get("page", 1, type=int)),
        args={},
        form=ActionForm(),
    )


@bp.post("/holds/<ref>/release")
def release_hold(ref: str):
    require("release_hold")
    if not _checked():
        return _back()
    try:
        released, state = holds_service.release(get_session(), ref[:40], actor=actor())
    except DomainError as exc:
        flash(exc.message, "error")
        return _back()
    if released:
        flash(f"Hold {ref} is released; its units are free again.", "success")
    else:
        flash(f"Hold {ref} was already {state}.", "info")
    return _back()


@bp.post("/holds/cleanup")
def run_cleanup():
    require("run_sweeper")
    if not _checked():
        return _back()
    done = holds_service.run_cleanup(
        get_session(), actor=actor(), batch_size=current_app.config["HOLD_SWEEP_BATCH_SIZE"]
    )
    flash(
        f"Cleanup done: {done.checkouts_expired} checkout(s) expired, "
        f"{done.sweep.expired} hold(s) marked expired.",
        "success",
    )
    return _back()
