"""The `chatbot` command line (DESIGN.md "Contracts"). Each command calls one service and prints.

Exit codes: 0 success, 1 a command-level failure (bad test set, refused file), 2 usage error,
3 the database cannot be reached.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from chatbot.settings import Settings, load_settings
from knowledge_base.ann import describe as describe_index

app = typer.Typer(help="Self-hosted customer-service chatbot.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
kb_app = typer.Typer(help="Manage the knowledge base.", no_args_is_help=True)
index_app = typer.Typer(help="Manage the search index.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(index_app, name="index")
app.add_typer(db_app, name="db")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except Exception as exc:  # pydantic's ValidationError: a bad CHATBOT_* value or config file
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from None


def _services(channel: str = "cli", **overrides: object):
    from chatbot.database import DatabaseUnavailable
    from chatbot.services import build_services

    settings = _settings(**overrides)
    try:
        return build_services(settings, channel=channel)
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None


@app.command()
def serve(host: Optional[str] = typer.Option(None, help="Interface to listen on."),
          port: Optional[int] = typer.Option(None, help="Port to listen on.")) -> None:
    """Serve the customer chat at / and the HTTP API under /api."""
    from ui.server import run_server

    services = _services(channel="web", host=host, port=port)
    run_server(services, services.settings.host, services.settings.port)


@kb_app.command("import")
def kb_import(files: list[Path] = typer.Argument(..., help="CSV, TSV, JSON, JSONL, Markdown or TXT files.")) -> None:
    """Import entries (upsert by id), then update the index."""
    services = _services()
    reports = services.import_files(files, progress=True)
    refused = False
    for report in reports:
        if report.refused:
            refused = True
            typer.echo(f"refused {report.refused}", err=True)
            continue
        typer.echo(f"{report.path}: {report.imported} entries imported "
                   f"({report.created} new, {report.updated} updated, {report.unchanged} unchanged), "
                   f"{len(report.errors)} rows rejected")
        for error in report.errors:
            typer.echo(f"  rejected {error}", err=True)
    manifest = services.index_store.read_manifest()
    if manifest is not None:
        typer.echo(f"index: KB version {manifest.kb_version}, {manifest.entry_count} entries, "
                   f"{manifest.phrasing_count} phrasings")
    raise typer.Exit(1 if refused else 0)


@kb_app.command("demo")
def kb_demo() -> None:
    """Load the demo shop FAQ (English and Chinese) if the knowledge base is empty."""
    from chatbot.services import DEMO_KB

    services = _services()
    if services.knowledge_base.list_entries():
        typer.echo("the knowledge base already has entries; demo not loaded")
        services.sync_index(progress=True)
        return
    report = services.import_files([DEMO_KB], progress=True)[0]
    typer.echo(f"demo knowledge base: {report.imported} entries imported")


@kb_app.command("export")
def kb_export(file: Path = typer.Argument(..., help="Output .csv, .tsv, .json or .jsonl file.")) -> None:
    """Write every entry to FILE in a format `kb import` reads back."""
    services = _services()
    entries = [e.to_dict() for e in services.knowledge_base.list_entries()]
    suffix = file.suffix.lower()
    if suffix in (".csv", ".tsv"):
        columns = ["id", "question", "alternates", "answer", "category", "language", "tags", "url"]
        with open(file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, columns, delimiter="," if suffix == ".csv" else "\t")
            writer.writeheader()
            for entry in entries:
                writer.writerow({**entry, "alternates": "|".join(entry["alternates"]),
                                 "tags": ",".join(entry["tags"])})
    elif suffix == ".jsonl":
        file.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    elif suffix == ".json":
        file.write_text(json.dumps(entries, ensure_ascii=False, indent=2), encoding="utf-8")
    else:
        typer.echo(f"error: cannot export to {suffix or 'a file without extension'}; "
                   "use .csv, .tsv, .json or .jsonl", err=True)
        raise typer.Exit(2)
    typer.echo(f"{len(entries)} entries written to {file}")


@kb_app.command("list")
def kb_list() -> None:
    """List the entries: id, language, category and question."""
    for entry in _services().knowledge_base.list_entries():
        typer.echo(f"{entry.id}\t{entry.language or '-'}\t{entry.category or '-'}\t{entry.question}")


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Re-embed every phrasing into a new snapshot and switch to it."""
    manifest = _services().sync_index(full=True, progress=True)
    typer.echo(f"index rebuilt: snapshot {manifest.snapshot}, KB version {manifest.kb_version}, "
               f"{manifest.entry_count} entries, {manifest.phrasing_count} phrasings, "
               f"model {manifest.embedding_model} ({manifest.dimension}-d), "
               f"{describe_index(manifest.spec)} index")


@index_app.command("tune")
def index_tune(epochs: int = typer.Option(3, min=1, help="Passes over the phrasings.")) -> None:
    """Fine-tune the embedding model on the KB's own phrasings, then rebuild the index with it."""
    manifest = _services().tune_index(epochs=epochs, progress=True)
    typer.echo(f"index rebuilt with the tuned model {manifest.embedding_model}: "
               f"{manifest.entry_count} entries, {manifest.phrasing_count} phrasings, "
               f"answer threshold {manifest.answer_threshold}")


@app.command()
def ask(text: str = typer.Argument(..., help="The customer's message."),
        conversation: Optional[str] = typer.Option(None, "--conversation", help="Continue this conversation."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Ask the bot one question, as a customer would."""
    from chatbot.messages import reply_to_json

    services = _services()
    if services.index_store.read_manifest() is None:
        services.sync_index(progress=True)
    reply = services.engine.respond(conversation, text)
    if as_json:
        typer.echo(json.dumps(reply_to_json(reply), ensure_ascii=False))
        return
    typer.echo(reply.answer)
    for citation in reply.citations:
        typer.echo(f"  [{citation.number}] {citation.entry_id}: {citation.question} ({citation.score:.2f})")
    typer.echo(f"(conversation {reply.conversation_id})")


@app.command("eval")
def eval_command(testset: Path = typer.Argument(..., help="JSONL: {\"query\", \"expected_id\"} per line."),
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
                 k: int = typer.Option(5, "--k", min=1, help="Depth for hit@k.")) -> None:
    """Measure retrieval and the answer/abstain decision on a labelled test set."""
    from chatbot.evaluation import TestSetError, evaluate

    services = _services()
    try:
        metrics = evaluate(services.engine, testset, k=k, progress=not as_json)
    except TestSetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    for key, value in metrics.items():
        typer.echo(f"{key:>18}: {value}")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database schema (SQLite file or PostgreSQL) to REVISION."""
    from chatbot.database import DatabaseUnavailable, describe_url, upgrade_database

    settings = _settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        upgrade_database(settings.database_url, revision)
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    typer.echo(f"database at {revision}: {describe_url(settings.database_url)}")


def main() -> None:
    """Entry point of the `chatbot` console script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
