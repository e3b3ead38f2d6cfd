"""Settings fail fast with messages that name the setting, and .env.example lists them all."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def make(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


def test_defaults_serve_locally_with_the_packaged_model():
    settings = make()
    assert settings.embedded_database
    assert settings.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert settings.embedding_dimension == 384
    assert (settings.host, settings.port) == ("127.0.0.1", 8001)


def test_unknown_mode_names_the_setting(monkeypatch):
    monkeypatch.setenv("EMBEDDING_MODE", "gpu")
    with pytest.raises(ValidationError, match="EMBEDDING_MODE must be 'real' or 'mock'"):
        Settings(_env_file=None)


def test_mode_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("EMBEDDING_MODE", " Mock ")
    assert Settings(_env_file=None).embedding_mode == "mock"


def test_code_dimension_must_match(monkeypatch):
    monkeypatch.setenv("EMBEDDING_DIMENSION", "768")
    monkeypatch.setenv("CODE_EMBEDDING_DIMENSION", "384")
    with pytest.raises(ValidationError, match="CODE_EMBEDDING_DIMENSION .* must equal"):
        Settings(_env_file=None)


def test_text_fields_from_comma_separated_env(monkeypatch):
    monkeypatch.setenv("EMBEDDING_TEXT_FIELDS", "summary, text ,,")
    assert Settings(_env_file=None).embedding_text_fields == ("summary", "text")
    monkeypatch.setenv("EMBEDDING_TEXT_FIELDS", " , ")
    with pytest.raises(ValidationError, match="EMBEDDING_TEXT_FIELDS"):
        Settings(_env_file=None)


def test_pool_bounds_are_ordered(monkeypatch):
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "20")
    with pytest.raises(ValidationError, match="DB_POOL_MIN_SIZE"):
        Settings(_env_file=None)


def test_every_setting_is_documented_in_env_example():
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set()
    assert documented - fields == set()


def test_every_setting_is_in_the_readme_configuration_table():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| `?([^|`]*)`? \|", table, flags=re.MULTILINE)
    documented = {name for name, _ in rows}
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from the README table"
    assert documented - fields == set(), "README rows for settings that do not exist"
    for name, shown in rows:
        value = Settings.model_fields[name.lower()].get_default(call_default_factory=True)
        if value is None or shown == "unset":
            assert value is None and shown == "unset", name
        else:
            expected = (
                str(value).lower()
                if isinstance(value, bool)
                else ",".join(value)
                if isinstance(value, tuple | list)
                else str(value)
            )
            assert shown == expected, f"{name}: README says {shown!r}, the default is {value!r}"


def test_read_replicas_are_space_separated_urls_that_may_list_several_hosts(monkeypatch):
    first = "postgresql://app@r1,r2:5433/mnemolite?target_session_attrs=standby"
    monkeypatch.setenv("READ_DATABASE_URL", f"  {first}\n postgresql://app@r3/mnemolite {first}")
    settings = Settings(_env_file=None)
    assert settings.read_database_url == (first, "postgresql://app@r3/mnemolite")
    monkeypatch.setenv("READ_DATABASE_URL", " ")
    assert Settings(_env_file=None).read_database_url == ()
