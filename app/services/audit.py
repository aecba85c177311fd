"""The audit log: ``record`` adds a row in the caller's transaction."""

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
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
    )
    session.add(entry)
    return entry
