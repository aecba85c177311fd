"""Where an email goes: an SMTP server (``MAIL_SERVER``), or without one (development) an ``.eml``
file in ``MAIL_FILE_DIR``; and how an SMTP failure is told apart: the server unreachable
(stop the batch), the message refused for good (fail it), or for now (retry it)."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from app.services.mail.rendering import Claim, UnsafeHeader


class Unreachable(Exception):
    """The mail server could not be reached or refused the session (not this message)."""


class Transport(Protocol):
    def send(self, email: EmailMessage, claim: Claim) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """smtplib, one connection reused for a batch and reopened after any error."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        host, port, timeout = c["MAIL_SERVER"], c["MAIL_PORT"], c["MAIL_TIMEOUT"]
        try:
            if c["MAIL_USE_SSL"]:
                conn = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(host, port, timeout=timeout)
                if c["MAIL_USE_TLS"]:
                    conn.starttls(context=ssl.create_default_context())
            if c.get("MAIL_USERNAME"):
                conn.login(c["MAIL_USERNAME"], c.get("MAIL_PASSWORD") or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise Unreachable(f"mail server {host}:{port}: {describe(exc)}") from exc
        return conn

    def send(self, email: EmailMessage, claim: Claim) -> None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.send_message(email)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()


class FileTransport:
    """Development: each email becomes ``<dir>/<id>-<kind>.eml`` (rewritten, never doubled)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def send(self, email: EmailMessage, claim: Claim) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{claim.id:06d}-{claim.template}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(email))
        os.replace(tmp, path)

    def close(self) -> None:
        pass


def make_transport(config: Mapping[str, Any]) -> Transport:
    if config.get("MAIL_SERVER"):
        return SmtpTransport(config)
    return FileTransport(config["MAIL_FILE_DIR"])


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{to}: {code} {_text(msg)}" for to, (code, msg) in exc.recipients.items()
        )
        return f"recipient refused: {refused}"[:2000]
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def is_permanent(exc: BaseException) -> bool:
    """Refused for good (5xx for the recipient or the message, or a header we refuse to
    write): retrying cannot help."""
    if isinstance(exc, UnsafeHeader):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500
