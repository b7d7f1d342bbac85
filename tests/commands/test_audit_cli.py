"""``mme-node audit``, ``patients delete``, ``history purge``, and what other commands log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mme_node.cli import main
from mme_node.security.audit import AuditLog
from mme_node.security.keys import NodeKey

TOKEN = "fake-peer-token-for-cli-tests"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def entries(data_dir: Path) -> list[dict[str, Any]]:
    log = AuditLog(data_dir / "mme-node.sqlite3", NodeKey.in_data_dir(data_dir))
    try:
        return [stored.document for stored in log.iter_entries()]
    finally:
        log.close()


def import_patient(tmp_path: Path, capsys: pytest.CaptureFixture[str], patient_id: str) -> None:
    patient = {
        "id": patient_id,
        "contact": {"name": "Dr CLI", "href": "mailto:cli@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
    source = tmp_path / f"{patient_id}.json"
    source.write_text(json.dumps(patient))
    assert run(capsys, "patients", "import", str(source), "--owner", "clinic-a")[0] == 0


@pytest.fixture
def node_with_entries(cli_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A node whose audit log holds token and peer changes."""
    run(capsys, "tokens", "create", "--name", "clinic-a", "--role", "submitter")
    run(capsys, "tokens", "create", "--name", "node-b", "--role", "peer")
    run(capsys, "tokens", "revoke", "node-b")
    run(capsys, "peers", "add", "node-b", "--url", "https://b.example.org", "--token", TOKEN)
    run(capsys, "peers", "policy", "node-b", "--country", "GB", "--max-disclosure", "phenotype")
    run(capsys, "peers", "disable", "node-b")
    run(capsys, "peers", "remove", "node-b")
    return cli_data_dir


def test_token_and_peer_changes_are_audited_with_the_operator_and_without_secrets(
    node_with_entries: Path,
) -> None:
    logged = entries(node_with_entries)

    assert [entry["event"] for entry in logged] == [
        "token-created",
        "token-created",
        "token-revoked",
        "peer-added",
        "peer-changed",
        "peer-changed",
        "peer-removed",
    ]
    assert all(entry["actor"].startswith("cli") for entry in logged)
    assert logged[4]["details"]["country"] == "GB"
    assert logged[4]["details"]["max_disclosure"] == "phenotype"
    assert TOKEN not in json.dumps(logged)


def test_verify_passes_on_an_untouched_log_and_names_an_edited_entry(
    node_with_entries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "audit", "verify")
    assert code == 0 and "intact: 7 entries" in out

    with sqlite3.connect(node_with_entries / "mme-node.sqlite3") as database:
        database.execute("DROP TRIGGER audit_log_is_append_only_update")
        database.execute(
            "UPDATE audit_log SET entry = replace(entry, '\"GB\"', '\"FR\"') WHERE seq = 5"
        )

    code, out = run(capsys, "audit", "verify")
    assert code == 1
    assert "entry 5 was changed" in out


def test_verify_names_a_removed_entry(
    node_with_entries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(node_with_entries / "mme-node.sqlite3") as database:
        database.execute("DROP TRIGGER audit_log_is_append_only_delete")
        database.execute("DELETE FROM audit_log WHERE seq = 3")

    code, out = run(capsys, "audit", "verify")

    assert code == 1 and "entry 3 was removed" in out


def test_export_writes_json_lines_filtered_by_event_and_time(
    node_with_entries: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "audit.jsonl"
    code, out = run(capsys, "audit", "export", "--event", "peer-changed", "--output", str(target))

    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert code == 0 and "Exported 2 audit entries" in out
    assert [(line["seq"], line["event"]) for line in lines] == [
        (5, "peer-changed"),
        (6, "peer-changed"),
    ]
    assert all(len(line["hash"]) == 64 for line in lines)
    code, out = run(capsys, "audit", "export", "--since", "2999-01-01")
    assert code == 0 and out.startswith("Exported 0 audit entries")


def test_patients_delete_erases_and_prints_the_receipt(
    node_with_entries: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_patient(tmp_path, capsys, "P7")

    code, out = run(capsys, "patients", "delete", "P7", "--owner", "clinic-a")

    assert code == 0
    assert "Erased clinic-a's patient 'P7'" in out
    assert "no one shown this patient" in out
    assert run(capsys, "patients", "count")[1].strip() == "0"
    assert entries(node_with_entries)[-1]["event"] == "erasure"
    code, out = run(capsys, "patients", "delete", "P7", "--owner", "clinic-a")
    assert code == 2 and "not found" in out


def test_audit_shown_answers_for_a_patient_nobody_saw(
    node_with_entries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "audit", "shown", "P7", "--owner", "clinic-a")

    assert code == 0 and "records no one shown" in out


def test_history_purge_takes_a_period_and_refuses_a_bad_one(
    node_with_entries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "history", "purge", "--older-than", "30")
    assert code == 0 and "Erased 0 matches recorded more than 30 days ago" in out

    with pytest.raises(SystemExit):
        main(["history", "purge", "--older-than", "0"])
