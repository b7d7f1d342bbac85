"""Submitter endpoints: create, replace, read, list and delete your own patients.

Every endpoint needs a ``submitter`` (or ``admin``) token; the token's client
name is the patient's owner, so a submitter only ever sees its own cases.
Replacing takes an optional ``If-Match: "<version>"`` header for optimistic
concurrency, and ``If-None-Match: *`` makes a submission create-only (409 if
the patient exists); every answer about one patient carries its version as
``ETag``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mme_node.api.auth import authenticate
from mme_node.api.bodies import read_json
from mme_node.errors import InvalidPatient, InvalidRequest
from mme_node.formats.consent import dump_consent
from mme_node.formats.schemas import dump_patient
from mme_node.model import Consent, PatientRecord
from mme_node.node import Node
from mme_node.security.tokens import Role
from mme_node.services.erasure import ErasureReceipt

JSON_MEDIA_TYPES = frozenset({"application/json"})
MAX_PAGE_SIZE = 500
SUBMISSION_FIELDS = frozenset({"patient", "consent", "disclaimer", "terms"})
"""Fields of a submission body: a match request's (disclaimer, terms ignored) plus consent."""
MAX_OFFSET = 2**31 - 1
"""Far beyond any node's patient count, and within every store's integer range."""
_VERSION_TAG = re.compile(r'(?:W/)?"?([0-9]{1,18})"?', re.ASCII)


def record_json(record: PatientRecord, default_consent: Consent) -> dict[str, Any]:
    """How a stored patient is shown to its submitter, with the consent that applies."""
    consent = record.consent if record.consent is not None else default_consent
    return {
        "patient": dump_patient(record.patient),
        "consent": dump_consent(consent, default=record.consent is None),
        "version": record.version,
        "hpoRelease": record.hpo_release,
        "created": record.created.isoformat() if record.created else None,
        "updated": record.updated.isoformat() if record.updated else None,
        "warnings": list(record.warnings),
    }


def record_response(record: PatientRecord, node: Node, status: int = 200) -> Response:
    return JSONResponse(
        record_json(record, node.sharing.default_consent),
        status_code=status,
        headers={"ETag": f'"{record.version}"'},
    )


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def submit_patient(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    node = _node(request)
    body = await read_json(request, node.settings.max_body_bytes, JSON_MEDIA_TYPES)
    if not isinstance(body, dict) or "patient" not in body:
        raise InvalidPatient('body must be a JSON object with a "patient" field')
    unknown = sorted(k for k in body if k not in SUBMISSION_FIELDS and not k.startswith("_"))
    if unknown:
        # A misspelt "consent" must not leave the patient under the default consent unnoticed.
        raise InvalidPatient(f"{unknown[0]}: is not a field of a submission (patient, consent)")
    expected = _expected_version(request)
    create_only = _create_only(request)
    if create_only and expected is not None:
        raise InvalidRequest("send If-Match (replace a version) or If-None-Match: * (create)")
    record, created = await node.patients.submit(
        client.name, body["patient"], expected, body.get("consent"), create_only=create_only
    )
    return record_response(record, node, 201 if created else 200)


async def get_patient(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    node = _node(request)
    record = await node.patients.get(client.name, request.path_params["patient_id"])
    return record_response(record, node)


async def list_patients(request: Request) -> Response:
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    offset = int_parameter(request, "offset", 0, minimum=0, maximum=MAX_OFFSET)
    limit = int_parameter(request, "limit", 50, minimum=1, maximum=MAX_PAGE_SIZE)
    node = _node(request)
    page = await node.patients.list(client.name, offset, limit)
    return JSONResponse(
        {
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "patients": [
                record_json(record, node.sharing.default_consent) for record in page.records
            ],
        }
    )


async def delete_patient(request: Request) -> Response:
    """Erase one of your patients; the receipt says who had been shown it."""
    client = authenticate(request, Role.SUBMITTER, Role.ADMIN)
    patient_id = request.path_params["patient_id"]
    receipt = await _node(request).erasure.erase(client.name, patient_id, client.name)
    return JSONResponse(receipt_json(receipt))


def receipt_json(receipt: ErasureReceipt) -> dict[str, Any]:
    """An erasure receipt: what went, and who to tell (everyone who was shown the patient)."""
    return {
        "owner": receipt.owner,
        "patientId": receipt.patient_id,
        "erasedAt": receipt.erased_at.isoformat(),
        "auditSubject": receipt.subject,
        "historyRowsErased": receipt.history_rows,
        "shownTo": [
            {
                "recipient": exposure.recipient,
                "first": exposure.first,
                "last": exposure.last,
                "times": exposure.times,
                "levels": list(exposure.levels),
            }
            for exposure in receipt.shown_to
        ],
        "storageWiped": receipt.wiped,
    }


def _expected_version(request: Request) -> int | None:
    header = request.headers.get("if-match")
    if header is None:
        return None
    # ASCII digits only: str.isdigit() also takes "¹" (a raw 0xB9 byte), which int() refuses.
    version = _VERSION_TAG.fullmatch(header.strip())
    if version is None:
        raise InvalidRequest(
            f'If-Match header must be a patient version such as "3", not {header!r}'
        )
    return int(version[1])


def _create_only(request: Request) -> bool:
    """``If-None-Match: *``: create the patient, never replace one (RFC 9110, 13.1.2)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    if header.strip() != "*":
        raise InvalidRequest(
            f"If-None-Match header must be * (create only, never replace), not {header!r}"
        )
    return True


def int_parameter(
    request: Request, name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"query parameter {name} must be a whole number, not {raw!r}"
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise InvalidRequest(f"query parameter {name} must be at least {minimum}{upper}")
    return value


ROUTES = [
    Route("/api/patients", submit_patient, methods=["POST"]),
    Route("/api/patients", list_patients, methods=["GET"]),
    Route("/api/patients/{patient_id}", get_patient, methods=["GET"]),
    Route("/api/patients/{patient_id}", delete_patient, methods=["DELETE"]),
]
