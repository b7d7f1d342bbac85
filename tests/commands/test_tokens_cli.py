"""``mme-node tokens``: create prints the token once, last; list and revoke manage clients."""

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


def test_create_prints_the_token_alone_on_the_last_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(settings, "create", "--name", "clinic-a", "--role", "submitter")

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert "shown only once" in lines[-2]
    with TokenRegistry(settings.database_path) as registry:
        assert registry.authenticate(lines[-1]).name == "clinic-a"


def test_create_refuses_an_unknown_role(settings: Settings) -> None:
    with pytest.raises(SystemExit):
        run(settings, "create", "--name", "clinic-a", "--role", "superuser")


def test_list_shows_clients_without_their_tokens(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(settings, "create", "--name", "peer-b", "--role", "peer")
    token = capsys.readouterr().out.splitlines()[-1]

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
