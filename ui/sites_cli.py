"""`chatbot site …`: the sites that may embed the chat widget (DESIGN.md "Contracts"). Each
command calls one service (`chatbot.site_services`).

    $ chatbot site add --origin https://shop.example --origin https://www.shop.example --name Shop
    site key: site_…      (public: put it in the embed's data-site-key)
    secret:   4f1c…       (shown this once: your server signs user ids with it)
    $ chatbot site list [--json]
    $ chatbot site remove site_…

Exit codes as the rest of `chatbot`: 2 for an origin that is not an http(s) origin or an unknown
key, 3 when the database cannot be reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

import typer

from chatbot.evaluation.report import text_table

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.sites.store import Site


def site_json(site: "Site") -> dict:
    """A site as JSON, without its secret."""
    return {"key": site.key, "name": site.name, "origins": list(site.origins), "created_at": site.created_at.isoformat()}


def sites_app(services: Callable[[], "Services"],
              database_failures: Callable[[], AbstractContextManager[None]]) -> typer.Typer:
    """The `site` command group; `services` builds the application object and
    `database_failures` maps a database that is down to exit 3 (both from `ui.cli`)."""
    app = typer.Typer(help="Sites that embed the chat widget: keys, allowed origins, secrets.", no_args_is_help=True)

    @contextmanager
    def failures() -> Iterator[None]:
        from chatbot.errors import InvalidInput

        with database_failures():
            try:
                yield
            except InvalidInput as exc:  # what the caller can change: exit 2
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(2) from None

    @app.command("add")
    def add(origins: list[str] = typer.Option(..., "--origin", help="A page origin allowed to embed the widget, "
                                                                   "e.g. https://shop.example (repeat for more)."),
            name: str = typer.Option("", "--name", help="A name to recognise the site by.")) -> None:
        """Add a site: prints its public key and, this once only, its signing secret."""
        with failures():
            site = services().add_site(origins, name)
        typer.echo(f"site key: {site.key}")
        typer.echo(f"origins:  {' '.join(site.origins)}")
        # The only time the secret is shown: the operator copies it into the site's server config.
        typer.echo(f"secret:   {site.secret}")
        typer.echo("Keep the secret on your server (it signs user ids for identify()); it is not shown again.")

    @app.command("list")
    def list_sites(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """The sites, the oldest first (keys and origins; never the secrets)."""
        with failures():
            sites = services().list_sites()
        if as_json:
            typer.echo(json.dumps([site_json(site) for site in sites], ensure_ascii=False))
        elif not sites:
            typer.echo("no site yet: add one with `chatbot site add --origin URL`")
        else:
            rows = [[s.key, s.name or "-", " ".join(s.origins), s.created_at.strftime("%Y-%m-%d")] for s in sites]
            typer.echo("\n".join(text_table(["key", "name", "origins", "added"], rows, left_columns=4)))

    @app.command("remove")
    def remove(key: str = typer.Argument(..., help="The site's key.")) -> None:
        """Remove a site: its widget stops working at once."""
        with failures():
            removed = services().remove_site(key)
        if not removed:
            typer.echo(f"error: no site has key {key!r} (see `chatbot site list`)", err=True)
            raise typer.Exit(2)
        typer.echo(f"site {key} removed")

    return app
