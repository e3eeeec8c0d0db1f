"""Settings come from ABRECON_* variables; a bad value names its variable."""

from __future__ import annotations

import pytest

from connectors.amazon_business.operations import UsagePlan
from connectors.amazon_business.regions import Region
from connectors.amazon_business.roles import Role
from worker.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ABRECON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_defaults() -> None:
    s = load_settings()
    assert s.region is Region.NA
    assert s.api_base_url == "https://na.business-api.amazon.com"
    assert s.lwa_token_url == "https://api.amazon.com/auth/o2/token"
    assert s.roles == {Role.BUSINESS_PURCHASE_RECONCILIATION}
    assert s.effective_marketplace_id == "ATVPDKIKX0DER"
    assert s.redis_url is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABRECON_REGION", "EU")
    monkeypatch.setenv("ABRECON_API_ENDPOINT", "http://127.0.0.1:8000/")
    monkeypatch.setenv(
        "ABRECON_ROLES", "Business Purchase Reconciliation, amazon business analytics"
    )
    monkeypatch.setenv("ABRECON_USAGE_PLANS", "createReport=0.5/3")
    monkeypatch.setenv("ABRECON_DOWNLOAD_HOSTS", "docs.example.com, *.example.org")
    s = load_settings()
    assert s.region is Region.EU
    assert s.api_base_url == "http://127.0.0.1:8000"
    assert s.effective_marketplace_id == "A1F83G8C2ARO7P"
    assert s.roles == {Role.BUSINESS_PURCHASE_RECONCILIATION, Role.AMAZON_BUSINESS_ANALYTICS}
    assert s.usage_plans == {"createReport": UsagePlan(0.5, 3)}
    config = s.connection_config()
    assert config.allowed_download_hosts()[-3:] == (
        "docs.example.com",
        "*.example.org",
        "127.0.0.1",
    )


def test_dotenv_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    Path(str(tmp_path), ".env").write_text("ABRECON_REGION=FE\n")
    assert load_settings().region is Region.FE


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ABRECON_REGION", "MARS"),
        ("ABRECON_ROLES", "Business Purchase Reconciliation,Janitor"),
        ("ABRECON_API_ENDPOINT", "ftp://example.com"),
        ("ABRECON_READ_TIMEOUT", "-1"),
        ("ABRECON_USAGE_PLANS", "createReport=fast"),
        ("ABRECON_USAGE_PLANS", "noSuchOperation=1/1"),
        ("ABRECON_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_secrets_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABRECON_LWA_CLIENT_SECRET", "very-secret-value")
    monkeypatch.setenv("ABRECON_LWA_REFRESH_TOKEN", "Atzr|refresh-secret")
    s = load_settings()
    text = repr(s) + str(s) + repr(s.connection_config())
    assert "very-secret-value" not in text
    assert "refresh-secret" not in text
    assert len(s.party) == 16 and "secret" not in s.party
