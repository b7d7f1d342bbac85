"""The web app end to end: headless Chromium against real ``mme-node serve`` processes.

Node A serves the clinicians (institutional sign-in through a real OpenID
Connect provider on 127.0.0.1, or a submitter token); node B is a real peer
with patients of its own, and a third peer address answers nothing. The
module's fixtures start everything once and seed each node through its API
(including one match each way, for the inbox), then switch node A from HPO
2025-01-16 to 2026-02-16 through the admin API, which leaves one of clinic
A's terms behind (a notice in the inbox, a report on the admin page); each
test then drives its own fresh browser context through one thing a
clinician does.

Screenshots of the main pages go to ``SCREENSHOTS_DIR`` when it is set
(``docs/screenshots`` is made that way), else to a temporary directory.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.federation.mail_sink import free_port
from tests.federation.node_process import NodeProcess
from tests.web.browser import LAPTOP, LAUNCH_ARGS, TABLET, chromium_executable
from tests.web.oidc_provider import CLINIC_A_DOMAIN

BENCHMARK: list[dict[str, Any]] = json.loads(
    (resources.files("mme_node") / "data" / "benchmark_patients.json").read_text(encoding="utf-8")
)
ADA_EMAIL = f"ada@{CLINIC_A_DOMAIN}"
WAIT_MS = 30_000
"""How long an action or an ``expect`` waits for its condition: generous, as it is only a bound."""


def real_case(source_id: str, new_id: str, label: str, name: str, email: str) -> dict[str, Any]:
    """A benchmark patient (SNRPB cases here) as a real case with its own contact."""
    patient = copy.deepcopy(next(p for p in BENCHMARK if p["id"] == source_id))
    patient.update(
        id=new_id,
        label=label,
        test=False,
        contact={"name": name, "institution": "Test Hospital", "href": f"mailto:{email}"},
    )
    return patient


# Clinic A's own cases, a colleague's cases on the same node, and node B's cases:
# all cerebro-costo-mandibular syndrome (SNRPB), so they match each other.
CLINIC_A = [
    real_case("P0001027", "A-101", "girl, 4 y, rib gaps", "Dr Ada Lovelace", ADA_EMAIL),
    real_case("P0001024", "A-102", "boy, 2 y", "Dr Ada Lovelace", ADA_EMAIL),
]
COLLEAGUE = [
    real_case("P0001025", "C-201", "neonate, Pierre-Robin", "Dr Carl Colleague", "carl@c.org"),
    real_case("P0001049", "C-202", "infant, cleft palate", "Dr Carl Colleague", "carl@c.org"),
]
NOT_CARRIED_OVER = "HP:0025237"
"""Confusional arousal: obsolete in HPO 2026-02-16 without a successor."""
LEFT_BEHIND = {
    "id": "A-103",
    "label": "boy, 9 y, night episodes",
    "contact": {"name": "Dr Ada Lovelace", "href": f"mailto:{ADA_EMAIL}"},
    "features": [{"id": NOT_CARRIED_OVER}, {"id": "HP:0001250"}],
}
NODE_B = [
    real_case("P0001026", "B-301", "sibling pair, case 1", "Dr Bea Peer", "bea@clinic-b.org"),
    real_case("P0001029", "B-302", "adolescent", "Dr Bea Peer", "bea@clinic-b.org"),
]


@dataclass
class Site:
    a: NodeProcess
    b: NodeProcess
    clinic_a_token: str


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    shared_hpo_dir: Path,
    upgrade_hpo_dir: Path,
    oidc_issuer: str,
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web-site")
    a = NodeProcess(
        "node-a",
        root / "node-a",
        upgrade_hpo_dir,
        {
            "MME_OIDC_ISSUER": oidc_issuer,
            "MME_OIDC_CLIENT_ID": "node-a-test",
            "MME_OIDC_CLIENT_SECRET": "not-a-real-secret",
            "MME_OIDC_BUTTON": "Sign in with Clinic A",
            "MME_WEB_OWNERS": f"email-domain:{CLINIC_A_DOMAIN} = clinic-a",
            "MME_WEB_ADMINS": "subject:ada-1815",
        },
    )
    b = NodeProcess("node-b", root / "node-b", shared_hpo_dir)
    site = Site(a, b, a.create_token("clinic-a", "submitter"))
    colleague = a.create_token("clinic-c", "submitter")
    b_calls_a = a.create_token("node-b", "peer")
    a_calls_b = b.create_token("node-a", "peer")
    clinic_b = b.create_token("clinic-b", "submitter")
    curator = a.create_token("curator", "admin")
    try:
        a.start()
        b.start()
        a.wait_until_up(b_calls_a)
        b.wait_until_up(a_calls_b)
        a.add_peer("node-b", b.url, a_calls_b, timeout=10)
        a.add_peer("node-down", f"http://127.0.0.1:{free_port()}", "no-one-answers", timeout=2)
        b.add_peer("node-a", a.url, b_calls_a, timeout=10)
        for node, token, patients in (
            (a, site.clinic_a_token, CLINIC_A),
            (a, colleague, COLLEAGUE),
            (b, clinic_b, NODE_B),
        ):
            with node.client(token) as client:
                for patient in patients:
                    answer = client.post("/api/patients", json={"patient": patient})
                    assert answer.status_code == 201, answer.text
        # One match each way for clinic A's inbox: B asks about its B-302, A sends A-102.
        with b.client(clinic_b) as client:
            asked = client.post("/api/patients/B-302/match/external", json={"peers": ["node-a"]})
            assert asked.status_code == 200, asked.text
        with a.client(site.clinic_a_token) as client:
            sent = client.post("/api/patients/A-102/match/external", json={"peers": ["node-b"]})
            assert sent.status_code == 200, sent.text
        # Then a case the switch leaves a term of behind (after the matches: it is no SNRPB case).
        with a.client(site.clinic_a_token) as client:
            left = client.post("/api/patients", json={"patient": LEFT_BEHIND})
            assert left.status_code == 201, left.text
        with a.client(curator) as client:
            switched = client.post("/api/admin/hpo/releases/2026-02-16/activate")
            assert switched.json()["serving"] == "2026-02-16", switched.text
        yield site
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    chromium_executable()  # skip (or fail) before starting anything
    expect.set_options(timeout=WAIT_MS)  # the default 5 s is short on a busy machine
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at laptop width."""
    fresh = browser.new_context(viewport=LAPTOP)
    fresh.set_default_timeout(WAIT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def sign_in_with_token(page: Page, site: Site) -> None:
    page.goto(f"{site.a.url}/app/sign-in")
    page.get_by_label("Submitter token", exact=True).fill(site.clinic_a_token)
    page.get_by_role("button", name="Sign in with token").click()
    expect(page).to_have_url(re.compile(r"/app/patients$"))


# ---------------------------------------------------------------- signing in and out


def test_a_clinician_signs_in_with_the_institution(
    page: Page, context: BrowserContext, site: Site, screenshots: Path
) -> None:
    page.goto(f"{site.a.url}/")
    expect(page).to_have_url(re.compile(r"/app/sign-in"))
    shoot(page, screenshots, "sign-in")
    page.get_by_role("link", name="Sign in with Clinic A").click()
    page.get_by_role("button", name="ada-1815").click()  # the provider's own sign-in page
    expect(page).to_have_url(re.compile(r"/app/patients$"))
    expect(page.get_by_role("heading", name="My patients")).to_be_visible()
    expect(page.locator(".who")).to_have_text("Dr Ada Lovelace")
    (session,) = [c for c in context.cookies() if c["name"] == "mme_session"]
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (True, "Strict", "/app")
    expect(page.get_by_role("link", name="Admin")).to_be_visible()  # an admin rule names her


def test_a_clinician_signs_in_with_a_submitter_token(page: Page, site: Site) -> None:
    sign_in_with_token(page, site)
    expect(page.get_by_role("link", name="A-101")).to_be_visible()
    expect(page.get_by_role("link", name="C-201")).to_have_count(0)  # a colleague's case


def test_a_wrong_token_is_refused_beside_the_field(page: Page, site: Site) -> None:
    page.goto(f"{site.a.url}/app/sign-in")
    page.get_by_label("Submitter token", exact=True).fill("not-a-token")
    page.get_by_role("button", name="Sign in with token").click()
    expect(page.locator("#token-error")).to_have_text("This token is not known to this node.")
    expect(page.get_by_label("Submitter token", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )


def test_signing_out_ends_the_session(page: Page, site: Site) -> None:
    sign_in_with_token(page, site)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{site.a.url}/app/patients")
    expect(page).to_have_url(re.compile(r"/app/sign-in\?next="))


def test_a_notification_emails_link_lands_in_the_inbox_after_sign_in(
    page: Page, site: Site
) -> None:
    page.goto(f"{site.a.url}/app/inbox")
    page.get_by_label("Submitter token", exact=True).fill(site.clinic_a_token)
    page.get_by_role("button", name="Sign in with token").click()
    expect(page).to_have_url(re.compile(r"/app/inbox$"))
    expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()


# ---------------------------------------------------------------- the case form


def test_a_case_is_submitted_with_the_type_ahead_by_keyboard(
    page: Page, site: Site, screenshots: Path
) -> None:
    sign_in_with_token(page, site)
    page.get_by_role("link", name="New case").first.click()
    page.get_by_label("Patient id").fill("A-new-1")
    first_term = page.get_by_label("Phenotype term 1")
    expect(first_term).to_have_attribute("role", "combobox")  # the type-ahead has started
    first_term.press_sequentially("microceph", delay=20)
    # The first suggestion, the one ArrowDown highlights (a list for a shorter prefix may
    # still be shown while the answer for the whole text is on its way).
    suggestions = page.locator(f"#{first_term.get_attribute('aria-controls')}")
    expect(suggestions.get_by_role("option").first).to_contain_text("Microcephaly")
    first_term.press("ArrowDown")
    first_term.press("Enter")
    expect(first_term).to_have_value("Microcephaly (HP:0000252)")
    second_term = page.get_by_label("Phenotype term 2")
    second_term.press_sequentially("seiz", delay=20)
    page.get_by_role("option", name=re.compile("^Seizure HP:0001250")).click()
    expect(second_term).to_have_value("Seizure (HP:0001250)")
    page.get_by_label("Status of term 2").select_option("Excluded")
    page.get_by_role("button", name="Add another term").click()
    expect(page.get_by_label("Phenotype term 4")).to_be_focused()  # rows 1-3 come with the form
    page.get_by_role("button", name="Add another gene").click()
    expect(page.get_by_label("Gene 2")).to_be_focused()
    expect(page.get_by_label("Position of variant 2")).to_have_value("")
    gene = page.get_by_label("Gene 1")
    gene.fill("HUNK1")
    gene.press("Tab")
    expect(page.locator("#genes-0-gene-feedback")).to_contain_text("BRD4 (HGNC:13575)")
    shoot(page, screenshots, "case-form")
    page.get_by_label("Name", exact=True).fill("Dr Ada Lovelace")
    page.get_by_label("Email").fill(ADA_EMAIL)
    page.get_by_role("button", name="Save case").click()
    expect(page).to_have_url(re.compile(r"/app/patients/A-new-1\?saved=1$"))
    expect(page.get_by_text("The case was saved.")).to_be_visible()
    observed = page.locator("ul.terms").first
    expect(observed).to_contain_text("Microcephaly")
    expect(page.locator("ul.terms.excluded")).to_contain_text("Seizure")
    expect(page.locator("ul.genes")).to_contain_text("entered as “HUNK1” (alias)")


def test_a_validation_error_is_shown_at_its_field(page: Page, site: Site) -> None:
    sign_in_with_token(page, site)
    page.goto(f"{site.a.url}/app/patients/new")
    page.get_by_label("Patient id").fill("A-bad-1")
    term = page.get_by_label("Phenotype term 1")
    term.fill("HP:12")
    page.get_by_label("Gene 1").fill("SCN1A")
    page.get_by_label("Chromosome of variant 1").fill("2")
    page.get_by_label("Position of variant 1").fill("12a")
    page.get_by_label("Name", exact=True).fill("Dr Ada Lovelace")
    page.get_by_label("Email").fill(ADA_EMAIL)
    page.get_by_role("button", name="Save case").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The case was not saved")
    expect(summary).to_be_focused()
    expect(term).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#features-0-term-error")).to_have_text(
        '"HP:12" is not an HPO id (HP:nnnnnnn)'  # the API's own message
    )
    expect(page.locator("#genes-0-position-error")).to_have_text("must be an integer")
    expect(page.get_by_label("Patient id")).to_have_value("A-bad-1")  # nothing typed is lost
    summary.get_by_role("link", name="Phenotype term 1").click()
    expect(term).to_be_focused()
    # Once the form is well formed, the vocabulary is checked: an unknown gene.
    term.fill("HP:0001250")
    page.get_by_label("Position of variant 1").fill("")
    page.get_by_label("Chromosome of variant 1").fill("")
    page.get_by_label("Gene 1").fill("NOT-A-GENE-X")
    page.get_by_role("button", name="Save case").click()
    expect(page.locator("#genes-0-gene-error")).to_have_text(
        '"NOT-A-GENE-X" is not a known HGNC gene symbol or gene id'
    )
    expect(page.locator("#features-0-term-error")).to_have_count(0)


def test_every_field_of_the_case_form_has_a_label(page: Page, site: Site) -> None:
    sign_in_with_token(page, site)
    page.goto(f"{site.a.url}/app/patients/new")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter((field) => field.labels.length === 0 && !field.getAttribute('aria-label'))
            .map((field) => field.name)"""
    )
    assert unlabelled == []


# ---------------------------------------------------------------- matching


def test_a_local_match_shows_scores_contacts_and_explanations(
    page: Page, site: Site, screenshots: Path
) -> None:
    sign_in_with_token(page, site)
    page.get_by_role("link", name="A-101").click()
    page.get_by_role("button", name="Match on this node").click()
    expect(page.get_by_role("heading", name=re.compile("Matches on this node"))).to_be_visible()
    colleague_case = page.locator("article.result", has_text="Dr Carl Colleague").first
    expect(colleague_case.get_by_role("link", name="Email Dr Carl Colleague")).to_have_attribute(
        "href", "mailto:carl@c.org"
    )
    expect(colleague_case.locator(".gene.shared")).to_have_text("SNRPB")
    expect(colleague_case).to_contain_text("Same candidate gene: SNRPB")
    rows = colleague_case.locator("table.explain tbody tr")
    expect(rows.first).to_be_visible()
    first_row = rows.first.locator("td")
    expect(first_row).to_have_count(4)  # your term, theirs, what both share, specificity
    score = float(page.locator("article.result .score-value").first.inner_text())
    assert 0 < score <= 1
    # Another owner's patient is shown under a pseudonym, without its label.
    expect(page.get_by_text("C-201")).to_have_count(0)
    expect(page.get_by_text("neonate, Pierre-Robin")).to_have_count(0)
    shoot(page, screenshots, "local-match")


def test_an_external_match_shows_the_peers_results_and_the_peer_that_failed(
    page: Page, site: Site, screenshots: Path
) -> None:
    sign_in_with_token(page, site)
    page.goto(f"{site.a.url}/app/patients/A-101")
    expect(page.get_by_label("node-b")).to_be_checked()
    page.get_by_role("button", name="Match with chosen peers").click()
    expect(page.get_by_role("heading", name=re.compile("Matches from peer nodes"))).to_be_visible()
    from_b = page.locator("section.outcome", has=page.get_by_role("heading", name="node-b"))
    peer_case = from_b.locator("article.result", has_text="Dr Bea Peer").first
    expect(peer_case.get_by_role("link", name="Email Dr Bea Peer")).to_have_attribute(
        "href", "mailto:bea@clinic-b.org"
    )
    expect(peer_case).to_contain_text("Same candidate gene: SNRPB")
    expect(peer_case.locator("table.explain tbody tr").first).to_be_visible()
    down = page.locator("section.outcome", has=page.get_by_role("heading", name="node-down"))
    expect(down.get_by_text("node-down gave no usable answer")).to_be_visible()
    shoot(page, screenshots, "external-match")


# ---------------------------------------------------------------- inbox and admin


def test_the_inbox_shows_new_matches_in_and_out_and_marks_them_seen(
    page: Page, site: Site, screenshots: Path
) -> None:
    sign_in_with_token(page, site)
    page.get_by_role("link", name=re.compile("^Inbox")).click()
    inbound = page.locator("li.inbox-entry", has_text="Asked by Dr Bea Peer")
    outbound = page.locator("li.inbox-entry", has_text=re.compile(r"node-b found .* for A-102"))
    expect(inbound).to_be_visible()
    expect(inbound.get_by_role("link", name="A-101")).to_be_visible()
    expect(inbound).to_contain_text("node-b asked about one of their patients")  # a pseudonym
    expect(inbound.locator(".asker")).to_contain_text("Asked by Dr Bea Peer, Test Hospital")
    expect(outbound).to_contain_text("Dr Bea Peer")
    shoot(page, screenshots, "inbox")
    inbound.get_by_role("button", name="Mark as seen").click()
    expect(page).to_have_url(re.compile(r"/app/inbox$"))
    expect(page.locator("li.inbox-entry", has_text="Asked by Dr Bea Peer")).to_have_count(0)
    expect(outbound).to_be_visible()


def test_the_inbox_tells_of_a_term_the_new_release_left_behind_until_seen(
    page: Page, site: Site
) -> None:
    sign_in_with_token(page, site)
    badge = page.get_by_role("link", name=re.compile("^Inbox")).locator(".count")
    before = int(badge.inner_text().split()[0])
    page.get_by_role("link", name=re.compile("^Inbox")).click()
    notice = page.locator("li.inbox-entry.notice", has_text="A-103")
    expect(notice.get_by_role("heading")).to_have_text(
        "1 term of A-103 no longer used for matching"
    )
    expect(notice).to_contain_text(
        f"Confusional arousal {NOT_CARRIED_OVER} is not a current term of HPO 2026-02-16"
    )
    expect(notice.get_by_role("link", name="Edit A-103")).to_have_attribute(
        "href", "/app/patients/A-103/edit"
    )
    notice.get_by_role("button", name="Mark as seen").click()
    expect(page.locator("li.inbox-entry.notice", has_text="A-103")).to_have_count(0)
    expect(badge).to_have_text(re.compile(rf"^{before - 1}\b"))  # matches are still unseen


def test_the_admin_page_shows_the_release_in_use_its_switch_and_the_audit_trail(
    page: Page, site: Site, screenshots: Path
) -> None:
    page.goto(f"{site.a.url}/app/admin")
    page.get_by_role("link", name="Sign in with Clinic A").click()
    page.get_by_role("button", name="ada-1815").click()
    expect(page).to_have_url(re.compile(r"/app/admin$"))
    peers = page.locator("section", has=page.get_by_role("heading", name="Peer nodes"))
    expect(peers.get_by_role("row", name=re.compile("^node-b"))).to_contain_text("enabled")
    clients = page.locator("section", has=page.get_by_role("heading", name="Clients"))
    expect(clients.get_by_role("row", name=re.compile("^clinic-c"))).to_contain_text("submitter")
    hpo = page.locator("section", has=page.get_by_role("heading", name="HPO release"))
    expect(hpo.locator("dd").first).to_contain_text("2026-02-16")
    expect(hpo).to_contain_text("borrowed from release 2025-01-16")
    expect(hpo).to_contain_text("From 2025-01-16 to 2026-02-16")
    expect(hpo.locator("ul.report-counts")).to_contain_text("5 patients compared")
    expect(hpo).to_contain_text(f"{NOT_CARRIED_OVER}: 1 patient")
    expect(hpo).to_contain_text("Owners told in their inbox: clinic-a (1 patient).")
    shoot(page, screenshots, "admin")
    page.get_by_role("link", name="Verify its chain").click()
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The chain is intact")
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    numbers = [int(n) for n in rows.locator("td.num").all_inner_texts()]
    assert numbers == sorted(numbers, reverse=True)
    expect(page.locator("table.audit")).to_contain_text("outbound-request")
    expect(page.locator("table.audit")).not_to_contain_text("A-10")  # no patient ids
    shoot(page, screenshots, "audit")


# ---------------------------------------------------------------- laptop and tablet


@pytest.mark.parametrize(
    "path", ["/app/patients", "/app/patients/A-101", "/app/patients/new", "/app/inbox"]
)
def test_pages_fit_a_tablet_without_sideways_scrolling(
    browser: Browser, site: Site, screenshots: Path, path: str
) -> None:
    tablet = browser.new_context(viewport=TABLET)
    try:
        page = tablet.new_page()
        sign_in_with_token(page, site)
        page.goto(site.a.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        if path == "/app/patients/A-101":
            shoot(page, screenshots, "patient-tablet")
        elif path == "/app/patients":
            shoot(page, screenshots, "patients")
    finally:
        tablet.close()


def test_the_keyboard_reaches_the_skip_link_first_and_it_skips_to_the_content(
    page: Page, site: Site
) -> None:
    sign_in_with_token(page, site)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))


def test_pages_load_nothing_from_other_sites(page: Page, site: Site) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in_with_token(page, site)
    page.goto(f"{site.a.url}/app/patients/new")
    page.get_by_label("Phenotype term 1").press_sequentially("ataxi", delay=20)
    expect(page.locator(".suggestions [role=option]").first).to_be_visible()
    assert requested and all(url.startswith(site.a.url) for url in requested)
