"""``mme-node audit verify | export | shown``: check and read the audit log.

``verify`` recomputes the hash chain and names the first entry that was
changed or removed (exit code 1), ``export`` writes entries as JSON lines,
``shown`` answers "who was shown this patient?" from the log, which outlives
the patient's erasure. The other commands use :func:`record_events` to log
what they change (tokens, peers) with the operator's user name as actor.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from mme_node.commands._output import output
from mme_node.security.audit import AuditEntry, AuditEvent, AuditLog
from mme_node.security.keys import NodeKey
from mme_node.security.pseudonyms import Pseudonyms
from mme_node.settings import Settings


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "audit",
        help="verify, export and query the audit log",
        description="The append-only, hash-chained log of every disclosure and security "
        "event (docs/governance.md).",
    )
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser(
        "verify",
        help="recompute the hash chain; name the first entry changed or removed",
        description="Exit code 0: the log is intact; 1: an entry was changed or removed.",
    )
    verify.set_defaults(handler=verify_log)

    export = actions.add_parser(
        "export", help="write entries as JSON lines (seq, hash and the entry's fields)"
    )
    export.add_argument(
        "--since", type=_moment, help="only entries at or after this date or time (ISO 8601, UTC)"
    )
    export.add_argument(
        "--event", choices=[event.value for event in AuditEvent], help="only this kind of entry"
    )
    export.add_argument("--output", "-o", type=Path, help="write to this file, not stdout")
    export.set_defaults(handler=export_log)

    shown = actions.add_parser(
        "shown",
        help="who was shown a patient (erased or not), from the log",
        description="Every recipient (peer, or local:<submitter>) shown the patient, with "
        "when, how often and at which levels.",
    )
    shown.add_argument("patient_id", help="the submitter's id of the patient")
    shown.add_argument("--owner", required=True, help="the submitter (client name) it belongs to")
    shown.set_defaults(handler=shown_to)


def cli_actor() -> str:
    """Who ran this command, as the audit log names them: ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def audit_log(settings: Settings) -> AuditLog:
    return AuditLog(settings.database_path, NodeKey.in_data_dir(settings.data_dir))


def record_events(settings: Settings, *entries: AuditEntry) -> None:
    """Append ``entries`` to the node's audit log, durably, before returning."""
    log = audit_log(settings)
    try:
        log.record_now(*entries)
    finally:
        log.close()


def verify_log(args: argparse.Namespace, settings: Settings) -> int:
    log = audit_log(settings)
    try:
        found = log.verify_now()
    finally:
        log.close()
    if found.ok:
        print(f"Audit log intact: {found.entries} entries.")
        print(f"Head: entry {found.head_seq}, hash {found.head_hash}")
        print("Keep the head somewhere else: a later verify must reach it again.")
        return 0
    print(f"Audit log BROKEN: {found.problem}.")
    print(f"{found.entries} entries read; head: entry {found.head_seq}.")
    return 1


def export_log(args: argparse.Namespace, settings: Settings) -> int:
    event = AuditEvent(args.event) if args.event else None
    log = audit_log(settings)
    try:
        with output(args.output) as out:
            written = 0
            for stored in log.iter_entries(since=args.since, event=event):
                line = {"seq": stored.seq, **stored.document, "hash": stored.hash}
                out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                written += 1
    finally:
        log.close()
    where = "" if args.output is None else f" to {args.output}"
    print(f"Exported {written} audit entries{where}.", file=sys.stderr)
    return 0


def shown_to(args: argparse.Namespace, settings: Settings) -> int:
    subject = Pseudonyms.in_data_dir(settings.data_dir).subject(args.owner, args.patient_id)
    log = audit_log(settings)
    try:
        exposures = log.exposures_now(subject)
    finally:
        log.close()
    if not exposures:
        print(f"The audit log records no one shown {args.owner}'s patient {args.patient_id!r}.")
        return 0
    print(f"{args.owner}'s patient {args.patient_id!r} (audit subject {subject}) was shown to:")
    for exposure in exposures:
        levels = ", ".join(exposure.levels)
        print(
            f"  {exposure.recipient}: {exposure.times} times, {exposure.first} to "
            f"{exposure.last}, at {levels}"
        )
    return 0


def _moment(text: str) -> datetime:
    """A date (midnight UTC) or a date and time (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date or time (e.g. 2026-01-31)"
        ) from None
    if isinstance(moment, date) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
