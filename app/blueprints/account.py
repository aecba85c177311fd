"""Accounts: register (confirmed by email), log in (throttled; session rotated, guest cart
merged), log out (everywhere), change or reset the password (every other session ends)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.db import get_session
from app.forms import (
    ActionForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    RegisterForm,
    ResetPasswordForm,
)
from app.services.accounts import (
    addresses,
    password_change,
    password_reset,
    registration,
    sessions,
)
from app.services.accounts import signin as accounts
from app.services.accounts import throttle as throttles
from app.services.checkout import cart as cart_service
from app.services.errors import DomainError
from app.services.orders import order_book as order_service
from app.services.orders import shopper_words
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
    login_user(user)  # the session names "<id>:<session version>" (User.get_id)
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


def _policy() -> throttles.Policy:
    return throttles.Policy.from_config(current_app.config)


def _base_url() -> str:
    return str(current_app.config.get("SHOP_BASE_URL") or request.host_url)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_page("account/login.html", form=form)
    if not form.validate():
        return render_page("account/login.html", form=form, status=422)
    try:
        user = accounts.authenticate(
            get_session(),
            form.email.data,
            form.password.data,
            address=request.remote_addr or "",
            policy=_policy(),
        )
    except DomainError as exc:
        return render_page("account/login.html", form=form, error=exc.message, status=401)
    _start_session(user)
    flash(f"Welcome back{', ' + user.name if user.name else ''}.", "success")
    home = url_for("admin.dashboard") if user.is_staff else url_for("shop.home")
    return _finish(safe_next(form.next.data or request.args.get("next"), home))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """The same answer, "check your email", whether or not the email has an account."""
    form = RegisterForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_page("account/register.html", form=form)
    if not form.validate():
        return render_page("account/register.html", form=form, status=422)
    try:
        registration.start_registration(
            get_session(),
            form.email.data,
            form.password.data,
            form.name.data or "",
            base_url=_base_url(),
        )
    except DomainError as exc:
        return render_page("account/register.html", form=form, error=exc.message, status=422)
    return render_page("account/register.html", form=form, sent=True)


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """The emailed link: a page with one button (a link prefetched by a mail scanner creates
    nothing); the button creates the account and logs the shopper in."""
    form = ActionForm()
    if request.method == "GET":
        email = registration.link_email(get_session(), token)
        if email is None:
            return render_page("account/confirm.html", form=form, gone=True, status=410)
        return render_page("account/confirm.html", form=form, token=token, email=email)
    try:
        user = registration.confirm(get_session(), token)
    except DomainError as exc:
        return render_page(
            "account/confirm.html", form=form, gone=True, error=exc.message, status=410
        )
    _start_session(user)
    flash("Your email is confirmed and your account is ready.", "success")
    return _finish(url_for("shop.home"))


@bp.post("/logout")
def logout():
    LogoutForm().validate()  # CSRF is enforced globally; nothing else to read
    if current_user.is_authenticated:
        sessions.end_sessions(get_session(), current_user.id, "logged_out")
    _forget_session()
    flash("You are logged out.", "info")
    return redirect(url_for("shop.home"), code=303)


def _forget_session() -> None:
    logout_user()
    session.clear()


@bp.get("/account")
@login_required
def overview():
    return _overview(ChangePasswordForm())


def _overview(password_form: ChangePasswordForm, status: int = 200, error: str | None = None):
    history = order_service.orders_of_user(get_session(), current_user.id)
    return render_page(
        "account/overview.html",
        user=current_user,
        orders=shopper_words.history(history),
        addresses=addresses.addresses_of(get_session(), current_user.id),
        password_form=password_form,
        action_form=ActionForm(),
        error=error,
        status=status,
    )


@bp.post("/account/password")
@login_required
def change_password():
    """A new password ends every other session; this browser gets a fresh one."""
    form = ChangePasswordForm()
    if not form.validate():
        return _overview(form, status=422)
    try:
        user = password_change.change_password(
            get_session(),
            current_user.id,
            form.current.data,
            form.password.data,
            address=request.remote_addr or "",
            policy=_policy(),
        )
    except DomainError as exc:
        return _overview(form, status=exc.status_code, error=exc.message)
    _start_session(user)
    flash("Your password is changed. Every other device is logged out.", "success")
    return redirect(url_for("account.overview"), code=303)


@bp.post("/account/addresses/<int:address_id>/default")
@login_required
def default_address(address_id: int):
    ActionForm().validate()  # CSRF is enforced globally
    addresses.make_default(get_session(), current_user.id, address_id)
    flash("That address is now your default.", "success")
    return redirect(url_for("account.overview", _anchor="addresses"), code=303)


@bp.post("/account/addresses/<int:address_id>/delete")
@login_required
def delete_address(address_id: int):
    ActionForm().validate()  # CSRF is enforced globally
    addresses.delete_address(get_session(), current_user.id, address_id)
    flash("Address deleted.", "info")
    return redirect(url_for("account.overview", _anchor="addresses"), code=303)


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    ActionForm().validate()  # CSRF is enforced globally
    sessions.end_sessions(get_session(), current_user.id, "logged_out_everywhere")
    _forget_session()
    flash("You are logged out on every device, this one too.", "info")
    return redirect(url_for("account.login"), code=303)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 422
        return render_page("account/forgot.html", form=form, status=status)
    password_reset.send_reset_link(get_session(), form.email.data, _base_url())
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
