"""``mme-node peers``: add, list, enable, disable, remove; the token never printed."""

from __future__ import annotations

import argparse
import io
import stat
from pathlib import Path

import pytest

from mme_node.commands.peers import register
from mme_node.errors import Conflict, InvalidRequest, NotFound
from mme_node.peers import PeerRegistry
from mme_node.settings import Settings

TOKEN = "fake-cli-token-1234567890"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def run(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mme-node")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["peers", *argv])
    code: int = args.handler(args, settings)
    return code


def add(settings: Settings, name: str = "alpha", *extra: str) -> int:
    return run(settings, "add", name, "--url", "https://mme.example.org", "--token", TOKEN, *extra)


def test_add_stores_every_option_in_the_data_dir_registry(settings: Settings) -> None:
    add(settings, "alpha", "--api-version", "1.1", "--country", "GB", "--timeout", "4")
    add(settings, "beta", "--disabled", "--inbound-token", "beta-node")
    registry = PeerRegistry.in_data_dir(settings.data_dir)
    alpha, beta = registry.list()
    assert (alpha.api_version, alpha.country, alpha.timeout, alpha.token) == (
        "1.1",
        "GB",
        4.0,
        TOKEN,
    )
    assert (beta.enabled, beta.inbound_token_name, beta.api_version) == (False, "beta-node", "1.0")
    assert stat.S_IMODE(registry.path.stat().st_mode) == 0o600


def test_add_reads_the_token_from_stdin_when_given_a_dash(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    run(settings, "add", "alpha", "--url", "https://mme.example.org", "--token", "-")
    assert PeerRegistry.in_data_dir(settings.data_dir).get("alpha").token == TOKEN


def test_add_refuses_plain_http_to_a_remote_host(settings: Settings) -> None:
    with pytest.raises(InvalidRequest, match="plain http"):
        run(settings, "add", "alpha", "--url", "http://mme.example.org", "--token", TOKEN)


def test_add_refuses_a_duplicate_name(settings: Settings) -> None:
    add(settings)
    with pytest.raises(Conflict):
        add(settings)


def test_add_and_list_never_print_the_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    add(settings, "alpha", "--country", "NL")
    run(settings, "list")
    output = capsys.readouterr()
    assert TOKEN not in output.out + output.err
    assert "alpha" in output.out and "NL" in output.out and "https://mme.example.org" in output.out


def test_list_says_so_when_there_are_no_peers(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(settings, "list")
    assert "No peers registered." in capsys.readouterr().out


def test_disable_and_enable_switch_the_peer(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    add(settings)
    registry = PeerRegistry.in_data_dir(settings.data_dir)
    run(settings, "disable", "alpha")
    assert registry.enabled() == ()
    run(settings, "enable", "alpha")
    assert [peer.name for peer in registry.enabled()] == ["alpha"]
    assert "is enabled" in capsys.readouterr().out


def test_remove_forgets_the_peer(settings: Settings) -> None:
    add(settings)
    run(settings, "remove", "alpha")
    assert PeerRegistry.in_data_dir(settings.data_dir).list() == ()


@pytest.mark.parametrize("action", ["remove", "enable", "disable"])
def test_actions_on_an_unknown_peer_fail_clearly(settings: Settings, action: str) -> None:
    with pytest.raises(NotFound, match="nobody"):
        run(settings, action, "nobody")


# ---------------------------------------------------------------- policy


def test_policy_sets_country_and_maximum_disclosure_and_list_shows_them(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    add(settings, "alpha", "--max-disclosure", "variants")

    run(settings, "policy", "alpha", "--country", "DE", "--max-disclosure", "phenotype")

    alpha = PeerRegistry.in_data_dir(settings.data_dir).get("alpha")
    assert (alpha.country, alpha.max_disclosure) == ("DE", "phenotype")
    assert "country DE, shown at most phenotype" in capsys.readouterr().out
    run(settings, "list")
    assert "phenotype" in capsys.readouterr().out


def test_policy_can_return_to_an_unknown_country_and_the_node_default(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    add(settings, "alpha", "--country", "DE", "--max-disclosure", "variants")

    run(settings, "policy", "alpha", "--no-country", "--default-disclosure")

    alpha = PeerRegistry.in_data_dir(settings.data_dir).get("alpha")
    assert (alpha.country, alpha.max_disclosure) == (None, None)
    assert "country unknown, shown at most genes (the node default)" in capsys.readouterr().out


def test_policy_without_a_change_is_a_usage_error(settings: Settings) -> None:
    add(settings, "alpha")

    with pytest.raises(InvalidRequest, match="nothing to change"):
        run(settings, "policy", "alpha")
