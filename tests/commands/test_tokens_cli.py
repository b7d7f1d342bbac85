"""``mme-node tokens``: create prints the token once (alone with --quiet); list and revoke."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mme_node.commands.tokens import register
from mme_node.errors import NotFound
from mme_node.security.tokens import TokenRegistry
from mme_node.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def run(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mme-node")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tokens", *argv])
    code: int = args.handler(args, settings)
    return code


def test_create_ends_with_an_export_line_a_shell_can_run(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(settings, "create", "--name", "clinic-a", "--role", "submitter")

    out = capsys.readouterr().out
    last = out.splitlines()[-1]
    assert code == 0
    assert "shown only once" in out and str(settings.data_dir) in out
    assert last.startswith("export TOKEN=")
    with TokenRegistry(settings.database_path) as registry:
        assert registry.authenticate(last.removeprefix("export TOKEN=")).name == "clinic-a"


def test_create_quiet_prints_the_token_alone(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(settings, "create", "--name", "peer-b", "--role", "peer", "--quiet")

    out = capsys.readouterr().out
    assert code == 0
    with TokenRegistry(settings.database_path) as registry:
        assert registry.authenticate(out.removesuffix("\n")).name == "peer-b"


@pytest.mark.parametrize("role", ["submitter", "peer", "admin"])
def test_create_says_what_the_role_may_do(
    settings: Settings, capsys: pytest.CaptureFixture[str], role: str
) -> None:
    run(settings, "create", "--name", f"client-{role}", "--role", role)
    out = capsys.readouterr().out
    expected = {"submitter": "own patients", "peer": "POST /match", "admin": "owns no patients"}
    assert expected[role] in out


def test_create_refuses_an_unknown_role(settings: Settings) -> None:
    with pytest.raises(SystemExit):
        run(settings, "create", "--name", "clinic-a", "--role", "superuser")


def test_list_shows_clients_without_their_tokens(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(settings, "create", "--name", "peer-b", "--role", "peer", "--quiet")
    token = capsys.readouterr().out.strip()

    code = run(settings, "list")

    out = capsys.readouterr().out
    assert code == 0
    assert "peer-b" in out and "peer" in out and "active" in out
    assert token not in out


def test_list_with_no_clients_says_so(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(settings, "list") == 0
    assert "No clients" in capsys.readouterr().out


def test_revoke_marks_the_client_revoked(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(settings, "create", "--name", "clinic-a", "--role", "submitter")

    code = run(settings, "revoke", "clinic-a")
    run(settings, "list")

    assert code == 0
    assert "revoked" in capsys.readouterr().out.splitlines()[-1]


def test_revoke_of_unknown_client_is_not_found(settings: Settings) -> None:
    with pytest.raises(NotFound):
        run(settings, "revoke", "nobody")
