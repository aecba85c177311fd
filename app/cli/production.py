"""``flask holdfast build-static`` and ``flask holdfast verify-production``: getting a release
ready to serve, and checking a live deployment from outside."""

from __future__ import annotations

import click
from flask import current_app

from app import static_assets
from app.services.ops import verify_production as verify

from .holdfast import holdfast_group


@holdfast_group.command("build-static")
@click.option(
    "--clean",
    is_flag=True,
    help="Remove the manifest and every fingerprinted copy instead (back to plain names).",
)
def build_static(clean: bool) -> None:
    """Write fingerprinted copies of app/static (css/shop.<hash>.css) and their manifest, so
    pages link names that can be cached for a year. Run on each release, before gunicorn
    starts (or restarts) there."""
    report = static_assets.build(current_app.static_folder, clean=clean)
    if clean:
        click.echo(f"removed {report.removed} fingerprinted file(s) and {report.manifest.name}")
        return
    for name, copy in sorted(report.files.items()):
        click.echo(f"{name} -> {copy}")
    click.echo(
        f"{len(report.files)} file(s) in {report.manifest}: {report.written} written, "
        f"{report.removed} stale removed"
    )


@holdfast_group.command("verify-production")
@click.argument("url")
@click.option("--insecure", is_flag=True, help="Do not verify the certificate (TLS is skipped).")
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this certificate (or CA bundle) instead of the system's: a self-signed one.",
)
@click.option(
    "--http-url",
    help="The plain-HTTP address that must redirect (default: http:// on URL's host, port 80).",
)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    type=click.Choice(verify.PROVIDERS),
    help="Webhook endpoints to probe (repeatable; default: every provider).",
)
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request.")
def verify_production_cmd(
    url: str,
    insecure: bool,
    ca_file: str | None,
    http_url: str | None,
    providers: tuple[str, ...],
    timeout: float,
) -> None:
    """Check the live shop at URL (https://shop.example) from outside: health, TLS, the HTTPS
    redirect, security headers, webhook signatures, static caching, /metrics. Exit 1 on any
    failure."""
    if insecure and ca_file:
        raise click.UsageError("--insecure and --ca-file contradict each other")
    try:
        target = verify.Target.parse(
            url, http_url, ca_file=ca_file, insecure=insecure, timeout=timeout
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from exc
    checks = verify.run_checks(target, providers or verify.PROVIDERS)
    _print_table(checks)
    failed = [c.name for c in checks if c.status == verify.FAIL]
    if failed:
        click.echo(f"FAILED: {', '.join(failed)}", err=True)
        raise SystemExit(1)
    click.echo(f"{target.base_url}: every check passed")


def _print_table(checks: list[verify.Check]) -> None:
    width = max(len(c.name) for c in checks)
    click.echo(f"{'CHECK'.ljust(width)}  RESULT  DETAIL")
    for c in checks:
        colour = {"pass": "green", "fail": "red"}.get(c.status, "yellow")
        result = click.style(c.status.upper().ljust(6), fg=colour)
        click.echo(f"{c.name.ljust(width)}  {result}  {c.detail}")
