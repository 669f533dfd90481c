"""Settings: defaults, then the config file, then environment variables, then overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.errors import ConfigError
from index.settings import Settings, load_settings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No POLICYQA_* variable from the machine, and a working directory without policyqa.toml."""
    for name in list(__import__("os").environ):
        if name.startswith("POLICYQA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_without_file_or_environment(clean_env):
    assert load_settings() == Settings()


def test_file_then_environment_then_overrides(clean_env, tmp_path):
    config = tmp_path / "custom.toml"
    config.write_text('top_k = 7\nport = 8000\nallowed_origins = ["https://a.example"]\n', encoding="utf-8")
    clean_env.setenv("POLICYQA_CONFIG", str(config))
    clean_env.setenv("POLICYQA_PORT", "9000")
    settings = load_settings(host="0.0.0.0", top_k=None)
    assert settings.top_k == 7  # from the file; a None override is no override
    assert settings.port == 9000  # the environment beats the file
    assert settings.host == "0.0.0.0"  # an override beats both
    assert settings.allowed_origins == ("https://a.example",)


def test_policyqa_toml_in_the_working_directory_is_read(clean_env, tmp_path):
    (tmp_path / "policyqa.toml").write_text("chunk_size = 300\n", encoding="utf-8")
    assert load_settings().chunk_size == 300


def test_a_named_config_file_that_does_not_exist_is_an_error(clean_env, tmp_path):
    clean_env.setenv("POLICYQA_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match=r"typo\.toml does not exist.*POLICYQA_CONFIG"):
        load_settings()
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=Path(tmp_path / "other.toml"))


@pytest.mark.parametrize(
    "content,message",
    [
        ("top_k = [", "not valid TOML"),
        ("no_such_setting = 1", "unknown setting 'no_such_setting'"),
        ('top_k = "many"', "setting 'top_k' cannot be 'many'"),
    ],
)
def test_bad_config_files_say_what_is_wrong(clean_env, tmp_path, content, message):
    (tmp_path / "policyqa.toml").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_environment_values_are_coerced_to_the_settings_types(clean_env):
    clean_env.setenv("POLICYQA_ALLOW_UNAUTHENTICATED", "yes")
    clean_env.setenv("POLICYQA_LLM_TIMEOUT_S", "2.5")
    clean_env.setenv("POLICYQA_ALLOWED_ORIGINS", "https://a.example, https://b.example")
    settings = load_settings()
    assert settings.allow_unauthenticated is True and settings.llm_timeout_s == 2.5
    assert settings.allowed_origins == ("https://a.example", "https://b.example")


def test_converted_models_are_kept_per_machine_outside_the_checkout(clean_env, tmp_path):
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_settings().model_cache_dir == tmp_path / "xdg" / "policyqa" / "models"
    clean_env.delenv("XDG_CACHE_HOME")
    clean_env.setenv("HOME", str(tmp_path / "home"))
    assert load_settings().model_cache_dir == tmp_path / "home" / ".cache" / "policyqa" / "models"
    clean_env.setenv("POLICYQA_MODEL_CACHE_DIR", str(tmp_path / "shared"))
    assert load_settings().model_cache_dir == tmp_path / "shared"


def test_watch_settings_come_from_the_environment(clean_env):
    clean_env.setenv("POLICYQA_WATCH", "1")
    clean_env.setenv("POLICYQA_WATCH_DEBOUNCE_S", "0.5")
    settings = load_settings()
    assert settings.watch is True and settings.watch_debounce_s == 0.5 and settings.watch_interval_s == 2.0
