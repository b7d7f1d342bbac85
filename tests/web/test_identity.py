"""Identity rules: which institutional identity signs in as which owner, and who is an admin."""

from __future__ import annotations

import pytest

from mme_node.settings import SettingsError, load_settings
from mme_node.web.identity import Identity, IdentityMap, RuleKind, parse_rule

ADA = Identity("sub-ada", "Dr Ada", "Ada@Clinic-A.example.org", email_verified=True)


def rules(owners: tuple[str, ...] = (), admins: tuple[str, ...] = ()) -> IdentityMap:
    settings = load_settings(environ={}).replace(web_owners=owners, web_admins=admins)
    return IdentityMap.from_settings(settings)


def test_a_rule_reads_kind_value_and_owner() -> None:
    rule = parse_rule(" email-domain : clinic-a.example.org = clinic-a ", with_owner=True)
    assert (rule.kind, rule.value, rule.owner) == (
        RuleKind.EMAIL_DOMAIN,
        "clinic-a.example.org",
        "clinic-a",
    )


@pytest.mark.parametrize(
    ("text", "with_owner", "complaint"),
    [
        ("domain:example.org = a", True, "KIND one of"),
        ("subject:abc", True, "names no owner"),
        ("subject:abc = a", False, "must not name an owner"),
        ("subject:abc = not a name!", True, "KIND:VALUE = OWNER"),
        ("email:x@y.org = -bad", True, "not a valid owner name"),
    ],
)
def test_a_malformed_rule_is_a_settings_error_naming_it(
    text: str, with_owner: bool, complaint: str
) -> None:
    with pytest.raises(SettingsError, match=complaint):
        parse_rule(text, with_owner=with_owner)


def test_the_first_fitting_rule_names_the_owner() -> None:
    identities = rules(
        ("subject:sub-ada = ada-lab", "email-domain:clinic-a.example.org = clinic-a"),
    )
    assert identities.owner_of(ADA) == "ada-lab"
    other = Identity("sub-bob", email="bob@clinic-a.example.org", email_verified=True)
    assert identities.owner_of(other) == "clinic-a"


def test_email_rules_compare_without_case() -> None:
    assert rules(("email:ada@clinic-a.EXAMPLE.org = a",)).owner_of(ADA) == "a"
    assert rules(("email-domain:@CLINIC-A.example.org = a",)).owner_of(ADA) == "a"


def test_email_rules_ignore_an_unverified_email() -> None:
    unverified = Identity("sub-mallory", email="ada@clinic-a.example.org", email_verified=False)
    identities = rules(
        ("email:ada@clinic-a.example.org = a", "email-domain:clinic-a.example.org = a")
    )
    assert identities.owner_of(unverified) is None
    assert not identities.admits(unverified)


def test_a_domain_rule_does_not_fit_a_subdomain_or_a_lookalike() -> None:
    identities = rules(("email-domain:clinic-a.example.org = a",))
    for email in ("x@evil-clinic-a.example.org", "x@sub.clinic-a.example.org"):
        assert identities.owner_of(Identity("s", email=email, email_verified=True)) is None


def test_admin_rules_make_an_admin_who_may_have_no_owner() -> None:
    identities = rules(admins=("subject:sub-ada",))
    assert identities.is_admin(ADA)
    assert identities.owner_of(ADA) is None
    assert identities.admits(ADA)


def test_an_identity_no_rule_fits_is_not_admitted() -> None:
    assert not rules(("subject:someone-else = a",), ("email:root@x.org",)).admits(ADA)
