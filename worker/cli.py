"""The ``abrecon`` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from connectors.amazon_business.errors import AmazonBusinessError
from connectors.amazon_business.operations import operations_of_role
from connectors.amazon_business.redaction import install_log_redaction
from connectors.amazon_business.roles import ROLE_TABLE
from worker.settings import Settings, SettingsError, get_settings


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


class _Group(click.Group):
    """Turns abrecon's expected errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (AmazonBusinessError, SettingsError) as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="More log output (-v INFO, -vv DEBUG).")
def main(verbose: int) -> None:
    """abrecon: reconcile Amazon Business purchases with your books."""
    install_log_redaction()
    level = {0: None, 1: logging.INFO}.get(verbose, logging.DEBUG)
    if level is None:
        level = getattr(logging, _settings().log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
def roles() -> None:
    """Amazon's roles: which are granted and what each enables in abrecon."""
    settings = _settings()
    for info in ROLE_TABLE.values():
        granted = info.role in settings.roles
        mark = click.style("granted", fg="green") if granted else click.style("missing", fg="red")
        click.echo(f"{info.role.value}  [{mark}]")
        click.echo(f"  APIs:        {', '.join(info.apis)}")
        ops = ", ".join(op.name for op in operations_of_role(info.role))
        click.echo(f"  operations:  {ops}")
        click.echo(f"  regions:     {', '.join(r.value for r in info.regions)}")
        click.echo(f"  enables:     {info.enables}")
        if not granted:
            click.echo(f"  without it:  {info.without}")
        click.echo("")
    click.echo("Granted roles come from ABRECON_ROLES (comma-separated names as above).")


@main.group()
def sandbox() -> None:
    """The local Amazon Business API simulator."""


@sandbox.command("serve")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Scenario JSON (default: a generated one).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--faults", default=None, help='e.g. "429=0.05,500=0.02,drop=0.01,slow=0.02"')
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--roles",
    "granted",
    default=None,
    help="Roles the sandbox app is granted (comma-separated; default all).",
)
@click.option("--no-auth", is_flag=True, help="Do not check access tokens.")
@click.option("--no-usage-plans", is_flag=True, help="Do not enforce usage plans (no 429s).")
@click.option(
    "--processing-seconds",
    default=2.0,
    show_default=True,
    type=float,
    help="How long a report takes from IN_QUEUE to its end.",
)
@click.option("--fatal-rate", default=0.0, show_default=True, type=float)
@click.option("--cancelled-rate", default=0.0, show_default=True, type=float)
@click.option(
    "--url-ttl",
    default=300.0,
    show_default=True,
    type=float,
    help="Seconds a document URL stays valid.",
)
@click.option("--gzip", "gzip_documents", is_flag=True, help="Serve documents gzipped.")
def sandbox_serve(
    scenario_path: Path | None,
    host: str,
    port: int,
    faults: str | None,
    seed: int,
    granted: str | None,
    no_auth: bool,
    no_usage_plans: bool,
    processing_seconds: float,
    fatal_rate: float,
    cancelled_rate: float,
    url_ttl: float,
    gzip_documents: bool,
) -> None:
    """Serve every Amazon Business operation locally, in Amazon's wire format."""
    from connectors.amazon_business.roles import parse_roles
    from connectors.sandbox.serve import serve

    try:
        roles_granted = parse_roles(granted) if granted is not None else None
        serve(
            scenario_path,
            host,
            port,
            faults,
            seed,
            granted_roles=roles_granted,
            enforce_auth=not no_auth,
            enforce_usage_plans=not no_usage_plans,
            report_processing_seconds=processing_seconds,
            fatal_rate=fatal_rate,
            cancelled_rate=cancelled_rate,
            document_url_ttl_seconds=url_ttl,
            gzip_documents=gzip_documents,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@sandbox.command("generate")
@click.option("--orders", default=200, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def sandbox_generate(orders: int, seed: int, out_dir: Path) -> None:
    """Write a realistic scenario.json, ledger.csv and truth.csv into OUT."""
    from connectors.sandbox.generator import write_scenario

    paths = write_scenario(out_dir, orders, seed)
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


@main.command()
@click.option("--orders", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--documents",
    "max_documents",
    default=5,
    show_default=True,
    type=click.IntRange(0, 15),
    help="How many invoice PDFs to fetch.",
)
def demo(orders: int, seed: int, max_documents: int) -> None:
    """Run the whole job against a generated scenario served by an in-process sandbox."""
    from worker.demo import run_demo

    run_demo(_settings(), orders=orders, seed=seed, max_documents=max_documents)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
