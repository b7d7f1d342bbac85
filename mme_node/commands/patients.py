"""``mme-node patients import | export | list | count``: bulk work on the stored patients.

Every command starts the node's own wiring (:func:`~mme_node.node.start_node`)
on the data dir, so an import applies exactly the validation and
normalisation of the submitter API. The demo patients are never loaded here:
a command touches only the patients it names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, TextIO

from marshmallow import ValidationError

from mme_node.commands._output import output
from mme_node.commands._program import command_name
from mme_node.commands.audit import cli_actor
from mme_node.errors import InvalidRequest, MMEError
from mme_node.formats.consent import dump_consent, load_consent
from mme_node.formats.schemas import ContactSchema, dump_patient
from mme_node.model import Consent, Contact, DisclosureLevel, PatientRecord, Sharing
from mme_node.node import Node, running_node
from mme_node.progress import ProgressBar
from mme_node.security.tokens import CLIENT_NAME, Role, TokenRegistry
from mme_node.services.erasure import ErasureReceipt
from mme_node.services.importing import (
    MISSING_CONTACT,
    Case,
    CasePreparer,
    ImportFormat,
    read_cases,
)
from mme_node.settings import Settings
from mme_node.stores.base import ImportReport

LIVE_NOTE = (
    "A server running on this data dir matches against these patients within a second "
    "(no restart needed)."
)

#: Exported JSON keeps the v1.1 contact fields (email, roles), so that a
#: re-import gives back equal patients.
EXPORT_VERSION = "1.1"


def owner_name(value: str) -> str:
    """An ``--owner`` argument: a client name ``tokens create`` accepts (else a usage error)."""
    if not CLIENT_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a client name: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (as `mme-node tokens create --name` accepts)"
        )
    return value


def check_owner(settings: Settings, owner: str) -> None:
    """Refuse an owner that is not an active submitter: its patients would belong to nobody."""
    with TokenRegistry(settings.database_path) as registry:
        client = next((c for c in registry.list() if c.name == owner), None)
    if client is None:
        raise InvalidRequest(
            f"no client named {owner!r}, so nobody could see or match these patients; "
            f"create it first: {command_name()} tokens create --name {owner} --role submitter"
        )
    if client.role is not Role.SUBMITTER:
        raise InvalidRequest(
            f"client {owner!r} is a {client.role.value}; only a submitter owns patients"
        )
    if not client.active:
        raise InvalidRequest(f"client {owner!r} was revoked; its patients cannot be changed")


def register(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = groups.add_parser(
        "patients",
        help="import, export, list and count patients",
        description="Bulk work on the node's patients, through the same validation as the API.",
    )
    actions = parser.add_subparsers(dest="patients_command", required=True, metavar="ACTION")

    load = actions.add_parser(
        "import",
        help="import MME patient JSON or phenopackets from a file or directory",
        description="Create or replace patients of OWNER from MME patient JSON (one patient, "
        '{"patient": ..., "consent": ...}, or a list) or GA4GH Phenopacket v2 files; a '
        "directory is walked for *.json. Bad records are reported and skipped. Exit code 0: "
        "all imported, 1: some rejected, 2: nothing could be done.",
    )
    load.add_argument("path", type=Path, metavar="FILE|DIR", help="a JSON file or a directory")
    load.add_argument(
        "--owner",
        required=True,
        type=owner_name,
        help="the submitter they belong to: a client made with `tokens create --role submitter`",
    )
    load.add_argument(
        "--format",
        choices=[f.value for f in ImportFormat],
        default=ImportFormat.AUTO.value,
        help="auto (default) tells phenopackets from MME JSON by their metaData",
    )
    contact = load.add_argument_group(
        "contact for phenopackets", "Phenopackets name no contact; every one gets this one."
    )
    contact.add_argument("--contact-name", help="person or team to contact about a match")
    contact.add_argument("--contact-href", help="http(s) or mailto URL to reach them")
    contact.add_argument("--contact-institution", help="their institution")
    contact.add_argument("--contact-email", help="their email address")
    consent = load.add_argument_group(
        "consent",
        'For every patient imported without its own consent (documents {"patient": ..., '
        '"consent": ...} carry theirs). Without these flags such patients get the node\'s '
        "default consent (docs/governance.md).",
    )
    consent.add_argument(
        "--sharing",
        choices=[sharing.value for sharing in Sharing],
        help="where they may be matched: this node only, peers in --countries, every peer",
    )
    consent.add_argument(
        "--countries", help="ISO 3166 alpha-2 codes, comma-separated (with --sharing countries)"
    )
    consent.add_argument(
        "--disclosure",
        choices=[level.value for level in DisclosureLevel],
        help="what a match may show (each level adds to the one before)",
    )
    load.set_defaults(handler=import_patients)

    export = actions.add_parser(
        "export",
        help="write the stored patients as an MME JSON list",
        description="Write the stored patients (normalised) as an MME JSON list that "
        "`patients import` reads back.",
    )
    export.add_argument(
        "--owner", help="only this submitter's patients (default: all)", type=owner_name
    )
    export.add_argument("--output", "-o", type=Path, help="write to this file, not stdout")
    export.set_defaults(handler=export_patients)

    listing = actions.add_parser("list", help="list stored patients by owner and id")
    listing.add_argument(
        "--owner", help="only this submitter's patients (default: all)", type=owner_name
    )
    listing.set_defaults(handler=list_patients)

    count = actions.add_parser("count", help="print the number of stored patients")
    count.add_argument(
        "--owner", help="only this submitter's patients (default: all)", type=owner_name
    )
    count.set_defaults(handler=count_patients)

    delete = actions.add_parser(
        "delete",
        help="erase a patient and everything that mentions it",
        description="Erase one patient: its record, its match history and the results peers "
        "sent about it; the bytes are wiped from the database file and its log. The audit "
        "log keeps an erasure entry. Prints who had been shown the patient, so they can be "
        "told. A running server stops matching it at once.",
    )
    delete.add_argument("patient_id", help="the submitter's id of the patient")
    delete.add_argument(
        "--owner", required=True, help="the submitter it belongs to", type=owner_name
    )
    delete.set_defaults(handler=delete_patient)


def import_patients(args: argparse.Namespace, settings: Settings) -> int:
    check_owner(settings, args.owner)
    format = ImportFormat(args.format)
    contact = _contact(args)
    if format is ImportFormat.PHENOPACKET and contact is None:
        raise InvalidRequest(MISSING_CONTACT)
    consent = _consent(args)
    cases = read_cases(args.path, format)
    report, warned = asyncio.run(_import(settings, args.owner, cases, contact, consent))
    # Warnings first: the rejections and the totals stay in view at the end.
    if warned:
        print(f"Warnings ({_patients(len(warned))} changed on the way in):")
        for label, warnings in warned:
            for warning in warnings:
                print(f"  {label}: {warning}")
    if report.rejected:
        print("Rejected:")
        for rejection in report.rejected:
            print(f"  {rejection.patient_id}: {rejection.reason}")
    rejected = len(report.rejected)
    print(f"Imported {_patients(report.imported)} for owner {args.owner!r}, rejected {rejected}.")
    if report.imported:
        print(LIVE_NOTE)
    return 1 if report.rejected else 0


async def _import(
    settings: Settings,
    owner: str,
    cases: Iterable[Case],
    contact: Contact | None,
    consent: Consent | None,
) -> tuple[ImportReport, list[tuple[str, tuple[str, ...]]]]:
    async with running_node(settings) as node:
        preparer = CasePreparer(node.patients, contact, consent)
        with ProgressBar("importing") as bar:
            report = await node.patients.import_many(
                owner, ((case.label, case) for case in cases), bar.advance, preparer
            )
    return report, preparer.warned


def _contact(args: argparse.Namespace) -> Contact | None:
    """The contact the flags describe, validated like a patient's; None if none given."""
    given = {
        "name": args.contact_name,
        "href": args.contact_href,
        "institution": args.contact_institution,
        "email": args.contact_email,
    }
    if all(value is None for value in given.values()):
        return None
    try:
        loaded = ContactSchema().load({k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(
            f"--contact-{name}: {' '.join(map(str, messages))}"
            for name, messages in sorted(error.messages_dict.items())
        )
        raise InvalidRequest(f"bad contact: {problems}") from error
    return Contact(**loaded)


def _consent(args: argparse.Namespace) -> Consent | None:
    """The consent the flags describe, validated like a submitted one; None if none given."""
    if args.sharing is None and args.countries is None and args.disclosure is None:
        return None
    given: dict[str, object] = {"sharing": args.sharing, "disclosure": args.disclosure}
    if args.countries is not None:
        given["countries"] = [code.strip() for code in args.countries.split(",") if code.strip()]
    try:
        return load_consent({k: v for k, v in given.items() if v is not None})
    except MMEError as error:
        flags = error.message.replace("consent.", "--")
        raise InvalidRequest(f"bad consent: {flags}") from error


def export_patients(args: argparse.Namespace, settings: Settings) -> int:
    with output(args.output) as out:
        written = asyncio.run(_export(settings, args.owner, out))
    where = "" if args.output is None else f" to {args.output}"
    print(f"Exported {_patients(written)}{where}.", file=sys.stderr)
    return 0


async def _export(settings: Settings, owner: str | None, out: TextIO) -> int:
    """One patient per line inside a JSON list; returns how many were written."""
    written = 0
    async with running_node(settings) as node:
        out.write("[")
        async for record in _stored(node, owner):
            document = _exported(record)
            out.write(",\n" if written else "\n")
            out.write(json.dumps(document, ensure_ascii=False))
            written += 1
        out.write("\n]\n")
    return written


def _exported(record: PatientRecord) -> dict[str, Any]:
    """The patient, wrapped with its consent when it has one of its own (as import reads it)."""
    patient = dump_patient(record.patient, EXPORT_VERSION)
    if record.consent is None:
        return patient
    consent = dump_consent(record.consent)
    del consent["default"]
    return {"patient": patient, "consent": consent}


def list_patients(args: argparse.Namespace, settings: Settings) -> int:
    records = sorted(asyncio.run(_all_stored(settings, args.owner)), key=lambda r: r.key)
    if not records:
        print("No patients stored.")
        return 0
    id_width = max(len("ID"), *(len(r.patient.id) for r in records))
    owner_width = max(len("OWNER"), *(len(r.owner) for r in records))
    print(f"{'ID':<{id_width}}  {'OWNER':<{owner_width}}  VERSION  {'HPO':<10}  UPDATED")
    for record in records:
        updated = f"{record.updated:%Y-%m-%dT%H:%M:%SZ}" if record.updated else "-"
        print(
            f"{record.patient.id:<{id_width}}  {record.owner:<{owner_width}}  "
            f"{record.version:>7}  {record.hpo_release:<10}  {updated}"
        )
    return 0


async def _all_stored(settings: Settings, owner: str | None) -> list[PatientRecord]:
    async with running_node(settings) as node:
        return [record async for record in _stored(node, owner)]


def count_patients(args: argparse.Namespace, settings: Settings) -> int:
    print(asyncio.run(_count(settings, args.owner)))
    return 0


async def _count(settings: Settings, owner: str | None) -> int:
    async with running_node(settings) as node:
        page = await node.patients.list(owner, 0, 1)
    return page.total


def delete_patient(args: argparse.Namespace, settings: Settings) -> int:
    receipt = asyncio.run(_erase(settings, args.owner, args.patient_id))
    when = f"{receipt.erased_at:%Y-%m-%dT%H:%M:%SZ}"
    print(f"Erased {receipt.owner}'s patient {receipt.patient_id!r} at {when}.")
    print(f"  {receipt.history_rows} match history rows erased")
    print(f"  audit subject {receipt.subject}")
    if not receipt.wiped:
        print("  The database log is in use: its old pages are wiped at the next checkpoint.")
    if not receipt.shown_to:
        print("  The audit log records no one shown this patient.")
        return 0
    print("  It had been shown to (tell them):")
    for exposure in receipt.shown_to:
        print(
            f"    {exposure.recipient}: {exposure.times} times, last {exposure.last}, at "
            f"{', '.join(exposure.levels)}"
        )
    return 0


async def _erase(settings: Settings, owner: str, patient_id: str) -> ErasureReceipt:
    async with running_node(settings) as node:
        return await node.erasure.erase(owner, patient_id, cli_actor())


async def _stored(node: Node, owner: str | None) -> AsyncIterator[PatientRecord]:
    """Stored records of ``owner`` (all when None) in storage order.

    A scan rather than pages: store listings may stop at a result window
    (Elasticsearch: 10,000) that an export must not.
    """
    async for record in node.store.iter_records():
        if owner is None or record.owner == owner:
            yield record


def _patients(count: int) -> str:
    return f"{count} patient" if count == 1 else f"{count} patients"
