"""The MME patient JSON (search-api v1.0 and v1.1) <-> :class:`mme_node.model.Patient`.

This is the one place where patient JSON is validated. :func:`load_patient`
either returns a :class:`Patient` (plus warnings about what it repaired) or
raises :class:`InvalidPatient` whose message lists every problem with its
field path, e.g. ``patient.features[2].id: "HP:12" is not an HPO id
(HP:nnnnnnn)``. The accepted format and every leniency are documented in
``docs/patients.md``; in short:

* fields whose name starts with ``_`` are non-standard (spec) and ignored,
  except the node's own normalisation fields (``_hgncId``, ``_submittedId``
  ...); any other unknown field is rejected by name so that typos and
  pre-1.0 fields (``genes``, ``variants``) do not silently lose data;
* ``null`` for an optional field means "not given";
* ``observed`` missing means "yes"; ``"unknown"`` (pre-1.0) carries no
  information, so such a feature is dropped with a warning;
* a variant without ``start`` is dropped with a warning, its gene is kept;
  ``start == end`` is read as a 1-based position (see :func:`_variant_from`).

Output (:func:`dump_patient`) is always the canonical form, which
:func:`patient_openapi_schema` describes; it adds the normalisation results
as underscore fields so that ``load_patient(dump_patient(p)) == p``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    pre_load,
    validate,
    validates_schema,
)
from marshmallow.types import ErrorMessages

from mme_node.errors import InvalidPatient
from mme_node.formats.dumping import compile_dumper
from mme_node.model import (
    Contact,
    Feature,
    GenomicFeature,
    OntologyClass,
    Patient,
    Sex,
    Variant,
    canonical_reference_name,
)
from mme_node.stores.codec import gene_from_document

SUPPORTED_VERSIONS = ("1.0", "1.1")

#: Contact fields that the spec marks "since v1.1"; a v1.0 document omits them.
V1_1_CONTACT_FIELDS = ("email", "roles")

HPO_ID = r"^HP:\d{7}$"
SO_ID = r"^SO:\d{7}$"
CURIE = r"^[A-Za-z][A-Za-z0-9_.-]*:\S+$"
SPECIES = r"^NCBITaxon:\d+$"
ASSEMBLY = r"^(NCBI36|GRCh37|GRCh38)(\.p\d+)?$"
REFERENCE_NAME = r"^([1-9]|1\d|2[0-2]|X|Y|M)$"
#: Disorder ids the deployed nodes' schema admits; others are sent as ``_otherDisorders``.
MME_DISORDER_ID = r"^(MIM|Orphanet):\d{1,6}$"
#: Prefixes written for OMIM and Orphanet, by their case-folded spelling.
_DISORDER_PREFIXES = {"mim": "MIM", "omim": "MIM", "orpha": "Orphanet", "orphanet": "Orphanet"}
BASES = r"^[ACGTN]+$"
#: http(s) and mailto only: the href is shown to clinicians as a link, and other
#: schemes (javascript:, data:) would be a hazard rather than a contact.
CONTACT_HREF = r"^(https?://[^\s/]+\S*|mailto:[^\s@]+@\S+)$"
MAX_TEXT = 255
#: Caps per patient, far above any real case (the 50 MME benchmark patients have
#: at most 27 features and 3 genes; 4,800 published cases at most 151 terms): they
#: bound the work one request can cause (validation, normalisation, matching).
MAX_FEATURES = 500
MAX_GENOMIC_FEATURES = 100
MAX_DISORDERS = 50
#: Longer than any human chromosome (chr1: 249,250,621 bases in GRCh37).
MAX_POSITION = 250_000_000
ROLES = ("clinician", "researcher", "patient")
_ASSEMBLY_ALIASES = {"hg18": "NCBI36", "hg19": "GRCh37", "hg38": "GRCh38"}


# ---------------------------------------------------------------- leniencies
# Field pre_load functions run on the raw value before type checks, so each
# passes anything that is not a string through unchanged for the type check
# to report.


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _canonical_species(value: Any) -> Any:
    """``9606`` (pre-1.0 spec) and ``ncbitaxon:9606`` become ``NCBITaxon:9606``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return f"NCBITaxon:{text}"
    prefix, _, local = text.partition(":")
    return f"NCBITaxon:{local}" if prefix.casefold() == "ncbitaxon" else text


def _canonical_assembly(value: Any) -> Any:
    """Case-insensitive ``GRCh37[.pN]``/``NCBI36``; UCSC names map to their GRC builds."""
    if not isinstance(value, str):
        return value
    build, dot, patch = value.strip().partition(".")
    key = build.casefold()
    canonical = _ASSEMBLY_ALIASES.get(key) or next(
        (name for name in ("NCBI36", "GRCh37", "GRCh38") if name.casefold() == key), build
    )
    return f"{canonical}{dot}{patch.lower()}"


def _canonical_reference_name(value: Any) -> Any:
    """``chr1`` -> ``1``, ``x`` -> ``X``, ``MT``/``chrM`` -> ``M``."""
    return canonical_reference_name(value) if isinstance(value, str) else value


def canonical_disorder_id(disorder_id: str) -> str:
    """``OMIM:``/``mim:`` -> ``MIM:``, ``ORPHA:`` -> ``Orphanet:``; other ids unchanged.

    The spec names ``MIM:`` and ``Orphanet:``, and deployed nodes refuse the
    other spellings with 422, so these are the only ones the node writes.
    """
    prefix, colon, local = disorder_id.partition(":")
    canonical = _DISORDER_PREFIXES.get(prefix.casefold())
    return f"{canonical}:{local}" if colon and canonical else disorder_id


# ---------------------------------------------------------------- fields
# Subclasses only to word the errors for humans; the messages follow the
# field path in InvalidPatient ("patient.contact.href: is required").


class _Messages:
    default_error_messages: ErrorMessages = {"required": "is required", "null": "must not be null"}


class _Text(_Messages, fields.String):
    default_error_messages: ErrorMessages = {"invalid": "must be a string"}


class _Integer(_Messages, fields.Integer):
    default_error_messages: ErrorMessages = {"invalid": "must be an integer"}


class _Boolean(_Messages, fields.Boolean):
    default_error_messages: ErrorMessages = {"invalid": "must be true or false"}


class _Email(_Messages, fields.Email):
    default_error_messages: ErrorMessages = {
        "invalid": '"{input}" is not an email address',
        "not_text": "must be a string",
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        # String's own type error carries no {input}: word it here instead of failing to.
        if not isinstance(value, str):
            raise self.make_error("not_text")
        return super()._deserialize(value, attr, data, **kwargs)


class _List(_Messages, fields.List):  # type: ignore[type-arg]
    """A list, refused before its items are read when it is longer than ``max_items``."""

    default_error_messages: ErrorMessages = {
        "invalid": "must be a list",
        "too_long": "has {count} items; at most {max_items} are accepted",
    }

    def __init__(self, *args: Any, max_items: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_items = max_items

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        if self.max_items is not None and isinstance(value, list) and len(value) > self.max_items:
            raise self.make_error("too_long", count=len(value), max_items=self.max_items)
        return super()._deserialize(value, attr, data, **kwargs)


class _Nested(_Messages, fields.Nested):
    pass


class _SexField(_Messages, fields.Field[Sex]):
    """The spec's upper-case words, read case-insensitively."""

    choices = tuple(sex.value for sex in Sex)
    default_error_messages: ErrorMessages = {
        "invalid": '"{input}" is not one of ' + ", ".join(choices)
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Sex:
        word = _upper(value)
        if word not in self.choices:
            raise self.make_error("invalid", input=value)
        return Sex(word)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value.value)


class _Observed(_Messages, fields.Field[str]):
    """``"yes"``/``"no"`` in JSON; loads the word (``"unknown"`` too), dumps a bool.

    The model keeps a bool; what to do with ``"unknown"`` is decided when the
    patient is built, where the warning can name the feature.
    """

    default_error_messages: ErrorMessages = {"invalid": '"{input}" is not "yes" or "no"'}
    words = ("yes", "no", "unknown")

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        word = _lower(value)
        if word not in self.words:
            raise self.make_error("invalid", input=value)
        return str(word)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return "yes" if value else "no"


def _text(
    description: str,
    *,
    data_key: str | None = None,
    required: bool = False,
    max_length: int | None = None,
    pattern: str | None = None,
    error: str = "",
    pre_load: Callable[[Any], Any] | None = None,
) -> _Text:
    """A string field; optional ones accept ``null`` as "not given"."""
    validators: list[validate.Validator] = []
    if max_length is not None:
        validators.append(
            validate.Length(min=1, max=max_length, error=f"must be 1 to {max_length} characters")
        )
    if pattern is not None:
        validators.append(validate.Regexp(pattern, error=f'"{{input}}" {error}'))
    return _Text(
        data_key=data_key,
        required=required,
        allow_none=not required,
        validate=validators,
        pre_load=pre_load,
        metadata={"description": description},
    )


def _hpo_id(description: str, *, data_key: str | None = None, required: bool = False) -> _Text:
    return _text(
        description,
        data_key=data_key,
        required=required,
        pattern=HPO_ID,
        error="is not an HPO id (HP:nnnnnnn)",
        pre_load=_stripped,
    )


def _list_of(
    schema: type[Schema], description: str, max_items: int, *, data_key: str | None = None
) -> _List:
    return _List(
        _Nested(schema),
        data_key=data_key,
        allow_none=True,
        max_items=max_items,
        metadata={"description": f"{description} At most {max_items}."},
    )


# ---------------------------------------------------------------- schemas


class _MMESchema(Schema):
    """Common rules: underscore fields ignored, other unknown fields rejected.

    A schema may declare underscore fields of its own (``_hgncId``): those are
    the node's own non-standard fields and are read back, not ignored.
    """

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": 'is not an MME field (non-standard fields must start with "_")',
        "type": "must be an object",
    }

    @pre_load
    def _drop_non_standard_fields(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        own = {f.data_key or name for name, f in self.load_fields.items()}
        return {
            k: v for k, v in data.items() if not (isinstance(k, str) and k[:1] == "_") or k in own
        }

    @post_dump
    def _drop_unset_fields(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None and v != [] and v is not False}


class ContactSchema(_MMESchema):
    name = _text(
        "Human-readable name of the person or organisation to contact.",
        required=True,
        max_length=MAX_TEXT,
    )
    institution = _text("Institution of the contact.", max_length=MAX_TEXT)
    href = _text(
        "Public URL (http, https or mailto) for contacting the owner of the record.",
        required=True,
        pattern=CONTACT_HREF,
        error="is not an http(s) or mailto URL",
        pre_load=_stripped,
    )
    email = _Email(
        allow_none=True,
        pre_load=_stripped,
        metadata={"description": "Email address of the contact (since v1.1)."},
    )
    roles = _List(
        _Text(
            validate=validate.OneOf(ROLES, error='"{input}" is not one of {choices}'),
            pre_load=_lower,
        ),
        allow_none=True,
        max_items=len(ROLES),
        metadata={"description": "Roles of the contact person (since v1.1)."},
    )


class OntologyClassSchema(_MMESchema):
    id = _text(
        "Term id, prefix:local (MIM:nnnnnn, Orphanet:nnnn, ...).",
        required=True,
        pattern=CURIE,
        error="is not an ontology id (prefix:id)",
        pre_load=_stripped,
    )
    label = _text("Human-readable label (since v1.1).")


class DisorderSchema(OntologyClassSchema):
    submitted_id = _text(
        "Non-standard: the id as submitted when it was written in its canonical form.",
        data_key="_submittedId",
    )


class VariantTypeSchema(OntologyClassSchema):
    id = _text(
        "Sequence Ontology term of the variant's effect.",
        required=True,
        pattern=SO_ID,
        error="is not a Sequence Ontology id (SO:nnnnnnn)",
        pre_load=_stripped,
    )


class FeatureSchema(_MMESchema):
    id = _hpo_id("HPO term id of the phenotype.", required=True)
    label = _text("Term label (since v1.1).")
    observed = _Observed(
        load_default="yes",
        allow_none=True,
        metadata={"description": "yes (default) or no: explicitly observed or excluded."},
    )
    age_of_onset = _hpo_id("HPO onset term for this feature.", data_key="ageOfOnset")
    submitted_id = _hpo_id(
        "Non-standard: the id as submitted when normalisation changed it.",
        data_key="_submittedId",
    )
    pending = _Boolean(
        allow_none=True,
        data_key="_pending",
        metadata={
            "description": "Non-standard: the node's HPO release does not know this term "
            "(yet): it is kept as submitted and not used for matching."
        },
    )


class GeneSchema(_MMESchema):
    id = _text(
        "Ensembl gene id (preferred), Entrez gene id or HGNC symbol.",
        required=True,
        max_length=MAX_TEXT,
        pre_load=_stripped,
    )
    label = _text("Gene label.")
    hgnc_id = _text("Non-standard: the HGNC id the node resolved.", data_key="_hgncId")
    symbol = _text("Non-standard: the approved HGNC symbol.", data_key="_symbol")
    ensembl_id = _text("Non-standard: the Ensembl gene id.", data_key="_ensemblGeneId")
    entrez_id = _text("Non-standard: the Entrez gene id.", data_key="_entrezGeneId")


_POSITION = [
    validate.Range(min=0, error="must not be negative"),
    validate.Range(
        max=MAX_POSITION, error=f"must be at most {MAX_POSITION:,} (past any chromosome)"
    ),
]


class LiftedVariantSchema(_MMESchema):
    """The fields of a variant; alone, the GRCh38 equivalent of a GRCh37 variant."""

    assembly = _text(
        "Reference assembly, <assembly>[.<patch>]: NCBI36, GRCh37, GRCh38.",
        required=True,
        pattern=ASSEMBLY,
        error="is not a supported assembly (NCBI36, GRCh37 or GRCh38, optionally .pN)",
        pre_load=_canonical_assembly,
    )
    reference_name = _text(
        "Chromosome: 1-22, X, Y or M (read also as chr1, MT, chrM ...).",
        data_key="referenceName",
        required=True,
        pattern=REFERENCE_NAME,
        error="is not a chromosome (1-22, X, Y, M)",
        pre_load=_canonical_reference_name,
    )
    start = _Integer(
        strict=True,
        allow_none=True,
        validate=_POSITION,
        metadata={"description": "Start position, 0-based (required by the spec)."},
    )
    end = _Integer(
        strict=True,
        allow_none=True,
        validate=_POSITION,
        metadata={"description": "End position, 0-based, exclusive."},
    )
    reference_bases = _text(
        "VCF-style reference allele, at least one base.",
        data_key="referenceBases",
        pattern=BASES,
        error="is not a sequence of bases (A, C, G, T, N)",
        pre_load=_upper,
    )
    alternate_bases = _text(
        "VCF-style alternate allele, at least one base.",
        data_key="alternateBases",
        pattern=BASES,
        error="is not a sequence of bases (A, C, G, T, N)",
        pre_load=_upper,
    )

    @validates_schema
    def _check_interval(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end < start:
            raise ValidationError(f"must not be less than start ({start})", "end")
        if start == end == 0:
            raise ValidationError("start == end == 0 is neither 0- nor 1-based", "end")


class VariantSchema(LiftedVariantSchema):
    lifted = _Nested(
        LiftedVariantSchema,
        data_key="_liftedOver",
        allow_none=True,
        metadata={
            "description": "Non-standard: the same allele on GRCh38, for a GRCh37 variant "
            "(derived by the node with the UCSC chain)."
        },
    )


class GenomicFeatureSchema(_MMESchema):
    gene = _Nested(GeneSchema, required=True, metadata={"description": "The candidate gene."})
    variant = _Nested(
        VariantSchema,
        allow_none=True,
        metadata={"description": "The candidate variant in that gene."},
    )
    zygosity = _Integer(
        strict=True,
        allow_none=True,
        validate=validate.OneOf((1, 2), error="{input} is not 1 or 2"),
        metadata={"description": "1 heterozygous or hemizygous, 2 homozygous."},
    )
    type = _Nested(
        VariantTypeSchema,
        allow_none=True,
        metadata={"description": "Effect of the variant as a Sequence Ontology term."},
    )


class PatientSchema(_MMESchema):
    id = _text(
        "Identifier of the record, unique within its node.",
        required=True,
        max_length=MAX_TEXT,
    )
    label = _text("Submitter's label, no personal information.", max_length=MAX_TEXT)
    contact = _Nested(
        ContactSchema,
        required=True,
        metadata={"description": "Who to contact about a match."},
    )
    species = _text(
        "NCBI taxon, NCBITaxon:<id>; human (NCBITaxon:9606) when missing.",
        pattern=SPECIES,
        error="is not an NCBI taxon id (NCBITaxon:nnnn)",
        pre_load=_canonical_species,
    )
    sex = _SexField(
        allow_none=True,
        metadata={"description": "Genetic sex."},
    )
    age_of_onset = _hpo_id("HPO onset term (HP:0003577, ...).", data_key="ageOfOnset")
    inheritance_mode = _hpo_id(
        "HPO mode of inheritance term (descendant of HP:0000005).", data_key="inheritanceMode"
    )
    disorders = _list_of(
        DisorderSchema,
        "Diagnosed disorders: MIM:nnnnnn or Orphanet:nnnn (OMIM:, ORPHA: read too).",
        MAX_DISORDERS,
    )
    other_disorders = _List(
        _Nested(DisorderSchema),
        data_key="_otherDisorders",
        allow_none=True,
        load_only=True,
        max_items=MAX_DISORDERS,
        metadata={
            "description": "Non-standard: disorders of other sources (MONDO, ...), which "
            "deployed nodes refuse in disorders."
        },
    )
    features = _list_of(FeatureSchema, "Phenotypic features (HPO terms).", MAX_FEATURES)
    genomic_features = _list_of(
        GenomicFeatureSchema,
        "Candidate genes and variants.",
        MAX_GENOMIC_FEATURES,
        data_key="genomicFeatures",
    )
    test = _Boolean(
        allow_none=True,
        metadata={"description": "A test record: matches test records only, notifies nobody."},
    )

    @validates_schema
    def _check_some_content(self, data: dict[str, Any], **kwargs: Any) -> None:
        informative = [f for f in data.get("features") or () if f["observed"] != "unknown"]
        if not informative and not data.get("genomic_features"):
            raise ValidationError(
                "at least one of features (observed yes or no) or genomicFeatures is required"
            )


class MatchRequestSchema(_MMESchema):
    patient = _Nested(
        PatientSchema,
        required=True,
        metadata={"description": "The patient to find matches for."},
    )
    disclaimer = _text("Disclaimer of the requesting node.")
    terms = _text("Terms of the requesting node.")


# ---------------------------------------------------------------- public API

_PATIENT = PatientSchema()
_DUMP_PATIENT = compile_dumper(_PATIENT)
_MME_DISORDER = re.compile(MME_DISORDER_ID)
_MATCH_REQUEST = MatchRequestSchema()


def load_patient(data: object) -> tuple[Patient, list[str]]:
    """Validate an MME patient object (v1.0 or v1.1: the input formats agree).

    Returns the patient and human-readable warnings about what was dropped
    or reinterpreted; raises :class:`InvalidPatient` naming every bad field.
    """
    return _patient_from(_load(_PATIENT, data, "patient"), "patient")


def load_match_request(data: object) -> tuple[Patient, list[str]]:
    """Validate a ``POST /match`` body ``{"patient": {...}}`` (disclaimer/terms allowed)."""
    request = _load(_MATCH_REQUEST, data, "")
    return _patient_from(request["patient"], "patient")


def dump_patient(patient: Patient, version: str = "1.0") -> dict[str, Any]:
    """The MME JSON of ``patient`` for API ``version`` (v1.0 omits contact email/roles).

    The output passes the deployed nodes' schema: disorders of other sources
    than OMIM and Orphanet go to the non-standard ``_otherDisorders``.
    """
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported MME API version {version!r}")
    document = _DUMP_PATIENT(patient)
    if version == "1.0":
        for name in V1_1_CONTACT_FIELDS:
            document["contact"].pop(name, None)
    disorders = document.pop("disorders", [])
    standard = [d for d in disorders if _is_mme_disorder(d["id"])]
    other = [d for d in disorders if not _is_mme_disorder(d["id"])]
    if standard:
        document["disorders"] = standard
    if other:
        document["_otherDisorders"] = other
    return document


def _is_mme_disorder(disorder_id: str) -> bool:
    return _MME_DISORDER.fullmatch(disorder_id) is not None


def _load(schema: Schema, data: object, root: str) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)  # type: ignore[arg-type]
    except ValidationError as error:
        raise InvalidPatient.listing(list(error_paths(error.messages, root))) from error
    return loaded


def error_paths(errors: object, path: str) -> Iterator[tuple[str, str]]:
    """Flatten marshmallow's nested error dict into ``(path, message)`` pairs.

    ``path`` is the name of the loaded object, "" for a whole request body.
    """
    if isinstance(errors, Mapping):
        for key, nested in errors.items():
            if key == "_schema":
                child = path
            elif isinstance(key, int):
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else str(key)
            yield from error_paths(nested, child)
    elif isinstance(errors, list):
        for nested in errors:
            yield from error_paths(nested, path)
    else:
        yield path or "request body", str(errors)


# ---------------------------------------------------------------- building


def _patient_from(data: dict[str, Any], path: str) -> tuple[Patient, list[str]]:
    warnings: list[str] = []
    features = []
    for i, feature in enumerate(data.get("features") or ()):
        if feature["observed"] == "unknown":
            warnings.append(
                f'{path}.features[{i}]: {feature["id"]} has observed "unknown"; '
                "the feature carries no information and was dropped"
            )
            continue
        features.append(
            Feature(
                id=feature["id"],
                observed=feature["observed"] != "no",
                label=feature.get("label"),
                age_of_onset=feature.get("age_of_onset"),
                submitted_id=feature.get("submitted_id"),
                pending=bool(feature.get("pending")),
            )
        )
    genomic_features = [
        _genomic_feature_from(g, f"{path}.genomicFeatures[{i}]", warnings)
        for i, g in enumerate(data.get("genomic_features") or ())
    ]
    contact = data["contact"]
    patient = Patient(
        id=data["id"],
        contact=Contact(
            name=contact["name"],
            href=contact["href"],
            institution=contact.get("institution"),
            email=contact.get("email"),
            roles=tuple(contact.get("roles") or ()),
        ),
        label=data.get("label"),
        species=data.get("species"),
        sex=data.get("sex"),
        age_of_onset=data.get("age_of_onset"),
        inheritance_mode=data.get("inheritance_mode"),
        disorders=_disorders_from(data),
        features=tuple(features),
        genomic_features=tuple(genomic_features),
        test=bool(data.get("test")),
    )
    return patient, warnings


def _ontology_class(data: dict[str, Any]) -> OntologyClass:
    return OntologyClass(id=data["id"], label=data.get("label"))


def _disorders_from(data: dict[str, Any]) -> tuple[OntologyClass, ...]:
    """Canonical disorders, OMIM and Orphanet first (as :func:`dump_patient` splits them)."""
    given = [*(data.get("disorders") or ()), *(data.get("other_disorders") or ())]
    disorders = []
    for disorder in given:
        canonical = canonical_disorder_id(disorder["id"])
        submitted = disorder.get("submitted_id") or disorder["id"]
        disorders.append(
            OntologyClass(
                id=canonical,
                label=disorder.get("label"),
                submitted_id=submitted if submitted != canonical else None,
            )
        )
    ordered = sorted(disorders, key=lambda disorder: not _is_mme_disorder(disorder.id))
    return tuple(ordered)


def _genomic_feature_from(data: dict[str, Any], path: str, warnings: list[str]) -> GenomicFeature:
    variant = data.get("variant")
    return GenomicFeature(
        gene=gene_from_document(data["gene"]),
        variant=None if variant is None else _variant_from(variant, f"{path}.variant", warnings),
        zygosity=data.get("zygosity"),
        type=None if data.get("type") is None else _ontology_class(data["type"]),
    )


def _variant_from(data: dict[str, Any], path: str, warnings: list[str]) -> Variant | None:
    """The variant in 0-based, end-exclusive coordinates, or None if it has no start.

    * no ``start``: the variant cannot be placed; dropped with a warning.
    * ``start == end``: an empty interval cannot hold a VCF allele of at
      least one base; such clients put the 1-based VCF position in both
      fields, so ``start`` becomes ``start - 1`` (with a warning).
    * no ``end``: ``start + len(referenceBases)`` when the bases are given.
    """
    start, end = data.get("start"), data.get("end")
    reference = data.get("reference_bases")
    if start is None:
        warnings.append(f"{path}: has no start position; the variant was dropped, its gene kept")
        return None
    if start == end:
        start -= 1
        end = start + len(reference or "N")
        warnings.append(
            f"{path}: start == end read as the 1-based position {start + 1}; "
            f"stored 0-based as start {start}, end {end}"
        )
    elif end is None and reference:
        end = start + len(reference)
    lifted = data.get("lifted")
    return Variant(
        assembly=data["assembly"],
        reference_name=data["reference_name"],
        start=start,
        end=end,
        reference_bases=reference,
        alternate_bases=data.get("alternate_bases"),
        lifted=None if lifted is None else _variant_from(lifted, f"{path}._liftedOver", []),
    )


# ---------------------------------------------------------------- OpenAPI


def patient_openapi_schema() -> dict[str, Any]:
    """An OpenAPI 3.1 (JSON Schema 2020-12) schema of the canonical patient JSON.

    Generated from :class:`PatientSchema`, so it cannot drift from the
    validation; it describes what :func:`dump_patient` writes, while the
    loader also accepts the leniencies listed in the module docstring.
    """
    return openapi_object_schema(PatientSchema(), "An MME patient (search-api v1.0/v1.1).")


def openapi_object_schema(schema: Schema, description: str) -> dict[str, Any]:
    properties = {
        field.data_key or name: _field_schema(field) for name, field in schema.fields.items()
    }
    required = [field.data_key or name for name, field in schema.fields.items() if field.required]
    return _described(description) | {
        "type": "object",
        "properties": properties,
        "required": required,
        "patternProperties": {"^_": {}},
        "additionalProperties": False,
    }


def _field_schema(field: fields.Field[Any]) -> dict[str, Any]:
    """The JSON Schema of one field; list items carry no description of their own."""
    description = field.metadata.get("description", "")
    if isinstance(field, fields.Nested):
        return openapi_object_schema(field.schema, description)
    if isinstance(field, fields.List):
        items = _field_schema(field.inner)
        limit = (
            {"maxItems": field.max_items} if isinstance(field, _List) and field.max_items else {}
        )
        return _described(description) | {"type": "array", "items": items} | limit
    result = _described(description) | _type_of(field)
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            result.update(minLength=validator.min, maxLength=validator.max)
        elif isinstance(validator, validate.Regexp):
            result["pattern"] = validator.regex.pattern
        elif isinstance(validator, validate.OneOf):
            result["enum"] = list(validator.choices)
        elif isinstance(validator, validate.Range):
            if validator.min is not None:
                result["minimum"] = validator.min
            if validator.max is not None:
                result["maximum"] = validator.max
    return result


def _described(description: str) -> dict[str, Any]:
    return {"description": description} if description else {}


def _type_of(field: fields.Field[Any]) -> dict[str, Any]:
    if isinstance(field, _Observed):
        return {"type": "string", "enum": ["yes", "no"]}
    if isinstance(field, _SexField):
        return {"type": "string", "enum": list(field.choices)}
    if isinstance(field, fields.Email):
        return {"type": "string", "format": "email"}
    if isinstance(field, fields.Integer):
        return {"type": "integer"}
    if isinstance(field, fields.Boolean):
        return {"type": "boolean"}
    return {"type": "string"}


__all__ = [
    "MAX_DISORDERS",
    "MAX_FEATURES",
    "MAX_GENOMIC_FEATURES",
    "SUPPORTED_VERSIONS",
    "MatchRequestSchema",
    "PatientSchema",
    "canonical_disorder_id",
    "dump_patient",
    "error_paths",
    "load_match_request",
    "load_patient",
    "openapi_object_schema",
    "patient_openapi_schema",
]
