"""Who a signed-in clinician is to this node: the owner of patients they act as, and admin or not.

An institutional identity (OpenID Connect claims) is mapped to an owner by
the operator's rules (settings ``web_owners``), each ``KIND:VALUE = OWNER``
with KIND ``subject``, ``email`` or ``email-domain``; the first rule that
fits wins. ``web_admins`` lists identities (same kinds, no owner) that see
the admin page. Email rules only fit an email the provider says is verified:
anyone can put any address in an unverified profile.

Pure functions of the claims and the settings, re-applied on every request,
so an operator who removes a rule locks its clinicians out at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mme_node.security.tokens import CLIENT_NAME
from mme_node.settings import Settings, SettingsError


class RuleKind(StrEnum):
    SUBJECT = "subject"
    EMAIL = "email"
    EMAIL_DOMAIN = "email-domain"


@dataclass(frozen=True, slots=True)
class Identity:
    """What the provider asserted about a clinician (ID token and userinfo claims)."""

    subject: str
    name: str = ""
    email: str = ""
    email_verified: bool = False

    @property
    def verified_email(self) -> str | None:
        return self.email.casefold() if self.email and self.email_verified else None

    @property
    def shown_name(self) -> str:
        return self.name or self.email or self.subject


@dataclass(frozen=True, slots=True)
class IdentityRule:
    """One ``KIND:VALUE`` pattern, with the owner it maps to (None for an admin rule)."""

    kind: RuleKind
    value: str
    owner: str | None = None

    def fits(self, identity: Identity) -> bool:
        if self.kind is RuleKind.SUBJECT:
            return identity.subject == self.value
        email = identity.verified_email
        if email is None:
            return False
        if self.kind is RuleKind.EMAIL:
            return email == self.value.casefold()
        return email.rpartition("@")[2] == self.value.casefold().lstrip("@")


_RULE = re.compile(r"\s*(?P<kind>[a-z-]+)\s*:\s*(?P<value>[^=]+?)\s*(?:=\s*(?P<owner>\S+)\s*)?$")


def parse_rule(text: str, *, with_owner: bool) -> IdentityRule:
    """Read ``KIND:VALUE = OWNER`` (``KIND:VALUE`` when ``with_owner`` is false)."""
    found = _RULE.fullmatch(text)
    shape = "KIND:VALUE = OWNER" if with_owner else "KIND:VALUE"
    if found is None or found["kind"] not in set(RuleKind):
        kinds = ", ".join(RuleKind)
        raise SettingsError(f"identity rule {text!r} must read {shape} with KIND one of {kinds}")
    owner = found["owner"]
    if with_owner and owner is None:
        raise SettingsError(f"identity rule {text!r} names no owner: write {shape}")
    if not with_owner and owner is not None:
        raise SettingsError(f"admin rule {text!r} must not name an owner: write {shape}")
    if owner is not None and not CLIENT_NAME.fullmatch(owner):
        raise SettingsError(f"identity rule {text!r}: {owner!r} is not a valid owner name")
    return IdentityRule(RuleKind(found["kind"]), found["value"], owner)


@dataclass(frozen=True, slots=True)
class IdentityMap:
    """The operator's rules: identity -> owner, and which identities are admins."""

    owners: tuple[IdentityRule, ...] = ()
    admins: tuple[IdentityRule, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityMap:
        """The rules of ``web_owners`` and ``web_admins`` (``SettingsError`` naming a bad one)."""
        return cls(
            owners=_parsed(settings.web_owners, with_owner=True),
            admins=_parsed(settings.web_admins, with_owner=False),
        )

    def owner_of(self, identity: Identity) -> str | None:
        """The owner the first fitting rule names, or None when no rule fits."""
        return next((rule.owner for rule in self.owners if rule.fits(identity)), None)

    def is_admin(self, identity: Identity) -> bool:
        return any(rule.fits(identity) for rule in self.admins)

    def admits(self, identity: Identity) -> bool:
        """Whether the identity may sign in at all: it has an owner or is an admin."""
        return self.owner_of(identity) is not None or self.is_admin(identity)


def _parsed(texts: Iterable[str], *, with_owner: bool) -> tuple[IdentityRule, ...]:
    return tuple(parse_rule(text, with_owner=with_owner) for text in texts)
