from pathlib import Path

import pytest

from advisor.settings import SETTINGS, SettingsError, load_settings, read_env_file


def test_defaults_select_the_offline_advisor(tmp_path):
    settings = load_settings({}, env_file=tmp_path / "missing.env")
    assert settings.provider == "offline"
    assert settings.horizon_days == 90
    assert settings.home == Path("~/.retention-advisor").expanduser()
    assert settings.host == "127.0.0.1"
    assert settings.auth is None


@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "OPENAI_BASE_URL"])
def test_a_key_or_a_base_url_selects_the_openai_provider(variable, tmp_path):
    settings = load_settings({variable: "x"}, env_file=None)
    assert settings.provider == "openai"
    forced = load_settings({variable: "x", "ADVISOR_PROVIDER": "offline"}, env_file=None)
    assert forced.provider == "offline"


def test_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nADVISOR_HORIZON_DAYS=60\nexport ADVISOR_MODEL='llama3'\n"
                        "ADVISOR_AUTH=ops:secret\n")
    settings = load_settings({"ADVISOR_HORIZON_DAYS": "30"}, env_file=env_file)
    assert settings.horizon_days == 30
    assert settings.model == "llama3"
    assert settings.auth == ("ops", "secret")


@pytest.mark.parametrize("values, message", [
    ({"ADVISOR_PROVIDER": "anthropic"}, "choose one of offline, openai"),
    ({"ADVISOR_HORIZON_DAYS": "ninety"}, "ADVISOR_HORIZON_DAYS='ninety' is not a number"),
    ({"ADVISOR_HORIZON_DAYS": "-5"}, "must be positive"),
    ({"ADVISOR_AUTH": "justauser"}, "user:password"),
    ({"ADVISOR_EMBEDDINGS": "bert"}, "choose one of local, openai"),
])
def test_bad_values_name_the_setting_and_the_fix(values, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(values, env_file=None)


def test_malformed_env_file_line_names_the_line(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ADVISOR_MODEL=x\nthis is not a setting\n")
    with pytest.raises(SettingsError, match=r"\.env:2"):
        read_env_file(env_file)


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in readme, setting.name
