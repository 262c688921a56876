from pathlib import Path

import pytest

from matcher.config import Settings, load_settings
from matcher.errors import ConfigError


def test_defaults_without_file_or_environment():
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.data_dir == Path("var")
    assert settings.catalogue_path == Path("var/catalogue.sqlite")


def test_file_then_environment_then_arguments(tmp_path):
    config = tmp_path / "matcher.toml"
    config.write_text('[matcher]\ndata_dir = "from-file"\ndefault_top_k = 7\nbatch_size = 8\n')
    environ = {"MATCHER_CONFIG": str(config), "MATCHER_DEFAULT_TOP_K": "5", "MATCHER_SHOW_PROGRESS": "false"}
    settings = load_settings(environ=environ, data_dir=tmp_path / "from-args")
    assert settings.data_dir == tmp_path / "from-args"
    assert settings.default_top_k == 5
    assert settings.batch_size == 8
    assert settings.show_progress is False


def test_unknown_setting_in_file_is_named(tmp_path):
    config = tmp_path / "matcher.toml"
    config.write_text("top_kk = 3\n")
    with pytest.raises(ConfigError, match=r"Unknown setting\(s\) \['top_kk'\] in config file"):
        load_settings(config, environ={})


def test_bad_number_from_environment_is_named():
    with pytest.raises(
        ConfigError, match="Setting 'max_top_k' from the environment must be a positive whole number, got 'lots'"
    ):
        load_settings(environ={"MATCHER_MAX_TOP_K": "lots"})


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_unrelated_matcher_variables_are_ignored():
    assert load_settings(environ={"MATCHER_SOMETHING_ELSE": "1"}) == Settings()
