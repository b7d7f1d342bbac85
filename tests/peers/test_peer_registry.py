"""The peer registry file: validation of peers, atomic 0600 writes, secrets kept out of sight."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mme_node.errors import Conflict, InvalidRequest, NotFound
from mme_node.model import DisclosureLevel
from mme_node.peers import Peer, PeerRegistry, RegistryFileError

TOKEN = "fake-token-for-tests-0000"


def make_peer(name: str = "alpha", url: str = "https://mme.example.org/api", **fields: Any) -> Peer:
    return Peer(name=name, base_url=url, token=TOKEN, **fields)


@pytest.fixture
def registry(tmp_path: Path) -> PeerRegistry:
    return PeerRegistry.in_data_dir(tmp_path / "data")


def test_peer_refuses_plain_http_to_a_non_loopback_host() -> None:
    with pytest.raises(InvalidRequest, match="plain http"):
        make_peer(url="http://mme.example.org/api")


def test_peer_refuses_plain_http_to_a_private_address() -> None:
    with pytest.raises(InvalidRequest, match="plain http"):
        make_peer(url="http://10.0.0.1:8000")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000", "http://127.1.2.3/mme", "http://[::1]:9000", "http://localhost"],
)
def test_peer_accepts_plain_http_to_loopback(url: str) -> None:
    assert make_peer(url=url).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://mme.example.org",
        "https://",
        "mme.example.org",
        "https://user:secret@mme.example.org",
        "https://mme.example.org/?q=1",
        "https://mme.example.org:99999",
        "https://mme.example.org/a b",
    ],
)
def test_peer_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(InvalidRequest):
        make_peer(url=url)


def test_peer_match_url_appends_match_to_the_base_without_double_slash() -> None:
    assert make_peer(url="https://mme.example.org/api/").match_url == (
        "https://mme.example.org/api/match"
    )


def test_peer_defaults_to_api_version_1_0() -> None:
    assert make_peer().api_version == "1.0"


@pytest.mark.parametrize(
    "fields",
    [
        {"api_version": "2.0"},
        {"country": "gb"},
        {"country": "GBR"},
        {"timeout": 0.0},
        {"timeout": float("nan")},
        {"inbound_token_name": "has space"},
    ],
)
def test_peer_refuses_invalid_settings(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        make_peer(**fields)


@pytest.mark.parametrize("name", ["", "-leading-dash", "a/b", "x" * 65])
def test_peer_refuses_invalid_names(name: str) -> None:
    with pytest.raises(InvalidRequest):
        make_peer(name=name)


def test_peer_refuses_a_token_that_could_inject_a_header() -> None:
    with pytest.raises(InvalidRequest, match="token"):
        Peer(name="alpha", base_url="https://mme.example.org", token="abc\r\nX-Evil: 1")


def test_peer_repr_and_str_hide_the_token() -> None:
    peer = make_peer()
    assert TOKEN not in repr(peer)
    assert TOKEN not in str(peer)


def test_registry_round_trips_every_field(registry: PeerRegistry) -> None:
    peer = make_peer(
        api_version="1.1",
        country="GB",
        enabled=False,
        timeout=2.5,
        inbound_token_name="alpha-node",
    )
    registry.add(peer)
    assert registry.get("alpha") == peer


def test_registry_file_is_created_mode_0600(registry: PeerRegistry) -> None:
    registry.add(make_peer())
    assert stat.S_IMODE(registry.path.stat().st_mode) == 0o600


def test_registry_rewrite_keeps_mode_0600_and_leaves_no_temporary_file(
    registry: PeerRegistry,
) -> None:
    registry.add(make_peer("alpha"))
    registry.add(make_peer("beta"))
    registry.disable("alpha")
    assert stat.S_IMODE(registry.path.stat().st_mode) == 0o600
    assert [p.name for p in registry.path.parent.iterdir()] == [registry.path.name]


def test_registry_file_is_valid_toml_with_peer_tables(registry: PeerRegistry) -> None:
    registry.add(make_peer("alpha", country="DE"))
    document = tomllib.loads(registry.path.read_text())
    assert document["peer"][0]["url"] == "https://mme.example.org/api"
    assert document["peer"][0]["country"] == "DE"


def test_registry_refuses_a_duplicate_name(registry: PeerRegistry) -> None:
    registry.add(make_peer())
    with pytest.raises(Conflict, match="alpha"):
        registry.add(make_peer(url="https://other.example.org"))


@pytest.mark.parametrize("action", ["get", "remove", "enable", "disable"])
def test_registry_reports_unknown_names(registry: PeerRegistry, action: str) -> None:
    with pytest.raises(NotFound, match="nobody"):
        getattr(registry, action)("nobody")


def test_registry_lists_peers_by_name_and_filters_enabled(registry: PeerRegistry) -> None:
    registry.add(make_peer("gamma"))
    registry.add(make_peer("alpha", enabled=False))
    registry.add(make_peer("beta"))
    assert [peer.name for peer in registry.list()] == ["alpha", "beta", "gamma"]
    assert [peer.name for peer in registry.enabled()] == ["beta", "gamma"]


def test_registry_disable_then_enable_restores_the_peer(registry: PeerRegistry) -> None:
    registry.add(make_peer())
    assert registry.disable("alpha").enabled is False
    assert registry.get("alpha").enabled is False
    assert registry.enable("alpha") == make_peer()


def test_registry_remove_forgets_the_peer(registry: PeerRegistry) -> None:
    registry.add(make_peer("alpha"))
    registry.add(make_peer("beta"))
    registry.remove("alpha")
    assert [peer.name for peer in registry.list()] == ["beta"]


def test_registry_without_a_file_is_empty(registry: PeerRegistry) -> None:
    assert registry.list() == ()


def test_registry_reports_an_invalid_peer_in_a_hand_edited_file(registry: PeerRegistry) -> None:
    registry.path.parent.mkdir(parents=True)
    registry.path.write_text('[[peer]]\nname = "x"\nurl = "http://mme.example.org"\ntoken = "t"\n')
    with pytest.raises(RegistryFileError, match="plain http"):
        registry.list()


def test_registry_reports_unknown_and_missing_fields(registry: PeerRegistry) -> None:
    registry.path.parent.mkdir(parents=True)
    registry.path.write_text('[[peer]]\nname = "x"\nurl = "https://a.example.org"\ncolour = 1\n')
    with pytest.raises(RegistryFileError, match="unknown colour, no token"):
        registry.list()


def test_registry_reports_a_field_of_the_wrong_type(registry: PeerRegistry) -> None:
    registry.path.parent.mkdir(parents=True)
    registry.path.write_text(
        '[[peer]]\nname = "x"\nurl = "https://a.example.org"\ntoken = "t"\nenabled = "yes"\n'
    )
    with pytest.raises(RegistryFileError, match="enabled is not a bool"):
        registry.list()


def test_registry_reads_an_integer_timeout(registry: PeerRegistry) -> None:
    registry.path.parent.mkdir(parents=True)
    registry.path.write_text(
        '[[peer]]\nname = "x"\nurl = "https://a.example.org"\ntoken = "t"\ntimeout = 5\n'
    )
    assert registry.get("x").timeout == 5.0


def test_example_peers_file_is_a_valid_registry() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "peers.example.toml"
    peers = PeerRegistry(example).list()
    assert peers
    assert all(peer.token.startswith("FAKE-") for peer in peers)


def test_registry_warns_when_the_file_is_readable_by_others(
    registry: PeerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    registry.add(make_peer())
    registry.path.chmod(0o644)
    registry.list()
    assert "readable by others" in caplog.text
    assert TOKEN not in caplog.text


# ---------------------------------------------------------------- sharing policy


def test_a_peers_maximum_disclosure_round_trips_through_the_file(registry: PeerRegistry) -> None:
    registry.add(make_peer("alpha", country="GB", max_disclosure="phenotype"))

    (alpha,) = registry.list()

    assert alpha.max_disclosure is DisclosureLevel.PHENOTYPE
    assert 'max_disclosure = "phenotype"' in registry.path.read_text()


def test_an_unknown_disclosure_level_is_refused_by_name() -> None:
    with pytest.raises(InvalidRequest, match="max disclosure 'everything'"):
        make_peer(max_disclosure="everything")


def test_the_caller_of_a_token_is_the_peer_linked_to_it_before_the_peer_named_like_it(
    registry: PeerRegistry,
) -> None:
    registry.add(make_peer("node-b", inbound_token_name="token-x"))
    registry.add(make_peer("token-x"))

    linked = registry.for_caller("token-x")
    named = registry.for_caller("node-b")

    assert linked is not None and linked.name == "node-b"
    assert named is not None and named.name == "node-b"
    assert registry.for_caller("nobody") is None
