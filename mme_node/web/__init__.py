"""The clinicians' web app, served by the node under ``/app``.

Server-rendered pages (Jinja2 templates, one small script for the HPO
type-ahead, every asset in the package) over the same services as the JSON
API: sign-in (institutional OpenID Connect or a submitter token), my
patients, the case form, local and external matching with explanations,
the inbox and an admin page. ``docs/web.md`` describes configuration and use.
"""

from mme_node.web.context import WebContext
from mme_node.web.routes import ROUTES

__all__ = ["ROUTES", "WebContext"]
