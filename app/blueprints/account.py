"""Accounts: register, log in (session rotated, guest cart merged), log out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.db import get_session
from app.forms import ForgotPasswordForm, LoginForm, LogoutForm, RegisterForm, ResetPasswordForm
from app.services.accounts import password_reset
from app.services.accounts import signin as accounts
from app.services.checkout import cart as cart_service
from app.services.errors import DomainError
from app.services.orders import order_book as order_service
from app.web import CART_COOKIE, guest_cart_token, render_page, safe_next

bp = Blueprint("account", __name__)


def _start_session(user) -> None:
    """Rotate the session (a fresh cookie, nothing carried over but the flashes) and log in;
    the guest cart joins the account's cart."""
    token = guest_cart_token()
    flashes = session.get("_flashes", [])
    session.clear()
    if flashes:
        session["_flashes"] = flashes
    login_user(user)
    cart_service.merge_guest_cart(
        get_session(),
        token,
        user.id,
        max_per_line=current_app.config["CART_MAX_QUANTITY_PER_LINE"],
    )


def _finish(next_url: str):
    response = redirect(next_url, code=303)
    response.delete_cookie(CART_COOKIE)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_page("account/login.html", form=form)
    if not form.validate():
        return render_page("account/login.html", form=form, status=422)
    try:
        user = accounts.authenticate(get_session(), form.email.data, form.password.data)
    except DomainError as exc:
        return render_page("account/login.html", form=form, error=exc.message, status=401)
    _start_session(user)
    flash(f"Welcome back{', ' + user.name if user.name else ''}.", "success")
    home = url_for("admin.dashboard") if user.is_staff else url_for("shop.home")
    return _finish(safe_next(form.next.data or request.args.get("next"), home))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_page("account/register.html", form=form)
    if not form.validate():
        return render_page("account/register.html", form=form, status=422)
    try:
        user = accounts.register_user(
            get_session(), form.email.data, form.password.data, form.name.data or ""
        )
    except DomainError as exc:
        return render_page(
            "account/register.html", form=form, error=exc.message, status=exc.status_code
        )
    _start_session(user)
    flash("Your account is ready.", "success")
    return _finish(safe_next(form.next.data or request.args.get("next"), url_for("shop.home")))


@bp.post("/logout")
def logout():
    LogoutForm().validate()  # CSRF is enforced globally; nothing else to read
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("shop.home"), code=303)


@bp.get("/account")
@login_required
def overview():
    history = order_service.orders_of_user(get_session(), current_user.id)
    return render_page("account/overview.html", user=current_user, orders=history)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 422
        return render_page("account/forgot.html", form=form, status=status)
    base = str(current_app.config.get("SHOP_BASE_URL") or request.host_url)
    password_reset.send_reset_link(get_session(), form.email.data, base)
    # The same answer whether or not the account exists.
    return render_page("account/forgot.html", form=form, sent=True)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    session = get_session()
    form = ResetPasswordForm()
    if not password_reset.valid_token(session, token):
        return render_page("account/reset.html", form=form, invalid=True, status=410)
    if request.method == "GET":
        return render_page("account/reset.html", form=form, token=token)
    if not form.validate():
        return render_page("account/reset.html", form=form, token=token, status=422)
    try:
        password_reset.reset_password(session, token, form.password.data)
    except DomainError as exc:
        return render_page(
            "account/reset.html", form=form, invalid=True, error=exc.message, status=410
        )
    flash("Your password is changed. Log in with the new one.", "success")
    return redirect(url_for("account.login"), code=303)
