"""Reading an HTML form post: media type, size cap, then ``application/x-www-form-urlencoded``.

Every form of the web app is URL-encoded (no file uploads), so it is read
with the same size cap as every JSON body and parsed by the standard library.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from mme_node.api.bodies import check_media_type, read_body
from mme_node.errors import InvalidRequest

FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded"})
MAX_FIELDS = 2000
"""More fields than any case form has (hundreds of phenotype rows), far fewer than an attack."""


async def read_form(request: Request, max_bytes: int) -> FormData:
    """The posted fields, in order; 400, 413 or 415 for a body that is not a small form."""
    check_media_type(request, FORM_MEDIA_TYPES)
    body = await read_body(request, max_bytes)
    try:
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=MAX_FIELDS,
            )
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidRequest(f"the form could not be read: {error}") from None
    return FormData(pairs)
