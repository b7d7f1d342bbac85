"""Dumping objects through plain functions compiled from the marshmallow schemas.

``Schema.dump`` walks every field through marshmallow's generic machinery
(accessors, missing-value checks, processor look-ups): about 100 us for a
typical patient, once per result of every match answer. :func:`compile_dumper`
reads a schema's fields once and returns a function that builds the same
document directly, so the schema stays the one description of the JSON
shape while answers with many results stay cheap. ``tests/formats`` checks
that both give equal documents.

Only what the node's schemas use is supported: leaf fields (their own
``_serialize``), ``Nested`` and ``List`` of them, and no dump processor but
the ``_MMESchema`` rule that drops unset values (None, empty lists, false).
Anything else is refused when compiling, not silently dumped differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields

Dumper = Callable[[Any], dict[str, Any]]
Converter = Callable[[Any, str, Any], Any]

DROP_UNSET = "_drop_unset_fields"
"""The one post-dump processor a compiled dumper reproduces (see ``schemas._MMESchema``)."""


def compile_dumper(schema: Schema) -> Dumper:
    """A function equal to ``schema.dump`` for one object, without marshmallow's overhead."""
    drop_unset = _drops_unset_values(schema)
    if schema.many:
        raise TypeError(f"{type(schema).__name__}: many=True schemas are not compiled")
    steps = [
        (field.attribute or name, field.data_key or name, _converter(field), _unchanged(field))
        for name, field in schema.dump_fields.items()
    ]

    def dump(obj: Any) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for attribute, key, convert, unchanged in steps:
            value = getattr(obj, attribute)
            if type(value) not in unchanged:
                value = convert(value, attribute, obj)
            if not drop_unset or (value is not None and value is not False and value != []):
                document[key] = value
        return document

    return dump


_NONE = type(None)

_UNCHANGED: dict[Any, tuple[type, ...]] = {
    fields.String._serialize: (str, _NONE),
    fields.Integer._serialize: (int, _NONE),
    fields.Boolean._serialize: (bool, _NONE),
}
"""Leaf fields whose ``_serialize`` returns values of these exact types as they are."""


def _unchanged(field: fields.Field[Any]) -> tuple[type, ...]:
    """Types of the values ``field`` dumps as they are, so that no call is needed for them."""
    if isinstance(field, fields.Nested | fields.List):
        return (_NONE,)
    return _UNCHANGED.get(type(field)._serialize, ())


def _converter(field: fields.Field[Any]) -> Converter:
    if isinstance(field, fields.Nested):
        if field.many or not isinstance(field.schema, Schema):
            raise TypeError(f"field {field.name!r}: only single nested schemas are compiled")
        nested = compile_dumper(field.schema)
        return lambda value, attribute, obj: None if value is None else nested(value)
    if isinstance(field, fields.List):
        item = _converter(field.inner)
        return lambda values, attribute, obj: (
            None if values is None else [item(value, attribute, obj) for value in values]
        )
    if isinstance(field, fields.Dict | fields.Tuple | fields.Method | fields.Function):
        raise TypeError(f"field {field.name!r}: {type(field).__name__} is not compiled")
    return field._serialize


def _drops_unset_values(schema: Schema) -> bool:
    """Whether ``schema`` drops unset values; refuses any other dump processor."""
    hooks = getattr(schema, "_hooks", {})
    before = [name for name, *_ in hooks.get("pre_dump", ())]
    after = [name for name, *_ in hooks.get("post_dump", ())]
    if before or after not in ([], [DROP_UNSET]):
        raise TypeError(f"{type(schema).__name__}: dump processors {before + after} not compiled")
    return after == [DROP_UNSET]
