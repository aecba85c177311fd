"""Rendering an email from its outbox row: the Jinja templates in ``templates/email`` (text and
HTML), the headers, and one Message-ID per email however often it is sent. Needs no request,
app context or database.

Headers built from what people typed cannot add a header or a recipient: ``To`` must be one
bare address with no control character (else ``UnsafeHeader``: the email fails for good and is
never sent), and the ``Subject`` has every control character (CR, LF, tab, NUL, U+2028, ...)
folded into a space. No other header carries input: ``From`` is the shop's setting; there is
no ``Reply-To``, ``Cc`` or ``Bcc``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.money import format_money
from app.services.mail.notifications import TEMPLATE_DIR


@lru_cache(maxsize=1)
def email_environment() -> Environment:
    """Jinja for emails: HTML autoescaped, text not, a missing variable is an error."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["money"] = format_money
    return env


def render(
    kind: str, context: Mapping[str, Any], *, shop_name: str, shop_url: str
) -> tuple[str, str]:
    """The (plain text, HTML) bodies of one email."""
    env = email_environment()
    values = {**context, "shop_name": shop_name, "shop_url": shop_url}
    return (
        env.get_template(f"{kind}.txt").render(values),
        env.get_template(f"{kind}.html").render(values),
    )


def message_id_for(dedupe_key: str, sender: str) -> str:
    """The same Message-ID for every attempt at one email."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "holdfast.invalid"
    return f"<{hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]}.outbox@{domain}>"


@dataclass(frozen=True)
class Claim:
    """A claimed message, copied out of its row so sending needs no session."""

    id: int
    attempts: int
    claimed_at: datetime
    dedupe_key: str
    template: str
    to_address: str
    subject: str
    context: dict[str, Any]
    message_id: str


# C0, DEL, C1 and the Unicode line and paragraph separators: anything a mail reader or
# ``str.splitlines`` could take for the end of a header line.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UnsafeHeader(ValueError):
    """A header value that would add a header or a recipient: the email is refused for good."""


def one_address(value: str, header: str = "To") -> str:
    """``value`` if it is exactly one bare address (``name@host``), else ``UnsafeHeader``."""
    if CONTROL.search(value):
        raise UnsafeHeader(f"{header} holds a control character: {value!r}")
    pairs = getaddresses([value])
    if len(pairs) != 1 or pairs[0] != ("", value.strip()) or "@" not in value:
        raise UnsafeHeader(f"{header} is not one plain address: {value!r}")
    return value.strip()


def clean_subject(subject: str) -> str:
    """The subject on one line: control characters become spaces, runs of spaces one."""
    return " ".join(CONTROL.sub(" ", subject).split())


def build_email(claim: Claim, config: Mapping[str, Any]) -> EmailMessage:
    text, html = render(
        claim.template,
        claim.context,
        shop_name=config["SHOP_NAME"],
        shop_url=config["SHOP_BASE_URL"],
    )
    email = EmailMessage()
    sender = config["MAIL_DEFAULT_SENDER"]
    if CONTROL.search(sender):
        raise UnsafeHeader(f"MAIL_DEFAULT_SENDER holds a control character: {sender!r}")
    email["Subject"] = clean_subject(claim.subject)
    email["From"] = sender
    email["To"] = one_address(claim.to_address)
    email["Date"] = format_datetime(claim.claimed_at)
    email["Message-ID"] = claim.message_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email
