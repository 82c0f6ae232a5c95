"""The `chatbot` command line (DESIGN.md "Contracts"). Each command calls one service and prints.

Exit codes: 0 success, 1 a command-level failure (bad test set, refused file), 2 usage error,
3 the database cannot be reached.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from chatbot.settings import Settings, load_settings
from ui.conversations_cli import conversations_app
from ui.kb_history_cli import add_history_commands
from ui.users_cli import users_app
from ui.sites_cli import sites_app
from ui.settings_cli import settings_app
from ui.replay_cli import replay_command
from ui.queue_cli import add_queue_commands
from knowledge_base.index.ann import describe as describe_index

if TYPE_CHECKING:
    from chatbot.services import Services
    from knowledge_base.index.snapshot import Manifest

app = typer.Typer(help="Self-hosted customer-service chatbot.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
kb_app = typer.Typer(help="Manage the knowledge base.", no_args_is_help=True)
index_app = typer.Typer(help="Manage the search index.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
model_app = typer.Typer(help="Fine-tuned versions of the generative model.", no_args_is_help=True)
logs_app = typer.Typer(help="Review and label logged turns.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(index_app, name="index")
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
app.add_typer(logs_app, name="logs")
# Defined in its own module (this one is near its size limit), handed this module's helpers.
app.add_typer(conversations_app(lambda: _services(), lambda: _database_failures()), name="conversations")
app.add_typer(users_app(lambda: _services(), lambda: _database_failures()), name="user")
app.add_typer(sites_app(lambda: _services(), lambda: _database_failures()), name="site")
add_history_commands(kb_app, lambda: _services(), lambda: _database_failures())  # kb history|rollback|versions
app.add_typer(settings_app(lambda: _services(), lambda: _database_failures()), name="settings")
app.command("replay")(replay_command(lambda: _services(), lambda: _database_failures()))
add_queue_commands(logs_app, lambda: _services(), lambda: _database_failures())  # logs unanswered|promote


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except Exception as exc:  # pydantic's ValidationError: a bad CHATBOT_* value or config file
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from None


def _services(channel: str = "cli", **overrides: object):
    from chatbot.services import build_services

    settings = _settings(**overrides)
    with _database_failures():
        return build_services(settings, channel=channel)


@contextmanager
def _database_failures() -> Iterator[None]:
    """A service call's typed database errors as a message and an exit code: 3 when the
    database is down or busy, 1 when it refused a value; never a traceback."""
    from chatbot.errors import DatabaseUnavailable, InvalidInput

    try:
        yield
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from None
    except InvalidInput as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(host: Optional[str] = typer.Option(None, help="Interface to listen on."),
          port: Optional[int] = typer.Option(None, help="Port to listen on.")) -> None:
    """Serve the customer chat at /, the HTTP API under /api, the OpenAI-compatible API under /v1
    and the staff console at /admin."""
    from ui.server import run_server

    services = _services(channel="web", host=host, port=port)
    with _database_failures():
        hint = services.first_admin_hint()
    if hint:  # there is no default account: say how to make the first one
        typer.echo(hint, err=True)
    run_server(services, services.settings.host, services.settings.port)


def _print_index_state(services: "Services") -> None:
    """One line on the index in service after a change of the knowledge base."""
    manifest = services.index_store.read_manifest()
    if manifest is not None:
        typer.echo(f"index: KB version {manifest.kb_version}, {manifest.entry_count} entries, "
                   f"{manifest.phrasing_count} phrasings")


@kb_app.command("import")
def kb_import(files: list[Path] = typer.Argument(
        ..., help="CSV, TSV, XLSX, JSON, JSONL, Markdown, TXT, HTML, PDF or DOCX files.")) -> None:
    """Import entries (upsert by id), then update the index."""
    services = _services()
    with _database_failures():
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
    _print_index_state(services)
    raise typer.Exit(1 if refused else 0)


@kb_app.command("delete")
def kb_delete(ids: list[str] = typer.Argument(..., help="Ids of the entries to delete (see `chatbot kb list`).")) -> None:
    """Delete entries by id, then update the index. An unknown id deletes nothing (exit 2)."""
    from chatbot.conversations.labels import UnknownEntry

    services = _services()
    try:
        with _database_failures():
            deleted = services.delete_entries(ids, progress=True)
    except UnknownEntry as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for entry_id in deleted:
        typer.echo(f"deleted {entry_id}")
    _print_index_state(services)


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
def kb_export(file: Path = typer.Argument(..., help="Output .csv, .tsv, .json, .jsonl or .xlsx file.")) -> None:
    """Write every entry to FILE in a format `kb import` reads back."""
    from knowledge_base.importers.export import ExportFormatError

    try:
        with _database_failures():
            count = _services().export_kb(file)
    except ExportFormatError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{count} entries written to {file}")


@kb_app.command("list")
def kb_list() -> None:
    """List the entries: id, language, category and question."""
    for entry in _services().knowledge_base.list_entries():
        typer.echo(f"{entry.id}\t{entry.language or '-'}\t{entry.category or '-'}\t{entry.question}")


def _print_calibration(manifest: "Manifest") -> None:
    from ui.terminal import format_calibration

    for line in format_calibration(manifest):
        typer.echo(line)


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Re-embed every phrasing into a new snapshot and switch to it."""
    with _database_failures():
        manifest = _services().sync_index(full=True, progress=True)
    typer.echo(f"index rebuilt: snapshot {manifest.snapshot}, KB version {manifest.kb_version}, "
               f"{manifest.entry_count} entries, {manifest.phrasing_count} phrasings, "
               f"model {manifest.embedding_model} ({manifest.dimension}-d), "
               f"{describe_index(manifest.spec)} index")
    _print_calibration(manifest)


@index_app.command("tune")
def index_tune(epochs: int = typer.Option(3, min=1, help="Passes over the phrasings.")) -> None:
    """Fine-tune the embedding model on the KB's own phrasings, then rebuild the index with it."""
    manifest = _services().tune_index(epochs=epochs, progress=True)
    typer.echo(f"index rebuilt with the tuned model {manifest.embedding_model}: "
               f"{manifest.entry_count} entries, {manifest.phrasing_count} phrasings, "
               f"answer threshold {manifest.answer_threshold}")


@index_app.command("calibrate")
def index_calibrate() -> None:
    """Recalibrate the answer threshold with the labelled turns and CHATBOT_TARGET_WRONG_RATE."""
    manifest = _services().calibrate_index(progress=True)
    _print_calibration(manifest)


@app.command()
def ask(text: str = typer.Argument(..., help="The customer's message."),
        conversation: Optional[str] = typer.Option(None, "--conversation", help="Continue this conversation."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        choice: Optional[str] = typer.Option(None, "--choice", help="Answer the last clarification of "
                                             "--conversation with this option's entry id, or 'none'.")) -> None:
    """Ask the bot one question, as a customer would."""
    from chatbot.errors import DatabaseUnavailable, InvalidConversation, InvalidInput
    from chatbot.messages import reply_to_json

    services = _services()
    if services.index_store.read_manifest() is None:
        services.sync_index(progress=True)
    try:
        reply = services.engine.respond(conversation, text, choice=choice)
    except (InvalidConversation, InvalidInput, DatabaseUnavailable) as exc:
        # Exit 2 for what the caller can change (the id, the text), 3 for the database, as above.
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3 if isinstance(exc, DatabaseUnavailable) else 2) from None
    if as_json:
        typer.echo(json.dumps(reply_to_json(reply), ensure_ascii=False))
        return
    typer.echo(reply.answer)
    for citation in reply.citations:
        typer.echo(f"  [{citation.number}] {citation.entry_id}: {citation.question} ({citation.score:.2f})")
    for option in reply.options:
        typer.echo(f"  ({option.entry_id}) {option.question}")
    typer.echo(f"(conversation {reply.conversation_id})")


@app.command("eval")
def eval_command(testset: Path = typer.Argument(..., help="JSONL: {\"query\", \"expected_id\"} per line."),
                 as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
                 k: int = typer.Option(5, "--k", min=1, help="Depth for hit@k."),
                 report: Optional[Path] = typer.Option(None, "--report", help="Also write an HTML report "
                                                       "with charts to this file.")) -> None:
    """Measure retrieval and the answer/abstain decision on a labelled test set."""
    from chatbot.evaluation.report import format_text, write_html_report
    from chatbot.evaluation.cases import TestSetError
    from chatbot.evaluation.run import run_evaluation

    if report is not None and not report.parent.is_dir():  # say so now, not after the whole run
        typer.echo(f"error: cannot write the report: no folder {report.parent}", err=True)
        raise typer.Exit(1)
    services = _services()
    try:
        results, metrics = run_evaluation(services.engine, testset, k=k, progress=not as_json)
    except TestSetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if report is not None:
        try:
            write_html_report(report, metrics, results, title=f"chatbot eval {testset.name}")
        except OSError as exc:
            typer.echo(f"error: cannot write the report: {exc}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    typer.echo(format_text(metrics))
    if report is not None:
        typer.echo(f"\nreport written to {report}")


@logs_app.command("list")
def logs_list(limit: int = typer.Option(20, "--limit", min=1, help="How many turns, newest first.")) -> None:
    """Recent turns: id, question, decision, top entry and label."""
    from ui.terminal import format_turns

    typer.echo(format_turns(_services().conversations.recent_turns(limit)))


@logs_app.command("label")
def logs_label(turn_id: int = typer.Argument(..., help="The turn's id (see `chatbot logs list`)."),
               entry: Optional[str] = typer.Option(None, "--entry", help="The entry that should have answered."),
               out_of_scope: bool = typer.Option(False, "--out-of-scope", help="The bot should have abstained."),
               approve: bool = typer.Option(False, "--approve", help="The bot's answer was right."),
               correct: Optional[str] = typer.Option(None, "--correct", help="The answer it should have given.")) -> None:
    """Label a logged turn for calibration and fine-tuning (a new label replaces the old)."""
    from ui.terminal import describe_label
    from chatbot.conversations.labels import APPROVED, CORRECTED, LabelError

    if (entry is None) == (not out_of_scope):
        typer.echo("error: give exactly one of --entry ID and --out-of-scope", err=True)
        raise typer.Exit(2)
    if approve and correct is not None:
        typer.echo("error: give at most one of --approve and --correct TEXT", err=True)
        raise typer.Exit(2)
    review = APPROVED if approve else CORRECTED if correct is not None else None
    try:
        label = _services().label_turn(turn_id, entry, review, correct, labelled_by="cli")
    except LabelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"turn {turn_id} labelled: {describe_label(label)}")


@app.command()
def finetune(
    base: Optional[str] = typer.Option(None, help="Model to tune: 'local' (the shipped SmolLM2), a folder or "
                                                  "a model id. Default: the configured generator, else 'local'."),
    steps: Optional[int] = typer.Option(None, min=1, help="Optimizer steps (instead of --epochs)."),
    epochs: Optional[float] = typer.Option(None, help="Passes over the training examples (default 1)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 2e-4 LoRA, 2e-5 --full)."),
    lora_rank: int = typer.Option(16, "--lora-rank", min=1, help="Rank of the LoRA matrices."),
    full: bool = typer.Option(False, "--full", help="Train every weight instead of a LoRA adapter (tiny models)."),
    holdout: Optional[float] = typer.Option(None, help="Share of the phrasings held out for the before/after "
                                                       "metrics (default 0.2; 0 with --eval-set)."),
    seed: int = typer.Option(0, help="Seed of the split, the batches and the initial adapter."),
    max_examples: Optional[int] = typer.Option(None, "--max-examples", min=1,
                                               help="Use at most this many phrasings (train + held out)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Examples per step."),
    device: Optional[str] = typer.Option(None, help="auto, cpu, cuda, cuda:N or mps (default: the setting)."),
    eval_set: Optional[list[Path]] = typer.Option(None, "--eval-set", help="A test set (JSONL: {\"query\", "
                                                  "\"expected_id\"}) measured before and after; repeatable."),
    eval_limit: Optional[int] = typer.Option(None, "--eval-limit", min=1, help="Only the first N lines of each "
                                             "--eval-set file."),
    as_json: bool = typer.Option(False, "--json", help="Print the new version's card as JSON."),
) -> None:
    """Fine-tune the generative model on the KB's phrasings → answers into a new model version."""
    from chatbot.finetune.pipeline import FinetuneError, FinetuneOptions, run_finetune
    from chatbot.finetune.training import TrainOptions

    if steps is not None and epochs is not None:
        typer.echo("error: give --steps or --epochs, not both", err=True)
        raise typer.Exit(2)
    train = TrainOptions(steps=steps, epochs=1.0 if epochs is None else epochs, learning_rate=lr,
                         lora_rank=lora_rank, full=full, batch_size=batch_size, seed=seed)
    options = FinetuneOptions(base=base, train=train, holdout=holdout, max_examples=max_examples, device=device,
                              eval_sets=tuple(eval_set or ()), eval_limit=eval_limit)
    try:
        card = run_finetune(_services(), options, progress=not as_json)
    except FinetuneError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(card.to_json())
        return
    before, after = card.metrics["before"], card.metrics["after"]
    typer.echo(f"model version {card.id} ({card.kind} of {card.base}): {card.data['train']} training and "
               f"{card.data['heldout']} held-out examples, {card.settings['steps']} steps, {card.seconds:.0f} s")
    for key in ("exact_answer", "grounded_rate", "mean_answer_chars", "loss"):
        typer.echo(f"  held out {key:>17}: {before[key]} -> {after[key]}")
    for language, by_language in before.get("by_language", {}).items():
        tuned = after["by_language"][language]
        typer.echo(f"  {language} ({by_language['n']}): " + ", ".join(
            f"{key} {by_language[key]} -> {tuned[key]}" for key in ("exact_answer", "grounded_rate")))
    typer.echo(f"serve it with: chatbot model promote {card.id}")


@model_app.command("list")
def model_list() -> None:
    """The fine-tuned versions (oldest first) with their held-out metrics; * marks the promoted one."""
    from chatbot.generators.registry import ModelRegistry, ModelVersionError
    from ui.terminal import format_model_versions

    registry = ModelRegistry(_settings().models_dir)
    try:
        promoted = registry.promoted()
    except ModelVersionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(format_model_versions(registry.list_versions(), promoted))


@model_app.command("promote")
def model_promote(version_id: str = typer.Argument(..., help="A version id from `chatbot model list`."),
                  require_replay: Optional[Path] = typer.Option(None, help="Promote only if this `chatbot replay "
                                                                "--model-version` report.json passed its gate.")) -> None:
    """Serve VERSION_ID: running servers switch to it on their next question."""
    from chatbot.evaluation.replay_gate import GateError, require_passing_replay
    from chatbot.generators.registry import ModelVersionError
    from chatbot.services import promote_model

    settings = _settings()
    try:
        if require_replay is not None:
            require_passing_replay(require_replay, version_id)
        promotion = promote_model(settings, version_id)
    except (ModelVersionError, GateError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    card = promotion.card
    typer.echo(f"promoted {card.id} ({card.kind} of {card.base})")
    if not promotion.serves:
        typer.echo(f"note: the generator setting is {settings.generator!r}, not this version's base "
                   f"{card.base!r}: it serves once CHATBOT_GENERATOR names that base", err=True)


@model_app.command("rollback")
def model_rollback() -> None:
    """Serve the version promoted before the current one, or the base model."""
    from chatbot.generators.registry import ModelRegistry, ModelVersionError

    try:
        now = ModelRegistry(_settings().models_dir).rollback()
    except ModelVersionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"rolled back: now serving {now or 'the base model'}")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database schema (SQLite file or PostgreSQL) to REVISION."""
    from chatbot.conversations.database import describe_url, upgrade_database

    settings = _settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    with _database_failures():
        upgrade_database(settings.database_url, revision)
    typer.echo(f"database at {revision}: {describe_url(settings.database_url)}")


def main() -> None:
    """Entry point of the `chatbot` console script."""
    app()


if __name__ == "__main__":
    sys.exit(main())
