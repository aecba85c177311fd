"""The audit log: ``record`` adds a row in the caller's transaction.

Who acted and from where: ``actor`` names them; an admin request also notes the person's id
and IP address on its session (``session.info["audit_actor_id"]``, ``["audit_ip"]``), which
every row that session records carries, so domain services need no request to be audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import AuditLog


def record(
    session: Session,
    action: str,
    *,
    actor: str = "system",
    actor_id: int | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    **details: Any,
) -> AuditLog:
    entry = AuditLog(
        action=action,
        actor=actor,
        actor_id=actor_id if actor_id is not None else session.info.get("audit_actor_id"),
        ip=session.info.get("audit_ip"),
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
    )
    session.add(entry)
    return entry
