import os
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


def test_the_data_dir_defaults_to_the_users_data_home_wherever_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={"XDG_DATA_HOME": "/srv/share"}).data_dir == Path(
        "/srv/share/mme-node"
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings(environ={}).data_dir == tmp_path / "home/.local/share/mme-node"


def test_a_relative_data_dir_in_the_environment_is_made_absolute_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"MME_DATA_DIR": "node-data"})
    assert settings.data_dir == tmp_path / "node-data"
    assert settings.data_dir.is_absolute()


def test_a_relative_data_dir_in_a_settings_file_is_relative_to_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    overlay = tmp_path / "etc" / "node.toml"
    overlay.write_text('data_dir = "../var/mme"\nhpo_dir_override = "~/hpo"\n')
    monkeypatch.chdir(tmp_path / "etc")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = load_settings(environ={"MME_CONFIG": "node.toml"})
    assert settings.data_dir == tmp_path / "etc" / ".." / "var" / "mme"
    assert settings.hpo_dir == tmp_path / "home" / "hpo"


def test_string_list_settings_read_toml_lists_and_comma_separated_variables(
    tmp_path: Path,
) -> None:
    overlay = tmp_path / "node.toml"
    overlay.write_text('web_owners = ["subject:abc = clinic-a", "email:x@y.org = clinic-b"]\n')
    from_file = load_settings(environ={"MME_CONFIG": str(overlay)})
    assert from_file.web_owners == ("subject:abc = clinic-a", "email:x@y.org = clinic-b")
    from_env = load_settings(environ={"MME_WEB_ADMINS": "subject:abc, email:x@y.org"})
    assert from_env.web_admins == ("subject:abc", "email:x@y.org")


def test_a_string_list_setting_refuses_other_values(tmp_path: Path) -> None:
    overlay = tmp_path / "node.toml"
    overlay.write_text("web_owners = [1, 2]\n")
    with pytest.raises(SettingsError, match="web_owners"):
        load_settings(environ={"MME_CONFIG": str(overlay)})


def test_settings_survive_the_trip_through_environment_variables(tmp_path: Path) -> None:
    # How `mme-node serve --workers N` hands its settings to worker processes.
    chosen = load_settings({}).replace(
        data_dir=tmp_path / "data",
        port=9123,
        workers=3,
        min_score=0.125,
        production=True,
        disclaimer="line one, with a comma",
        hpo_dir_override=None,
        web_owners=("email:ada@example.org", "domain:example.org"),
    )
    assert load_settings(chosen.environment()) == chosen
    assert load_settings(chosen.replace(hpo_dir_override=tmp_path).environment()) == chosen.replace(
        hpo_dir_override=tmp_path
    )


def test_workers_zero_means_one_per_cpu_and_negative_is_refused() -> None:
    assert load_settings({"MME_WORKERS": "0"}).worker_count() == len(os.sched_getaffinity(0))
    assert load_settings({"MME_WORKERS": "3"}).worker_count() == 3
    with pytest.raises(SettingsError, match="workers"):
        load_settings({"MME_WORKERS": "-1"}).worker_count()
