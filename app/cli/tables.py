"""Lists on the terminal: a plain table for people, ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell; "(none)" for an empty list."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def echo_json(items: Sequence[dict]) -> None:
    click.echo(json.dumps(list(items), indent=2, default=str))
