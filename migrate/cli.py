"""The ``migrate`` command line.

Exit codes: 0 all done; 1 some items failed or differ; 2 usage or configuration error;
3 could not connect or authenticate. Only endpoint *display* forms are ever printed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from . import __version__
from .errors import MigrateError
from .i18n import Texts, detect_language, human_size

DEFAULT_STATE = "state.db"
DEFAULT_CONFIG = "migrate.toml"


@dataclass
class Context:
    texts: Texts
    config_path: str | None

    def config(self):
        from .endpoint import Config

        return Config.load(self.config_path)

    def connector(self, text: str):
        from .endpoint import parse_endpoint
        from .registry import connector_for

        return connector_for(parse_endpoint(text, self.config()))


def _run(action):
    """Call ``action``; turn our errors into a one-line message and their exit code."""
    try:
        return action()
    except MigrateError as exc:
        texts = click.get_current_context().find_object(Context).texts
        click.echo(texts("error.prefix", message=str(exc)), err=True)
        click.echo(texts(exc.hint), err=True)
        sys.exit(exc.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="migrate")
@click.option("--config", "config_path", envvar="MIGRATE_CONFIG", type=click.Path(),
              help="TOML file of named endpoints and their credentials "
                   f"(default: ./{DEFAULT_CONFIG} if present).")
@click.option("--lang", type=click.Choice(["fr", "en"]), envvar="MIGRATE_LANG",
              help="Language of summaries and reports (default: from the locale).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, lang: str | None) -> None:
    """Move mail and chat to sovereign platforms, with a verifiable archive."""
    if config_path is None and Path(DEFAULT_CONFIG).is_file():
        config_path = DEFAULT_CONFIG
    if lang:  # for what this process and its workers write far from here (transcripts)
        os.environ["MIGRATE_LANG"] = lang
    ctx.obj = Context(Texts(detect_language(lang)), config_path)


def state_option(function):
    return click.option("--state", "state_path", envvar="MIGRATE_STATE", default=DEFAULT_STATE,
                        show_default=True,
                        help="State database: a SQLite file or a SQLAlchemy URL.")(function)


def report_options(function):
    function = click.option("--report-html", type=click.Path(dir_okay=False),
                            help="Write a self-contained HTML report to FILE.")(function)
    function = click.option("--report-json", type=click.Path(dir_okay=False),
                            help="Write the full report as JSON to FILE.")(function)
    return function


def mapping_options(function):
    function = click.option("--map", "map_files", multiple=True, type=click.Path(exists=True),
                            help="Folder mapping TOML file (repeatable).")(function)
    function = click.option("--include", multiple=True, metavar="GLOB",
                            help="Copy only folders matching GLOB (repeatable).")(function)
    function = click.option("--exclude", multiple=True, metavar="GLOB",
                            help="Skip folders matching GLOB (repeatable).")(function)
    return function


KIND_NAMES = ("mail", "calendar", "contacts", "chat")  # connector.Kind, not imported: fast start


def kinds_option(function):
    """``--only KIND``: copy (plan, verify) only these kinds of items."""
    return click.option("--only", "only", multiple=True, type=click.Choice(KIND_NAMES),
                        help="Only this kind of item (repeatable): mail, calendar, "
                             "contacts or chat; default: every kind both ends hold."
                        )(function)


def window_options(function):
    """``--since`` / ``--before``: the received dates a pre-stage or delta pass copies."""
    function = click.option("--before", metavar="DATE",
                            help="Copy only messages received before DATE (YYYY-MM-DD, "
                                 "local midnight): a pre-stage pass.")(function)
    function = click.option("--since", metavar="DATE",
                            help="Copy only messages received on or after DATE "
                                 "(YYYY-MM-DD).")(function)
    return function


def _window(since: str | None, before: str | None):
    from .engine import DateWindow

    return DateWindow.parse(since, before)


def _options(map_files, include, exclude, label=None, only=()):
    from .connector import parse_kinds
    from .engine import CopyOptions
    from .mapping import FolderMapping

    return CopyOptions(mapping=FolderMapping.load(map_files, include, exclude), label=label,
                       kinds=parse_kinds(only))


@main.command()
@click.pass_obj
def connectors(obj: Context) -> None:
    """List installed connectors and what each can do."""
    from .registry import available_schemes, connector_class

    def show() -> None:
        for scheme in available_schemes():
            cls = connector_class(scheme)
            caps = cls.capabilities
            click.echo(f"{scheme:<10} {cls.description}")
            click.echo(f"{'':<10} reads: {', '.join(sorted(caps.reads)) or '-'}; "
                       f"writes: {', '.join(sorted(caps.writes)) or '-'}")
            click.echo(f"{'':<10} keeps as source: {', '.join(sorted(caps.source_keeps)) or '-'}")
            click.echo(f"{'':<10} keeps as target: {', '.join(sorted(caps.target_keeps)) or '-'}")
            if cls.example:
                click.echo(f"{'':<10} e.g. {cls.example}")

    _run(show)


def _print_plan(obj: Context, plan) -> None:
    from .connector import reason_text

    t = obj.texts
    click.echo(t("plan.title", source=plan.source, target=plan.target))
    for folder in plan.folders:
        done = t("plan.done", done=folder.done) if folder.done else ""
        if folder.error:
            done += t("plan.unreadable", error=folder.error)
        click.echo(t("plan.folder", source=folder.source.display(),
                     target=folder.target.display(), messages=folder.stats.messages,
                     size=human_size(folder.stats.bytes), done=done))
    if plan.folders or not any(kind.value == "mail" for kind in plan.left_out):
        click.echo(t("plan.total", folders=len(plan.folders), messages=plan.messages,
                     size=human_size(plan.bytes)))
    if plan.conversations:
        click.echo(t("plan.conversations", count=plan.conversations))
    _print_plan_collections(obj, plan)
    if plan.lost:
        click.echo(t("plan.lost.title"))
        for feature, reason in plan.lost:
            click.echo(t("plan.lost.item", feature=t(f"feature.{feature.value}"),
                         reason=reason_text(reason, t.language)))
    else:
        click.echo(t("plan.lost.none"))


def _print_plan_collections(obj: Context, plan) -> None:
    """Calendars and address books a copy would carry, and the kinds it cannot carry."""
    from .connector import Kind

    t = obj.texts
    for found in plan.collections:
        kind = found.collection.kind.value
        done = t("plan.done", done=found.done) if found.done else ""
        if found.error:
            done += t("plan.unreadable", error=found.error)
        click.echo(t("plan.collection", kind=t(f"plan.kind.{kind}"),
                     path=found.collection.display(), entries=found.stats.messages,
                     noun=t(f"plan.entries.{kind}"), size=human_size(found.stats.bytes),
                     done=done))
    if plan.collections:
        click.echo(t("plan.collections.total", events=plan.entries(Kind.CALENDAR),
                     contacts=plan.entries(Kind.CONTACTS),
                     calendars=sum(c.collection.kind.value == "calendar"
                                   for c in plan.collections),
                     books=sum(c.collection.kind.value == "contacts"
                               for c in plan.collections)))
    if plan.left_out:
        click.echo(t("plan.left_out", kinds=", ".join(t(f"kind.{k.value}")
                                                      for k in plan.left_out)))
    if plan.not_held:
        click.echo(t("plan.not_held", kinds=", ".join(t(f"kind.{k.value}")
                                                      for k in plan.not_held),
                     holds=", ".join(t(f"kind.{k.value}") for k in plan.held) or "-"))


def _plan(obj: Context, source: str, target: str, state_path: str, map_files, include,
          exclude, only=()) -> None:
    from .engine import make_plan
    from .state import StateDB

    def run() -> None:
        options = _options(map_files, include, exclude, only=only)
        src, dst = obj.connector(source), obj.connector(target)
        state = StateDB.open(state_path) if _state_exists(state_path) else None
        _print_plan(obj, make_plan(src, dst, state, options))
        click.echo(obj.texts("plan.nothing_written"))

    _run(run)


def _state_exists(state_path: str) -> bool:
    return "://" in state_path or Path(state_path).exists()


@main.command()
@click.argument("source")
@click.argument("target")
@state_option
@mapping_options
@kinds_option
@click.pass_obj
def plan(obj: Context, source: str, target: str, state_path: str, map_files, include,
         exclude, only) -> None:
    """Show what a copy would do (folders, counts, bytes, mapping, losses); write nothing."""
    _plan(obj, source, target, state_path, map_files, include, exclude, only)


@main.command()
@click.argument("source")
@click.argument("target")
@click.option("--dry-run", is_flag=True, help="Show the plan and write nothing.")
@state_option
@mapping_options
@click.option("--label", help="A name for this job in reports (e.g. the mailbox owner).")
@click.option("--connections", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Folders copied at once, each over its own connection (servers only).")
@click.option("--delete", is_flag=True,
              help="Delete at the target what was deleted at the source since the last "
                   "pass (by default such deletions are only recorded).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option("--log-json", type=click.Path(dir_okay=False),
              help="Append one JSON object per event to FILE (for a SIEM).")
@window_options
@kinds_option
@report_options
@click.pass_obj
def copy(obj: Context, source: str, target: str, dry_run: bool, state_path: str, map_files,
         include, exclude, label: str | None, connections: int, delete: bool, quiet: bool,
         log_json: str | None, since: str | None, before: str | None, only,
         report_json: str | None, report_html: str | None) -> None:
    """Copy SOURCE to TARGET; resumable: run it again to finish or to catch up."""
    if dry_run:
        _plan(obj, source, target, state_path, map_files, include, exclude, only)
        if since or before:
            click.echo(obj.texts("plan.window", since=since or "-", before=before or "-"))
        return
    from . import engine
    from .observe import JsonLog, Observers, ProgressBars
    from .state import StateDB

    def run() -> int:
        options = _options(map_files, include, exclude, label, only)
        options.connections = connections
        options.delete = delete
        options.window = _window(since, before)
        src, dst = obj.connector(source), obj.connector(target)
        state = StateDB.open(state_path)
        observers = []
        if ProgressBars.wanted(quiet):
            observers.append(ProgressBars())
        if log_json:
            observers.append(JsonLog(log_json, {"operator": state.operator,
                                                "pid": os.getpid()}))
        observer = Observers(*observers)
        try:
            result = engine.copy(src, dst, state, options, observer)
        finally:
            observer.close()
        _print_copy_summary(obj, result, delete)
        if report_json or report_html:
            from .report.copy import write_copy_reports

            for path in write_copy_reports(result, src.endpoint.display, dst.endpoint.display,
                                           obj.texts, report_json, report_html):
                click.echo(obj.texts("report.written", path=path))
        return 0 if result.ok else 1

    sys.exit(_run(run))


def _print_copy_summary(obj: Context, result, delete: bool) -> None:
    from .report.copy import pim_lines

    t = obj.texts
    mail = result.by_kind("mail")
    click.echo(t("copy.summary", copied=sum(f.copied for f in mail),
                 size=human_size(sum(f.bytes for f in mail)), seconds=result.seconds,
                 skipped=sum(f.skipped for f in mail), failed=sum(f.failed for f in mail)))
    for line in pim_lines(result, t):
        click.echo(line)
    if updated := sum(f.updated for f in mail):
        click.echo(t("copy.updated", count=updated))
    if result.changed:
        click.echo(t("copy.chat_changed", count=result.changed))
    removed = sum(f.removed for f in mail)
    if removed and not delete:  # with --delete, the copies deleted are said below
        click.echo(t("copy.removed", count=removed))
    if deleted := sum(f.deleted for f in mail):
        click.echo(t("copy.deleted", count=deleted))
    if result.failures:
        click.echo(t("copy.failures"))
        for failure in result.failures[:100]:
            click.echo(t("copy.failure", folder="/".join(failure.folder), key=failure.key,
                         subject=failure.subject or "", error=failure.error))
        if len(result.failures) > 100:
            click.echo(t("copy.more", count=len(result.failures) - 100))


@main.command()
@click.argument("source")
@click.argument("target")
@mapping_options
@kinds_option
@report_options
@click.pass_obj
def verify(obj: Context, source: str, target: str, map_files, include, exclude, only,
           report_json: str | None, report_html: str | None) -> None:
    """Compare SOURCE and TARGET; exit 1 if anything was lost or differs."""
    from .verify import compare

    def run() -> int:
        options = _options(map_files, include, exclude, only=only)
        result = compare(obj.connector(source), obj.connector(target), options)
        _print_comparison(obj, result, report_json or report_html)
        _write_reports(obj, result, report_json, report_html)
        return 0 if result.ok else 1

    sys.exit(_run(run))


def _write_reports(obj: Context, result, report_json: str | None,
                   report_html: str | None) -> None:
    from .report import write_html, write_json

    if report_json:
        write_json(result, report_json)
        click.echo(obj.texts("report.written", path=report_json))
    if report_html:
        write_html(result, report_html, obj.texts)
        click.echo(obj.texts("report.written", path=report_html))


def _print_comparison(obj: Context, result, report: str | None) -> None:
    from .connector import reason_text
    from .report import describe
    from .verify import CHAT_OUTCOMES, OUTCOMES
    from .verify_pim import PIM_OUTCOMES

    t = obj.texts
    click.echo(t("verify.title", source=result.source, target=result.target))
    for folder in result.folders:
        counts = "  ".join(f"{t(f'verify.kind.{o.value}')} {folder.count(o)}"
                           for o in OUTCOMES if folder.count(o))
        error = t("plan.unreadable", error=folder.error) if folder.error else ""
        click.echo(f"  {folder.name:<40} {counts or '-'}{error}")
    for conversation in result.conversations:
        counts = "  ".join(f"{t(f'verify.kind.{o.value}')} {conversation.count(o)}"
                           for o in CHAT_OUTCOMES if conversation.count(o))
        error = t("plan.unreadable", error=conversation.error) if conversation.error else ""
        click.echo(t("verify.conversation", name=conversation.name, counts=counts or "-")
                   + error)
        if conversation.visibility_change:
            click.echo(t("verify.visibility", name=conversation.name,
                         change=conversation.visibility_change))
    for collection in result.collections:
        counts = "  ".join(f"{t(f'verify.kind.{o.value}')} {collection.count(o)}"
                           for o in PIM_OUTCOMES if collection.count(o))
        error = t("plan.unreadable", error=collection.error) if collection.error else ""
        click.echo(t("verify.collection", kind=t(f"plan.kind.{collection.kind.value}"),
                     name=collection.name, counts=counts or "-") + error)
    for item in result.items[:100]:
        summary = item.summary
        detail = describe(item, t)
        click.echo(t("verify.item", kind=t(f"verify.kind.{item.outcome.value}"),
                     folder="/".join(item.folder), date=summary.date or "-",
                     sender=summary.sender or "-", subject=summary.subject or "-",
                     message_id=summary.message_id or "-",
                     detail=f" ({detail})" if detail else ""))
    if len(result.items) > 100:
        click.echo(t("verify.more", count=len(result.items) - 100) + " "
                   + (t("verify.see", path=report) if report else t("verify.ask_report")))
    for name, count in sorted(result.transformations.items()):
        click.echo(t("verify.transformation", name=t(f"transform.{name}"), count=count))
    if result.unverifiable_features:
        click.echo(t("verify.unverifiable",
                     features=", ".join(t(f"feature.{f.value}")
                                        for f in result.unverifiable_features)))
    if result.not_held:
        click.echo(t("verify.not_held", target=result.target))
        for feature, reason in result.not_held:
            click.echo(t("verify.not_held.item", feature=t(f"feature.{feature.value}"),
                         reason=reason_text(reason, t.language)))
    if result.not_compared:
        click.echo(t("verify.not_compared",
                     kinds=", ".join(t(f"kind.{k.value}") for k in result.not_compared)))
    if result.conversations:
        click.echo(t("verify.chat", match=result.chat_total("match"),
                     messages=result.chat_messages))
    for kind in ("calendar", "contacts"):
        if any(c.kind.value == kind for c in result.collections):
            click.echo(t(f"verify.pim.{kind}", match=result.pim_total("match", kind),
                         entries=result.pim_entries(kind)))
    if result.pim_total("transformed"):
        click.echo(t("verify.pim.translated", count=result.pim_total("transformed")))
    if result.ok:
        click.echo(t("verify.ok", count=result.messages))
    else:
        click.echo(t("verify.bad", missing=result.total("missing") + result.chat_total("missing")
                     + result.pim_total("missing"),
                     differ=result.total("differ") + result.chat_total("differ")
                     + result.pim_total("differ"),
                     unverifiable=result.total("unverifiable")))


@main.command()
@click.argument("archive_path", metavar="ARCHIVE", type=click.Path(exists=True, file_okay=False))
@click.option("--via", "via", required=True, metavar="TARGET",
              help="A scratch target (e.g. maildir:/tmp/x or an empty IMAP account).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Where the returned archive is written (default: a temporary directory).")
@click.option("--force", is_flag=True, help="Use TARGET even if it already holds mail.")
@click.option("--certificate", "prefix", default="reversibility-certificate",
              show_default=True, metavar="PREFIX",
              help="Write PREFIX.json, PREFIX.fr.html and PREFIX.en.html.")
@mapping_options
@click.pass_obj
def roundtrip(obj: Context, archive_path: str, via: str, out: str | None, force: bool,
              prefix: str, map_files, include, exclude) -> None:
    """Reversibility dry-run: ARCHIVE → TARGET → new archive, compared and certified."""
    from .report.certificate import write_certificate
    from .roundtrip import roundtrip as run_roundtrip

    def run() -> int:
        t = obj.texts
        cert = run_roundtrip(Path(archive_path), obj.connector(via),
                             out=Path(out) if out else None, force=force,
                             options=_options(map_files, include, exclude))
        _print_comparison(obj, cert.comparison, f"{prefix}.json")
        for source, target in cert.renamed_folders:
            click.echo(t("roundtrip.renamed", source="/".join(source), target="/".join(target)))
        click.echo(t("roundtrip.summary", via=cert.via, identical=cert.identical,
                     messages=cert.messages, percent=cert.identical_percent, lost=cert.lost))
        if cert.pim.entries:
            click.echo(t("roundtrip.pim", returned=cert.pim.returned, entries=cert.pim.entries))
            if cert.pim.translated:
                click.echo(t("roundtrip.pim.translated", translated=cert.pim.translated,
                             via=cert.via))
        click.echo(t("cert.written", paths=", ".join(write_certificate(cert, prefix))))
        return 0 if cert.ok else 1

    sys.exit(_run(run))


@main.command()
@state_option
@click.pass_obj
def status(obj: Context, state_path: str) -> None:
    """Show every job of the state database: state, progress, errors, rate and ETA (works
    from another terminal while a copy or a batch runs)."""
    from .state import StateDB

    def run() -> None:
        if not _state_exists(state_path):
            click.echo(obj.texts("status.none", state=state_path))
            return
        rows = StateDB.open(state_path).job_progress()
        if not rows:
            click.echo(obj.texts("status.none", state=state_path))
            return
        _print_status(obj, rows)

    _run(run)


@main.command()
@state_option
@click.option("--since", metavar="DATE",
              help="Only the events on or after DATE (YYYY-MM-DD, local midnight, or ISO "
                   "8601).")
@click.option("--event", "events", multiple=True, metavar="KIND",
              help="Only this kind of event (repeatable), e.g. target-deleted; "
                   "`--event list` names them all.")
@click.option("--job", "job_id", type=int, metavar="N",
              help="Only the events of job N (its number in `migrate status`).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per line (times in UTC), for a log collector.")
@click.pass_obj
def audit(obj: Context, state_path: str, since: str | None, events: tuple[str, ...],
          job_id: int | None, as_json: bool) -> None:
    """Show the audit log: who ran what and when, deletions, takeovers (append-only)."""
    from .engine import parse_pass_date
    from .errors import ConfigError
    from .report.audit import EVENTS, audit_lines, text_line
    from .state import StateDB

    def run() -> None:
        if "list" in events:
            click.echo("\n".join(EVENTS))
            return
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ConfigError(f"unknown kind of event: {', '.join(unknown)} "
                              f"(known: {', '.join(EVENTS)})")
        if not _state_exists(state_path):
            click.echo(obj.texts("audit.none", state=state_path))
            return
        lines = audit_lines(StateDB.open(state_path), events or None,
                            parse_pass_date(since, "--since"), job_id)
        shown = 0
        for line in lines:
            click.echo(json.dumps(line.as_json(), ensure_ascii=False) if as_json
                       else text_line(line, obj.texts))
            shown += 1
        if not shown and not as_json:
            click.echo(obj.texts("audit.none", state=state_path))

    _run(run)


def _print_status(obj: Context, rows) -> None:
    """The status table: one line per job, then the totals."""
    from .report.batch import duration_text

    t = obj.texts
    names = t.raw("status.columns")
    click.echo(t("status.row", id=names[0], status=names[1], done=names[2], size=names[3],
                 errors=names[4], rate=names[5], eta=names[6], name=names[7]))
    for row in rows:
        job = row.job
        eta = row.eta_seconds
        click.echo(t("status.row", id=job.id, status=t(f"status.state.{job.status}"),
                     done=f"{job.messages_done}/{job.messages_total}",
                     size=f"{human_size(job.bytes_done)}/{human_size(job.bytes_total)}",
                     errors=job.errors,
                     rate=t("status.rate", rate=row.rate) if job.status == "running" else "-",
                     eta=duration_text(eta) if eta is not None else "-",
                     name=job.label or f"{job.source} → {job.target}"))
    states: dict[str, int] = {}
    for row in rows:
        states[row.job.status] = states.get(row.job.status, 0) + 1
    click.echo(t("status.total", jobs=len(rows),
                 states=", ".join(f"{t(f'status.state.{name}')} {count}"
                                  for name, count in sorted(states.items())),
                 done=sum(r.job.messages_done for r in rows),
                 total=sum(r.job.messages_total for r in rows),
                 size=human_size(sum(r.job.bytes_done for r in rows))))


@main.command()
@click.argument("jobs_file", metavar="JOBS.csv", type=click.Path(dir_okay=False))
@click.option("--jobs", "-j", "parallel", type=click.IntRange(1, 256), default=4,
              show_default=True, help="Pairs copied at once, each in its own process.")
@click.option("--check", is_flag=True,
              help="Check the jobs file (columns, endpoints, dates, duplicates) and stop.")
@click.option("--queue/--no-queue", "use_queue", default=None,
              help="Put the pairs in the shared queue of a PostgreSQL state database for "
                   "`migrate worker` processes instead of copying here (default: yes on "
                   "PostgreSQL, no on SQLite).")
@click.option("--wait", "wait_done", is_flag=True,
              help="With the queue: wait until the workers finished every pair, showing "
                   "progress; the exit code is then the batch's.")
@state_option
@window_options
@kinds_option
@click.pass_obj
def batch(obj: Context, jobs_file: str, parallel: int, check: bool, use_queue: bool | None,
          wait_done: bool, state_path: str, since: str | None, before: str | None,
          only: tuple[str, ...]) -> None:
    """Copy every SOURCE → TARGET pair of a CSV file, N at a time; rerun to resume.

    The header names the columns: source and target (endpoint names from the config file,
    or URLs without a password), and optionally label, include, exclude, map, only
    (several values separated by ';'), since and before. The whole file is checked first; a row
    with a problem stops the run before anything is copied. With --since/--before this is
    a pre-stage pass; without, a full (delta) pass that copies only what is new.
    """
    from .batch import pass_key, run_batch
    from .jobs_csv import load_jobs
    from .state import StateDB

    def run() -> int:
        t = obj.texts
        window = _window(since, before)
        specs = load_jobs(jobs_file, obj.config(), window, only)
        click.echo(t("batch.checked", path=jobs_file, jobs=len(specs)))
        if check:
            return 0
        state = StateDB.open(state_path)
        from .queue import is_queue_url

        queued = is_queue_url(state.url) if use_queue is None else use_queue
        if queued and not is_queue_url(state.url):
            click.echo(t("batch.queue_needs_postgresql"), err=True)
            return 2
        if queued:
            return _enqueue_batch(obj, state, specs, pass_key(jobs_file, window, only), jobs_file,
                                  wait_done)

        def finished(outcome, done: int, total: int) -> None:
            key = f"batch.job.{outcome.status}"
            click.echo(t(key, done=done, total=total, name=outcome.spec.name,
                         copied=outcome.copied, failed=outcome.failed,
                         seconds=outcome.seconds, error=outcome.error or ""))

        def started(result) -> None:
            if result.resumed:
                click.echo(t("batch.resumed", skipped=len(result.skipped)))

        result = run_batch(specs, state, obj.config_path, pass_key(jobs_file, window, only),
                           jobs_file, parallel, finished, started)
        if result.interrupted:
            click.echo(t("batch.interrupted"))
        click.echo(t("batch.summary", jobs=len(result.outcomes),
                     done=sum(o.status == "done" for o in result.outcomes),
                     failed=sum(o.status != "done" for o in result.outcomes),
                     copied=sum(o.copied for o in result.outcomes),
                     items=sum(o.failed for o in result.outcomes)))
        return result.exit_code

    sys.exit(_run(run))


def _enqueue_batch(obj: Context, state, specs, key: str, jobs_file: str, wait_done: bool
                   ) -> int:
    """``migrate batch`` on PostgreSQL: open the pass, queue its pairs, optionally wait."""
    from .batch import open_pass
    from .queue import enqueue, wait_for_pass

    t = obj.texts
    result, pending = open_pass(specs, state, key, jobs_file)
    if result.resumed:
        click.echo(t("batch.resumed", skipped=len(result.skipped)))
    done = enqueue(state, result.batch_id, pending)
    click.echo(t("batch.queued", queued=done.queued, already=done.already,
                 skipped=len(result.skipped), state=state.safe_url))
    if not wait_done:
        return 0

    def show(progress) -> None:
        counts = progress.counts
        click.echo(t("batch.progress", batch=result.batch_id, total=len(progress.entries),
                     done=counts["done"], running=counts["running"], failed=counts["failed"],
                     waiting=counts["pending"] + counts["interrupted"]))

    def idle(seconds: float) -> None:
        click.echo(t("batch.no_worker", seconds=round(seconds)))

    progress = wait_for_pass(state, result.batch_id, show, on_idle=idle)
    entries = progress.entries
    click.echo(t("batch.summary", jobs=len(entries),
                 done=sum(e.status == "done" for e in entries),
                 failed=sum(e.status != "done" for e in entries),
                 copied=sum(e.copied for e in entries), items=sum(e.failed for e in entries)))
    return max((e.exit_code or 0 for e in entries), default=0)


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Pairs this worker copies at once.")
@click.option("--stalled-after", type=click.FloatRange(2, 3600), default=60.0,
              show_default=True, metavar="SECONDS",
              help="A worker silent (no heartbeat) this long is taken for dead, and its "
                   "pair is taken over by another worker.")
@state_option
@click.pass_obj
def worker(obj: Context, concurrency: int, stalled_after: float, state_path: str) -> None:
    """Copy pairs queued by `migrate batch` in a PostgreSQL state database, until stopped.

    Run it on as many machines as wanted, each with its own --config holding the
    credentials (the queue holds no secret). A pair whose worker died is taken over.
    """
    from .queue import is_queue_url, run_worker, worker_name
    from .state import StateDB

    def run() -> int:
        t = obj.texts
        state = StateDB.open(state_path)
        if not is_queue_url(state.url):
            click.echo(t("batch.queue_needs_postgresql"), err=True)
            return 2
        click.echo(t("worker.started", name=worker_name(), state=state.safe_url,
                     concurrency=concurrency))
        run_worker(state, obj.config_path, concurrency, stalled_after)
        click.echo(t("worker.stopped", name=worker_name()))
        return 0

    sys.exit(_run(run))


@main.command()
@state_option
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write the per-mailbox report as one HTML page to FILE.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False),
              help="Write the per-mailbox report as CSV (one row per mailbox) to FILE.")
@click.pass_obj
def report(obj: Context, state_path: str, html_path: str | None, csv_path: str | None) -> None:
    """Per-mailbox report from the state database, for the helpdesk: counts, sizes,
    durations, failed items and why."""
    from .errors import ConfigError
    from .report.batch import mailbox_rows, write_mailbox_csv, write_mailbox_html
    from .state import StateDB

    def run() -> None:
        if not html_path and not csv_path:
            raise ConfigError("say where to write the report: --html FILE and/or --csv FILE")
        if not _state_exists(state_path):
            raise ConfigError(f"no state database at {state_path}")
        rows = mailbox_rows(StateDB.open(state_path))
        if html_path:
            write_mailbox_html(rows, html_path, obj.texts)
            click.echo(obj.texts("report.written", path=html_path))
        if csv_path:
            write_mailbox_csv(rows, csv_path)
            click.echo(obj.texts("report.written", path=csv_path))

    _run(run)


@main.group()
def archive() -> None:
    """Check and describe a neutral archive."""


@archive.command("validate")
@click.argument("path", type=click.Path())
@click.pass_obj
def archive_validate(obj: Context, path: str) -> None:
    """Check the bag, every checksum and the index; exit 1 naming what is wrong."""
    from .archive import validate as validate_archive

    def run() -> int:
        result = validate_archive(path)
        t = obj.texts
        click.echo(t("archive.valid", path=path) if result.ok and result.sealed
                   else t("archive.invalid", path=path))
        for problem in result.problems:
            click.echo(f"  {problem}")
        return 0 if result.ok and result.sealed else 1

    sys.exit(_run(run))


@archive.command("people")
@click.argument("path", type=click.Path())
@click.option("--csv", "csv_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the mapping sheet (source_id, upn, display_name, email, "
                   "target_account left empty for the operator).")
@click.pass_obj
def archive_people(obj: Context, path: str, csv_path: str) -> None:
    """Write the identity map of an archive's chat as a CSV mapping sheet to fill in."""
    from .archive.people import people_sheet

    def run() -> int:
        t = obj.texts
        found = people_sheet(Path(path), Path(csv_path))
        if found is None:
            click.echo(t("people.none", path=path))
            return 1
        count, in_directory = found
        click.echo(t("people.written", count=count, found=in_directory, path=csv_path))
        return 0

    sys.exit(_run(run))


@archive.command("show")
@click.argument("path", type=click.Path())
@click.pass_obj
def archive_show(obj: Context, path: str) -> None:
    """Summarise an archive: format, seal, folders with counts and sizes, conversations,
    calendars and address books."""
    from .archive import summary

    def run() -> None:
        found = summary(path)
        t = obj.texts
        click.echo(t("show.head", path=path, version=found.version,
                     sealed=t("show.sealed" if found.sealed else "show.unsealed")))
        click.echo(t("show.mail", messages=found.messages, size=human_size(found.bytes),
                     folders=len(found.folders)))
        for account, count in sorted(found.accounts.items()):
            click.echo(t("show.account", account=account, messages=count))
        for (name, sha256), count in sorted(found.derived.items()):
            click.echo(t("show.derived", file=name, sha256=sha256[:16], messages=count))
        for folder in found.folders:
            role = f" ({folder.role.value})" if folder.role else ""
            span = ""
            if folder.first is not None and folder.last is not None:
                span = f" · {folder.first.date().isoformat()} → {folder.last.date().isoformat()}"
            click.echo(f"    {'/'.join(folder.path)}{role}: {folder.messages} · "
                       f"{human_size(folder.bytes)}{span}")
        click.echo(t("show.chat", messages=found.chat_messages,
                     conversations=len(found.conversations)))
        for conversation in found.conversations:
            click.echo(f"    {conversation.name or conversation.source_id} "
                       f"[{conversation.kind}]: {conversation.messages}")
        for kind in ("calendar", "contacts"):
            rows = [c for c in found.collections if c.kind == kind]
            click.echo(t(f"show.{kind}", entries=found.entries(kind), collections=len(rows)))
            for row in rows:
                click.echo(f"    {'/'.join(row.path)}: {row.entries} · {human_size(row.bytes)}")
        for problem in found.problems:
            click.echo(f"  ! {problem}")

    _run(run)
