"""Backups of the shop's database and restoring one (``flask holdfast backup`` / ``restore``).

Postgres is dumped with ``pg_dump --format=custom`` and restored with ``pg_restore --clean
--if-exists --no-owner --single-transaction`` (all or nothing); SQLite is copied with its online
backup API both ways, which is safe while the shop writes to the source. The password never
appears on a command line: the tools get a libpq URL without it and ``PGPASSWORD`` in their
environment.

A backup is written under a hidden temporary name (mode 0600) in the backup directory and only
linked to its final name, ``holdfast-<UTC yyyymmddThhmmssZ>.dump`` (Postgres) or ``.sqlite3``
(SQLite), once complete, so a file under that name is always whole. Rotation keeps the newest N
files of that pattern and touches nothing else in the directory.

A restore replaces every row of the shop: the web server and the worker must be stopped first
(an SQLite file must not be open elsewhere while it is overwritten)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.db import begin_write, make_engine
from app.services import audit
from app.services.admin.health import migrations
from app.services.errors import DomainError

POSTGRES, SQLITE = "postgres", "sqlite"
EXTENSIONS = {POSTGRES: ".dump", SQLITE: ".sqlite3"}
# Ours: holdfast-20261206T101500Z.dump, and -2, -3… for a second backup in the same second.
NAME_RE = re.compile(r"^holdfast-(\d{8}T\d{6}Z)(?:-(\d+))?\.(dump|sqlite3)$")
PARTIAL_PREFIX = ".holdfast-partial-"
PARTIAL_MAX_AGE_SECONDS = 24 * 3600
MAGIC = {POSTGRES: b"PGDMP", SQLITE: b"SQLite format 3\x00"}
KIND_NAMES = {POSTGRES: "a Postgres dump (pg_dump custom format)", SQLITE: "an SQLite database"}
DATABASE_NAMES = {POSTGRES: "a Postgres database", SQLITE: "an SQLite database"}
# pg_dump gives up instead of waiting all night behind a lock (a migration, a stuck session).
# (pg_restore cannot: a dump sets lock_timeout = 0 itself, so a restore waits for the locks of
# a shop left running; ``other_sessions`` warns of them first.)
PG_LOCK_WAIT_MS = 60_000
SQLITE_BUSY_SECONDS = 30


class BackupError(DomainError):
    """A backup or restore that cannot be done; the message tells the operator why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int
    kind: str


@dataclass(frozen=True)
class SchemaState:
    """The restored database's Alembic revision against the code's head."""

    current: str | None
    head: str | None
    known: bool  # the code has a migration of that revision (False: the backup is newer)

    @property
    def up_to_date(self) -> bool:
        return self.current is not None and self.current == self.head


# ---------------------------------------------------------------- the database URL


def backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name == "postgresql":
        return POSTGRES
    if name == "sqlite":
        return SQLITE
    raise BackupError(f"backups cover Postgres and SQLite only, not {name!r} (DATABASE_URL)")


def describe(url: str) -> str:
    """The database, fit to print: the URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it (``PGPASSWORD``)
    for pg_dump and pg_restore. ``postgresql+psycopg://`` becomes ``postgresql://``."""
    parsed = make_url(url)
    query = dict(parsed.query)
    password = parsed.password or query.pop("password", None)
    plain = URL.create(  # URL.set(password=None) would keep the password
        "postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, query
    )
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    if password:
        env["PGPASSWORD"] = str(password)
    return plain.render_as_string(hide_password=False), env


def sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"DATABASE_URL {url!r} names no SQLite file to back up or restore")
    return Path(database)


# ---------------------------------------------------------------- backing up


def create_backup(url: str, directory: Path, now: datetime | None = None) -> Backup:
    """Back the database up into ``directory`` (created 0700 if missing); the new file."""
    kind = backend(url)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = directory / f"{PARTIAL_PREFIX}{secrets.token_hex(6)}{EXTENSIONS[kind]}"
    try:
        with _private_file(partial) as out:
            if kind == POSTGRES:
                _pg_dump(url, out)
            out.flush()
            os.fsync(out.fileno())
        if kind == SQLITE:
            _sqlite_copy_out(sqlite_file(url), partial)
        path = _publish(partial, directory, kind, now or utcnow())
    finally:
        partial.unlink(missing_ok=True)
    return Backup(path, path.stat().st_size, kind)


def _private_file(path: Path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} is not installed (or not on PATH): install PostgreSQL's client tools "
            f"of the server's major version (Debian: apt install postgresql-client)"
        )
    return found


def _run(command: list[str], env: dict[str, str], what: str, **kwargs) -> None:
    done = subprocess.run(command, env=env, stderr=subprocess.PIPE, check=False, **kwargs)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        raise BackupError(f"{what} failed (exit {done.returncode}): {said or 'no message'}")


def _pg_dump(url: str, out) -> None:
    target, env = libpq_target(url)
    command = [
        tool("pg_dump"),
        "--format=custom",
        "--no-password",
        f"--lock-wait-timeout={PG_LOCK_WAIT_MS}",
        f"--dbname={target}",
    ]
    _run(command, env, "pg_dump", stdout=out)


def _sqlite_copy_out(source: Path, partial: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    with (
        closing(sqlite3.connect(source, timeout=SQLITE_BUSY_SECONDS)) as src,
        closing(sqlite3.connect(partial)) as dst,
    ):
        src.backup(dst)  # one step: a consistent snapshot even while the shop writes
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        _check_sqlite(dst, partial)


def _check_sqlite(conn: sqlite3.Connection, path: Path) -> None:
    result = conn.execute("PRAGMA quick_check").fetchone()
    if not result or result[0] != "ok":
        raise BackupError(f"{path} fails SQLite's check: {result[0] if result else 'no answer'}")


def _publish(partial: Path, directory: Path, kind: str, now: datetime) -> Path:
    """Give the finished file its final name; a name already taken (a second backup in the
    same second) is never overwritten: the next free ``-N`` is used."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        suffix = "" if n == 1 else f"-{n}"
        path = directory / f"holdfast-{stamp}{suffix}{EXTENSIONS[kind]}"
        if _claim_name(partial, path):
            _fsync_directory(directory)
            return path
    raise BackupError(f"too many backups named holdfast-{stamp}* in {directory}")


def _claim_name(partial: Path, path: Path) -> bool:
    """Link ``partial`` to ``path`` unless that name exists (atomically where the filesystem
    has hard links; else a rename after a look)."""
    try:
        os.link(partial, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (some network or FUSE filesystems)
        if path.exists():
            return False
        os.replace(partial, path)
        return True


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- rotation


def _sort_key(path: Path) -> tuple[str, int]:
    match = NAME_RE.match(path.name)
    assert match is not None
    return match.group(1), int(match.group(2) or 1)


def our_backups(directory: Path) -> list[Path]:
    """Our backup files in ``directory``, oldest first (by the time in their names)."""
    if not directory.is_dir():
        return []
    found = [
        p
        for p in directory.iterdir()
        if NAME_RE.match(p.name) and p.is_file() and not p.is_symlink()
    ]
    return sorted(found, key=_sort_key)


def rotate(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` of our backups (and our own partial files a crash
    left over a day ago); every other file stays. The removed paths."""
    if keep < 1:
        raise BackupError(f"keep at least 1 backup, not {keep}")
    removed = our_backups(directory)[:-keep]
    cutoff = time.time() - PARTIAL_MAX_AGE_SECONDS
    removed += [
        p
        for p in directory.glob(f"{PARTIAL_PREFIX}*")
        if p.is_file() and not p.is_symlink() and p.stat().st_mtime < cutoff
    ]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# ---------------------------------------------------------------- restoring


def kind_of_file(path: Path) -> str | None:
    """POSTGRES or SQLITE by the file's first bytes (never its name); None for anything else."""
    with path.open("rb") as f:
        head = f.read(16)
    return next((kind for kind, magic in MAGIC.items() if head.startswith(magic)), None)


def check_restorable(url: str, path: Path) -> str:
    """Refuse, before anything changes, a file that is missing or of the wrong kind for the
    configured database; its kind."""
    kind = backend(url)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    found = kind_of_file(path)
    if found is None:
        raise BackupError(
            f"{path} is not a Holdfast backup: it is neither {KIND_NAMES[POSTGRES]} "
            f"nor {KIND_NAMES[SQLITE]}. Nothing was changed."
        )
    if found != kind:
        raise BackupError(
            f"{path} is {KIND_NAMES[found]}, but DATABASE_URL is {DATABASE_NAMES[kind]}: it "
            f"can only be restored into {DATABASE_NAMES[found]}. Nothing was changed."
        )
    return kind


def restore(url: str, path: Path) -> str:
    """Replace the database's contents with the backup at ``path``; the backend's kind."""
    kind = check_restorable(url, path)
    if kind == POSTGRES:
        _pg_restore(url, path)
    else:
        _sqlite_copy_in(path, sqlite_file(url))
    return kind


def _pg_restore(url: str, path: Path) -> None:
    target, env = libpq_target(url)
    command = [
        tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--no-password",
        f"--dbname={target}",
        str(path),
    ]
    _run(command, env, "pg_restore", stdout=subprocess.DEVNULL)


def _sqlite_copy_in(backup: Path, target: Path) -> None:
    with closing(sqlite3.connect(backup.resolve().as_uri() + "?mode=ro", uri=True)) as src:
        _check_sqlite(src, backup)
        target.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(target, timeout=SQLITE_BUSY_SECONDS)) as dst:
            src.backup(dst)


def other_sessions(url: str) -> int:
    """Other connections to the Postgres database (a web server or worker still running; the
    restore would wait for their locks). 0 on SQLite, which cannot tell."""
    if backend(url) != POSTGRES:
        return 0
    engine = make_engine(url, for_migrations=True)
    try:
        with engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot reach {describe(url)}: {exc.__cause__ or exc}") from exc
    finally:
        engine.dispose()


def tables_left_behind(url: str, path: Path) -> list[str]:
    """Tables in the Postgres database that the dump does not have: ``--clean`` leaves them
    as they are (a newer release's tables, when restoring an older backup)."""
    if backend(url) != POSTGRES:
        return []
    target, env = libpq_target(url)
    listing = subprocess.run(
        [tool("pg_restore"), "--list", str(path)], env=env, capture_output=True, check=False
    ).stdout.decode(errors="replace")
    dumped = set(re.findall(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", listing, re.MULTILINE))
    engine = make_engine(url, for_migrations=True)
    try:
        present = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return sorted(present - dumped)


def schema_state(url: str) -> SchemaState:
    """The database's revision against the migrations' head (through the admin health page's
    reading of it) and whether this code knows that revision at all."""
    engine = make_engine(url, for_migrations=True)
    try:
        found = migrations(engine)
    finally:
        engine.dispose()
    return SchemaState(found.current, found.head, _known_revision(url, found.current))


def _known_revision(url: str, revision: str | None) -> bool:
    if revision is None:
        return True
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from app.migrate import alembic_config

    try:
        return ScriptDirectory.from_config(alembic_config(url)).get_revision(revision) is not None
    except CommandError:
        return False


# ---------------------------------------------------------------- the audit log


def record(session_factory: Callable[[], Session], action: str, actor: str, **details) -> bool:
    """One audit-log row for a backup or a restore, in its own transaction. False (nothing
    written, nothing raised) when the database cannot take it: the backup itself stands."""
    session = session_factory()
    try:
        begin_write(session)
        audit.record(session, action, actor=actor, subject_type="backup", **details)
        session.commit()
        return True
    except SQLAlchemyError:
        session.rollback()
        return False
    finally:
        session.close()
