"""``mme-node patients``: import reports every rejection by label, export round-trips."""

from __future__ import annotations

import asyncio
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from mme_node.cli import main
from mme_node.commands.patients import LIVE_NOTE
from mme_node.model import Consent, DisclosureLevel, PatientRecord, Sharing
from mme_node.security.tokens import Role, TokenRegistry
from mme_node.services.importing import MISSING_CONTACT
from mme_node.stores.sqlite import SQLitePatientStore

BENCHMARK = Path(str(resources.files("mme_node") / "data" / "benchmark_patients.json"))
CONTACT_FLAGS = ("--contact-name", "Genetics team", "--contact-href", "mailto:gen@example.org")


def mme_patient(patient_id: str, **changes: object) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "id": patient_id,
        "contact": {"name": "Dr. Example", "href": "mailto:dr.example@example.org"},
        "features": [{"id": "HP:0001250"}, {"id": "HP:0000252", "observed": "no"}],
        "genomicFeatures": [{"gene": {"id": "SCN1A"}}],
    }
    return patient | changes


def phenopacket(packet_id: str) -> dict[str, Any]:
    """A small GA4GH Phenopacket v2 (phenopacket-store style): two terms and a causal gene."""
    return {
        "id": packet_id,
        "subject": {"id": f"{packet_id}-proband", "sex": "MALE"},
        "phenotypicFeatures": [
            {"type": {"id": "HP:0003701", "label": "Proximal muscle weakness"}},
            {"type": {"id": "HP:0002098", "label": "Respiratory distress"}, "excluded": True},
        ],
        "interpretations": [
            {
                "id": "i1",
                "progressStatus": "SOLVED",
                "diagnosis": {
                    "disease": {"id": "OMIM:161800", "label": "Congenital myopathy 2A"},
                    "genomicInterpretations": [
                        {
                            "interpretationStatus": "CAUSATIVE",
                            "gene": {"valueId": "HGNC:129", "symbol": "ACTA1"},
                        }
                    ],
                },
            }
        ],
        "metaData": {"phenopacketSchemaVersion": "2.0.2", "createdBy": "test"},
    }


def write(path: Path, content: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def use_node(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """Point the command line at ``data_dir`` (``MME_*`` variables, as a user would)."""
    monkeypatch.setenv("MME_DATA_DIR", str(data_dir))


@pytest.fixture
def data_dir(cli_data_dir: Path) -> Path:
    with TokenRegistry(cli_data_dir / "mme-node.sqlite3") as registry:
        for owner in ("clinic-a", "a", "b", "c"):  # imports need a registered submitter
            registry.create(owner, Role.SUBMITTER)
        registry.create("peer-x", Role.PEER)
    return cli_data_dir


def stored(data_dir: Path) -> dict[str, PatientRecord]:
    """The node's records by patient id, read straight from its SQLite file."""

    async def read() -> list[PatientRecord]:
        store = SQLitePatientStore(data_dir / "mme-node.sqlite3")
        await store.open()
        try:
            return [record async for record in store.iter_records()]
        finally:
            await store.close()

    return {record.patient.id: record for record in asyncio.run(read())}


def exported(capsys: pytest.CaptureFixture[str], *flags: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["patients", "export", *flags]) == 0
    documents: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return documents


# ---------------------------------------------------------------- import


def test_import_of_the_benchmark_patients_stores_all_fifty_and_shows_their_warnings(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["patients", "import", str(BENCHMARK), "--owner", "clinic-a"])

    out = capsys.readouterr().out
    assert code == 0
    assert "Imported 50 patients for owner 'clinic-a', rejected 0." in out
    for label in (
        "benchmark_patients.json[12] (P0001017)",
        "benchmark_patients.json[13] (P0001018)",
    ):
        assert f"{label}: patient.genomicFeatures" in out and "has no start position" in out
    assert LIVE_NOTE in out
    records = stored(data_dir)
    assert len(records) == 50
    assert {record.owner for record in records.values()} == {"clinic-a"}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"features": [{"id": "HP:12"}]}, '"HP:12" is not an HPO id'),
        ({"contact": {"name": "No link"}}, "patient.contact.href: is required"),
    ],
    ids=["malformed-term", "no-contact-href"],
)
def test_an_invalid_patient_is_named_with_its_reason_and_the_rest_imported(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: dict[str, Any],
    reason: str,
) -> None:
    cases = write(
        tmp_path / "cases.json", [mme_patient("P1"), mme_patient("P2", **bad), mme_patient("P3")]
    )

    code = main(["patients", "import", str(cases), "--owner", "clinic-a"])

    out = capsys.readouterr().out
    assert code == 1
    assert "Imported 2 patients for owner 'clinic-a', rejected 1." in out
    (line,) = [line for line in out.splitlines() if "cases.json[1] (P2): " in line]
    assert reason in line
    assert set(stored(data_dir)) == {"P1", "P3"}


@pytest.mark.parametrize("owner", ["", "bad name/with slash", " clinic-a", "-x"])
def test_import_refuses_an_owner_name_tokens_create_would_refuse_as_a_usage_error(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], owner: str
) -> None:
    source = write(tmp_path / "one.json", mme_patient("P1"))
    with pytest.raises(SystemExit) as exited:
        main(["patients", "import", str(source), f"--owner={owner}"])
    assert exited.value.code == 2
    assert "is not a client name" in capsys.readouterr().err
    assert stored(data_dir) == {}


@pytest.mark.parametrize(
    ("owner", "reason"),
    [
        ("nobody", "no client named 'nobody'"),
        ("peer-x", "only a submitter owns patients"),
    ],
)
def test_import_refuses_an_owner_that_is_not_a_submitter_and_says_how_to_make_one(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], owner: str, reason: str
) -> None:
    source = write(tmp_path / "one.json", mme_patient("P1"))
    assert main(["patients", "import", str(source), "--owner", owner]) == 2
    err = capsys.readouterr().err
    assert reason in err
    if owner == "nobody":
        assert "tokens create --name nobody --role submitter" in err
    assert stored(data_dir) == {}


def test_a_term_newer_than_the_release_is_imported_pending_with_a_warning(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = {"features": [{"id": "HP:0001250"}, {"id": "HP:0025834"}]}
    cases = write(tmp_path / "cases.json", [mme_patient("P1", **newer)])

    code = main(["patients", "import", str(cases), "--owner", "clinic-a"])

    out = capsys.readouterr().out
    assert code == 0
    assert "cases.json[0] (P1): patient.features[1].id: unknown HPO term 'HP:0025834'" in out
    assert stored(data_dir)["P1"].patient.pending_terms == ("HP:0025834",)


def test_a_directory_of_mme_json_and_phenopackets_imports_both(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source"
    write(source / "mme" / "cases.json", [mme_patient("P1"), {"patient": mme_patient("P2")}])
    write(source / "phenopackets" / "PMID_1_P1.json", phenopacket("PMID_1_P1"))
    write(source / "phenopackets" / "family" / "PMID_2_P4.json", phenopacket("PMID_2_P4"))
    (source / "README.txt").write_text("not a patient", encoding="utf-8")

    code = main(["patients", "import", str(source), "--owner", "clinic-a", *CONTACT_FLAGS])

    assert code == 0
    assert "Imported 4 patients" in capsys.readouterr().out
    records = stored(data_dir)
    assert set(records) == {"P1", "P2", "PMID_1_P1", "PMID_2_P4"}
    packet = records["PMID_2_P4"].patient
    assert (packet.contact.name, packet.contact.href) == ("Genetics team", "mailto:gen@example.org")
    assert packet.observed_terms == ("HP:0003701",)
    assert packet.excluded_terms == ("HP:0002098",)
    assert packet.gene_ids == ("HGNC:129",)


def test_phenopackets_without_a_contact_are_rejected_and_mme_json_still_imported(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "source" / "a.json", mme_patient("P1"))
    write(tmp_path / "source" / "b.json", phenopacket("PP1"))

    code = main(["patients", "import", str(tmp_path / "source"), "--owner", "clinic-a"])

    assert code == 1
    assert f"b.json (PP1): {MISSING_CONTACT}" in capsys.readouterr().out
    assert set(stored(data_dir)) == {"P1"}


def test_forcing_the_phenopacket_format_without_a_contact_is_a_usage_error(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packet = write(tmp_path / "packet.json", phenopacket("PP1"))

    code = main(["patients", "import", str(packet), "--owner", "a", "--format", "phenopacket"])

    assert code == 2
    assert MISSING_CONTACT in capsys.readouterr().err
    assert stored(data_dir) == {}


def test_a_contact_flag_that_is_not_a_link_is_a_usage_error(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packet = write(tmp_path / "packet.json", phenopacket("PP1"))
    flags = ("--contact-name", "Team", "--contact-href", "javascript:alert(1)")

    code = main(["patients", "import", str(packet), "--owner", "clinic-a", *flags])

    assert code == 2
    assert "--contact-href:" in capsys.readouterr().err


def test_a_file_that_is_not_json_is_a_rejection_not_a_crash(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "a-broken.json").write_text('[{"id": "P0",', encoding="utf-8")
    write(tmp_path / "source" / "b-good.json", [mme_patient("P1")])

    code = main(["patients", "import", str(tmp_path / "source"), "--owner", "clinic-a"])

    out = capsys.readouterr().out
    assert code == 1
    assert "a-broken.json: not valid JSON" in out
    assert set(stored(data_dir)) == {"P1"}


def test_a_missing_path_is_a_usage_error(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["patients", "import", str(tmp_path / "nowhere.json"), "--owner", "clinic-a"])

    assert code == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_reimport_replaces_each_patient_at_version_two_without_duplicates(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = write(tmp_path / "cases.json", [mme_patient("P1"), mme_patient("P2")])
    main(["patients", "import", str(cases), "--owner", "clinic-a"])
    write(tmp_path / "cases.json", [mme_patient("P1", label="second"), mme_patient("P2")])

    code = main(["patients", "import", str(cases), "--owner", "clinic-a"])

    records = stored(data_dir)
    assert code == 0
    assert {pid: record.version for pid, record in records.items()} == {"P1": 2, "P2": 2}
    assert records["P1"].patient.label == "second"


def test_import_progress_on_a_terminal_counts_rejected_records_too(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    bad = mme_patient("P2", features=[{"id": "HP:12"}])
    cases = write(tmp_path / "cases.json", [mme_patient("P1"), bad, mme_patient("P3")])

    main(["patients", "import", str(cases), "--owner", "clinic-a"])

    assert terminal.getvalue().splitlines()[-1].split("\r")[-1].startswith("importing 3 (")


# ---------------------------------------------------------------- export, list, count


def test_export_then_import_into_a_fresh_node_gives_equal_patients(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["patients", "import", str(BENCHMARK), "--owner", "clinic-a"])
    dump = tmp_path / "export.json"
    assert main(["patients", "export", "--owner", "clinic-a", "--output", str(dump)]) == 0
    first = stored(data_dir)
    capsys.readouterr()

    use_node(monkeypatch, tmp_path / "node-b")
    assert main(["tokens", "create", "--name", "clinic-a", "--role", "submitter"]) == 0
    code = main(["patients", "import", str(dump), "--owner", "clinic-a"])

    second = stored(tmp_path / "node-b")
    assert code == 0
    assert "Warnings" not in capsys.readouterr().out
    assert {pid: r.patient for pid, r in second.items()} == {
        pid: r.patient for pid, r in first.items()
    }


def test_export_writes_only_the_owners_patients_to_stdout(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = write(tmp_path / "cases.json", [mme_patient("P1"), mme_patient("P2")])
    main(["patients", "import", str(cases), "--owner", "clinic-a"])
    main(["patients", "import", str(write(tmp_path / "b.json", mme_patient("B1"))), "--owner", "b"])

    documents = exported(capsys, "--owner", "clinic-a")

    assert sorted(document["id"] for document in documents) == ["P1", "P2"]
    assert documents[0]["genomicFeatures"][0]["gene"]["_hgncId"] == "HGNC:10585"


def test_export_of_an_empty_node_is_an_empty_list(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exported(capsys) == []


def test_list_and_count_show_the_stored_patients(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = write(tmp_path / "cases.json", [mme_patient("P2"), mme_patient("P1")])
    main(["patients", "import", str(cases), "--owner", "clinic-a"])
    main(["patients", "import", str(write(tmp_path / "b.json", mme_patient("B1"))), "--owner", "b"])
    capsys.readouterr()

    main(["patients", "list", "--owner", "clinic-a"])
    rows = capsys.readouterr().out.splitlines()
    main(["patients", "count"])
    total = capsys.readouterr().out
    main(["patients", "count", "--owner", "b"])
    of_b = capsys.readouterr().out

    assert rows[0].split() == ["ID", "OWNER", "VERSION", "HPO", "UPDATED"]
    assert [row.split()[:3] for row in rows[1:]] == [
        ["P1", "clinic-a", "1"],
        ["P2", "clinic-a", "1"],
    ]
    assert (total, of_b) == ("3\n", "1\n")


# ---------------------------------------------------------------- consent


def test_import_flags_give_a_consent_to_patients_without_one_and_export_keeps_it(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(
        tmp_path / "cases.json",
        [
            mme_patient("P1"),
            {
                "patient": mme_patient("P2"),
                "consent": {"sharing": "local", "disclosure": "contact"},
            },
        ],
    )
    flags = ("--sharing", "countries", "--countries", "GB,FR", "--disclosure", "phenotype")

    assert main(["patients", "import", str(source), "--owner", "clinic-a", *flags]) == 0

    records = stored(data_dir)
    assert records["P1"].consent == Consent(
        Sharing.COUNTRIES, DisclosureLevel.PHENOTYPE, countries=("GB", "FR")
    )
    assert records["P2"].consent == Consent(Sharing.LOCAL, DisclosureLevel.CONTACT)
    by_id = {document["patient"]["id"]: document["consent"] for document in exported(capsys)}
    assert by_id == {
        "P1": {"sharing": "countries", "countries": ["GB", "FR"], "disclosure": "phenotype"},
        "P2": {"sharing": "local", "disclosure": "contact"},
    }


def test_patients_imported_without_consent_flags_are_under_the_node_default(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["patients", "import", str(write(tmp_path / "p.json", mme_patient("P1"))), "--owner", "c"])

    assert stored(data_dir)["P1"].consent is None
    (document,) = exported(capsys)
    assert document["id"] == "P1" and "consent" not in document  # a bare patient, as before


def test_a_bad_consent_flag_is_a_usage_error_naming_the_flag(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "p.json", mme_patient("P1"))

    code = main(
        [
            "patients",
            "import",
            str(source),
            "--owner",
            "c",
            "--sharing",
            "countries",
            "--disclosure",
            "genes",
        ]
    )

    assert code == 2
    assert "--countries" in capsys.readouterr().err
    assert not (data_dir / "mme-node.sqlite3").exists() or stored(data_dir) == {}
