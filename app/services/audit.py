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


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields whose value moved, each as ``[before, after]`` (what an update's audit row
    keeps)."""
    return {k: [before[k], after[k]] for k in before if before[k] != after[k]}


def commit_changes(
    session: Session,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    *,
    actor: str,
    subject_type: str,
    subject_id: int,
    **details: Any,
) -> bool:
    """End an owner's edit: when nothing moved, roll back and answer False; else record
    ``action`` with the changed fields (and ``details``), commit, and answer True."""
    changes = changed(before, after)
    if not changes:
        session.rollback()
        return False
    record(
        session,
        action,
        actor=actor,
        subject_type=subject_type,
        subject_id=subject_id,
        **details,
        **changes,
    )
    session.commit()
    return True
