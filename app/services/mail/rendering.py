"""Rendering an email from its outbox row: the Jinja templates in ``templates/email`` (text and
HTML), the headers, and one Message-ID per email however often it is sent. Needs no request,
app context or database."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
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


def build_email(claim: Claim, config: Mapping[str, Any]) -> EmailMessage:
    text, html = render(
        claim.template,
        claim.context,
        shop_name=config["SHOP_NAME"],
        shop_url=config["SHOP_BASE_URL"],
    )
    email = EmailMessage()
    email["Subject"] = claim.subject
    email["From"] = config["MAIL_DEFAULT_SENDER"]
    email["To"] = claim.to_address
    email["Date"] = format_datetime(claim.claimed_at)
    email["Message-ID"] = claim.message_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email
