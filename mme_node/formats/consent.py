"""The consent JSON of a submission <-> :class:`mme_node.model.Consent`.

A submission is ``{"patient": {...}, "consent": {...}}`` (the API body, or one
document of an import file); this module validates the ``consent`` part::

    {"sharing": "countries", "countries": ["GB", "FR"], "disclosure": "genes",
     "dataUse": [{"id": "DUO:0000042"}, {"id": "DUO:0000022", "countries": ["GB"]}]}

Errors name the field (``consent.countries[1]: "UK" is not an ISO 3166 alpha-2
code``) like the patient's. Non-standard fields starting with ``_`` are
ignored, as in MME JSON; any other unknown field is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from mme_node.errors import InvalidPatient
from mme_node.formats.schemas import error_paths, openapi_object_schema
from mme_node.model import Consent, DataUse, DisclosureLevel, Sharing
from mme_node.security.consent import DATA_USE_CODES, DataUseEffect

_REQUIRED = {"required": "is required", "null": "must not be null"}


def _country_list(description: str) -> fields.List:  # type: ignore[type-arg]
    country = fields.String(
        validate=validate.Regexp(r"^[A-Z]{2}$", error='"{input}" is not an ISO 3166 alpha-2 code'),
        error_messages={"invalid": "must be a string"},
    )
    return fields.List(
        country,
        allow_none=True,
        error_messages={"invalid": "must be a list"},
        metadata={"description": description},
    )


def _choice(choices: list[str], description: str) -> fields.String:
    return fields.String(
        required=True,
        validate=validate.OneOf(choices, error='"{input}" is not one of {choices}'),
        error_messages={**_REQUIRED, "invalid": "must be a string"},
        metadata={"description": description},
    )


class _ConsentPartSchema(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": 'is not a consent field (non-standard fields must start with "_")',
        "type": "must be an object",
    }

    @pre_load
    def _drop_non_standard_fields(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {k: v for k, v in data.items() if not (isinstance(k, str) and k[:1] == "_")}


class DataUseSchema(_ConsentPartSchema):
    id = fields.String(
        required=True,
        validate=validate.OneOf(
            list(DATA_USE_CODES), error='"{input}" is not a DUO code this node knows'
        ),
        error_messages={**_REQUIRED, "invalid": "must be a string"},
        metadata={"description": "A GA4GH Data Use Ontology code (see docs/governance.md)."},
    )
    label = fields.String(
        allow_none=True,
        metadata={"description": "The code's name; ignored on input, filled in on output."},
    )
    countries = _country_list("Countries of a geographical restriction (DUO:0000022) only.")

    @validates_schema
    def _countries_with_geography_only(self, data: dict[str, Any], **kwargs: Any) -> None:
        known = DATA_USE_CODES.get(data.get("id", ""))
        if known is None:
            return
        if known.effect is DataUseEffect.COUNTRIES and not data.get("countries"):
            raise ValidationError(f"{known.code} needs the countries it allows", "countries")
        if known.effect is not DataUseEffect.COUNTRIES and data.get("countries"):
            raise ValidationError(f"{known.code} takes no countries", "countries")


class ConsentSchema(_ConsentPartSchema):
    sharing = _choice(
        [sharing.value for sharing in Sharing],
        "Where the patient may be matched: local (this node only), countries (peers in "
        "`countries`), all (every peer).",
    )
    countries = _country_list("ISO 3166 alpha-2 codes of the peers' countries (sharing countries).")
    disclosure = _choice(
        [level.value for level in DisclosureLevel],
        "What a match may show: contact, phenotype, genes or variants (each adds to the "
        "one before).",
    )
    data_use = fields.List(
        fields.Nested(DataUseSchema),
        data_key="dataUse",
        allow_none=True,
        error_messages={"invalid": "must be a list"},
        metadata={"description": "DUO codes of the consent."},
    )

    @validates_schema
    def _countries_with_sharing_countries(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("sharing") == Sharing.COUNTRIES.value and not data.get("countries"):
            raise ValidationError('sharing "countries" needs at least one country', "countries")
        if data.get("sharing") != Sharing.COUNTRIES.value and data.get("countries"):
            raise ValidationError('countries are given with sharing "countries" only', "countries")


_CONSENT = ConsentSchema()


def load_consent(data: object, root: str = "consent") -> Consent:
    """Validate a consent object; ``InvalidPatient`` (422) names every bad field."""
    try:
        loaded: dict[str, Any] = _CONSENT.load(data)  # type: ignore[arg-type]
    except ValidationError as error:
        raise InvalidPatient.listing(list(error_paths(error.messages, root))) from error
    return Consent(
        sharing=Sharing(loaded["sharing"]),
        disclosure=DisclosureLevel(loaded["disclosure"]),
        countries=tuple(dict.fromkeys(loaded.get("countries") or ())),
        data_use=tuple(
            DataUse(code=use["id"], countries=tuple(dict.fromkeys(use.get("countries") or ())))
            for use in loaded.get("data_use") or ()
        ),
    )


def dump_consent(consent: Consent, *, default: bool = False) -> dict[str, Any]:
    """The consent as shown to its submitter; ``default`` says it is the node's default."""
    document: dict[str, Any] = {
        "sharing": consent.sharing.value,
        "disclosure": consent.disclosure.value,
    }
    if consent.countries:
        document["countries"] = list(consent.countries)
    if consent.data_use:
        document["dataUse"] = [_dump_data_use(use) for use in consent.data_use]
    document["default"] = default
    return document


def _dump_data_use(use: DataUse) -> dict[str, Any]:
    known = DATA_USE_CODES.get(use.code)
    document: dict[str, Any] = {"id": use.code}
    if known is not None:
        document["label"] = known.label
    if use.countries:
        document["countries"] = list(use.countries)
    return document


def consent_openapi_schema() -> dict[str, Any]:
    """The OpenAPI schema of a consent object (``default`` is output only)."""
    schema = openapi_object_schema(ConsentSchema(), "What the patient consented to.")
    schema["properties"]["default"] = {
        "type": "boolean",
        "description": "Output only: true when none was given and the node's default applies.",
    }
    return schema


__all__ = ["ConsentSchema", "consent_openapi_schema", "dump_consent", "load_consent"]
