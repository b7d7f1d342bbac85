from pathlib import Path

import pytest

from mme_node.settings import SettingsError, load_settings


def test_defaults_come_from_config_default_toml() -> None:
    settings = load_settings(environ={})
    assert settings.store == "sqlite"
    assert settings.max_results == 5
    assert settings.max_body_bytes == 1024 * 1024


def test_environment_overrides_file_and_is_typed() -> None:
    settings = load_settings(
        environ={"MME_PORT": "9123", "MME_DATA_DIR": "/tmp/x", "MME_MIN_SCORE": "0.25"}
    )
    assert settings.port == 9123
    assert settings.data_dir == Path("/tmp/x")
    assert settings.min_score == 0.25


def test_overlay_file_is_laid_over_defaults(tmp_path: Path) -> None:
    overlay = tmp_path / "node.toml"
    overlay.write_text('max_results = 9\ndisclaimer = "research only"\n')
    settings = load_settings(environ={"MME_CONFIG": str(overlay)})
    assert settings.max_results == 9
    assert settings.disclaimer == "research only"
    assert settings.port == 8000


def test_unknown_setting_in_file_is_an_error(tmp_path: Path) -> None:
    overlay = tmp_path / "node.toml"
    overlay.write_text("max_resluts = 9\n")
    with pytest.raises(SettingsError, match="max_resluts"):
        load_settings(environ={"MME_CONFIG": str(overlay)})


def test_badly_typed_environment_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="port"):
        load_settings(environ={"MME_PORT": "eighty"})


def test_boolean_settings_accept_common_spellings() -> None:
    assert load_settings(environ={"MME_DEMO": "yes"}).demo is True
    assert load_settings(environ={"MME_DEMO": "0"}).demo is False


def test_hpo_dir_defaults_to_data_dir_and_can_be_overridden() -> None:
    assert load_settings(environ={"MME_DATA_DIR": "/srv/mme"}).hpo_dir == Path("/srv/mme/hpo")
    shared = load_settings(environ={"MME_HPO_DIR_OVERRIDE": "/srv/hpo"})
    assert shared.hpo_dir == Path("/srv/hpo")
    assert isinstance(shared.hpo_dir_override, Path)
