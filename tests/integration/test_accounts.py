"""Accounts: registration's form, log-in (argon2id, rehash, rotation, safe next), log-out,
owners. Registering by email: test_registration.py; throttling: test_login_throttle.py;
sessions that end: test_sessions.py."""

from sqlalchemy import select

from app.models import AuditLog, Role, User
from tests.factories import UserFactory

PASSWORD = "correct horse battery"


def _register(browser, email="new@example.com", password=PASSWORD, confirm=None, **extra):
    data = {"email": email, "password": password, "confirm": confirm or password, "name": "Ada"}
    data.update(extra)
    return browser.post("/register", data)


def test_registering_creates_nobody_until_the_email_is_confirmed(browser, db):
    response = _register(browser)
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert db.scalars(select(User)).all() == []
    assert browser.get("/account").status_code == 302


def test_registration_validates_its_fields(browser, db):
    for data, message in [
        ({"email": "not-an-email"}, "valid email"),
        ({"password": "short", "confirm": "short"}, "at least 10"),
        ({"confirm": "something else entirely"}, "do not match"),
    ]:
        response = _register(browser, **data)
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert db.scalars(select(User)).all() == []


def test_logging_in_goes_to_a_safe_next_page(browser, db):
    UserFactory(email="ada@example.com")
    response = browser.post(
        "/login", {"email": "ada@example.com", "password": PASSWORD, "next": "/cart"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/cart"


def test_log_in_refuses_to_redirect_off_site(app, db):
    from tests.conftest import Browser

    UserFactory(email="ada@example.com")
    for target in ["//evil.example", "https://evil.example/", "/\\evil.example", "javascript:x"]:
        browser = Browser(app.test_client())
        response = browser.post(
            "/login", {"email": "ada@example.com", "password": PASSWORD, "next": target}
        )
        assert response.status_code == 303
        assert response.headers["Location"] == "/", target


def test_the_session_cookie_is_replaced_on_log_in(browser, db):
    UserFactory(email="ada@example.com")
    browser.get("/login")
    before = browser.client.get_cookie("session").value
    browser.post("/login", {"email": "ada@example.com", "password": PASSWORD})
    after = browser.client.get_cookie("session").value
    assert after != before
    assert before not in after


def test_a_wrong_password_and_an_unknown_email_read_the_same(browser, db):
    UserFactory(email="ada@example.com")
    wrong = browser.post("/login", {"email": "ada@example.com", "password": "not the password"})
    unknown = browser.post("/login", {"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password do not match an account."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert browser.get("/account").status_code == 302


def test_a_hash_with_old_parameters_is_upgraded_at_log_in(browser, db):
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16).hash(PASSWORD)
    UserFactory(email="ada@example.com", password_hash=old)
    assert (
        browser.post("/login", {"email": "ada@example.com", "password": PASSWORD}).status_code
        == 303
    )
    db.expire_all()
    upgraded = db.scalar(select(User.password_hash))
    assert upgraded != old and upgraded.startswith("$argon2id$")
    assert db.scalar(select(AuditLog.id).where(AuditLog.action == "user.logged_in"))


def test_log_out_needs_a_post_with_a_csrf_token(browser, db):
    UserFactory(email="ada@example.com")
    browser.post("/login", {"email": "ada@example.com", "password": PASSWORD})
    assert browser.client.get("/logout").status_code == 405
    assert browser.client.post("/logout").status_code == 400
    assert browser.get("/account").status_code == 200
    assert browser.post("/logout").status_code == 303
    assert browser.get("/account").status_code == 302


def test_account_pages_send_guests_to_log_in_and_back(client, db):
    response = client.get("/account")
    assert response.status_code == 302
    assert "/login?next=%2Faccount" in response.headers["Location"]


def test_create_owner_reads_the_password_from_stdin(app, db):
    result = app.test_cli_runner().invoke(
        args=["holdfast", "create-owner", "Owner@Shop.example", "--password-stdin"],
        input="a long owner password\n",
    )
    assert result.exit_code == 0, result.output
    owner = db.scalar(select(User).where(User.email == "owner@shop.example"))
    assert owner.role is Role.OWNER
    from tests.conftest import Browser

    browser = Browser(app.test_client())
    response = browser.post(
        "/login", {"email": "owner@shop.example", "password": "a long owner password"}
    )
    assert response.status_code == 303


def test_create_owner_refuses_a_short_password(app, db):
    result = app.test_cli_runner().invoke(
        args=["holdfast", "create-owner", "o@shop.example", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert "at least 10" in result.output
    assert db.scalars(select(User)).all() == []


def test_a_next_in_the_login_address_is_honoured_too(browser, db):
    UserFactory(email="ada@example.com")
    browser.get("/login?next=/cart")
    response = browser.post("/login?next=/cart", {"email": "ada@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/cart"
