"""One settings object for all of abrecon, read from ``ABRECON_*`` variables and ``.env``.

Every setting is documented in README.md (section "Settings") with its default. A setting with a
bad value stops abrecon at start with :class:`SettingsError`, whose message names the variable.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.amazon_business.operations import OPERATIONS, UsagePlan
from connectors.amazon_business.regions import Region, region_info
from connectors.amazon_business.roles import Role, parse_roles
from connectors.amazon_business.transport import ConnectionConfig

ENV_PREFIX = "ABRECON_"


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def parse_usage_plans(value: str) -> dict[str, UsagePlan]:
    """``"createReport=0.0167/15,getTransactions=0.5/10"`` as a map of operation to plan."""
    plans: dict[str, UsagePlan] = {}
    for item in _split_csv(value):
        name, sep, plan = item.partition("=")
        rate, slash, burst = plan.partition("/")
        if not sep or not slash:
            raise ValueError(f"{item!r} is not OPERATION=RATE/BURST")
        if name not in OPERATIONS:
            raise ValueError(f"{name!r} is not an Amazon Business operation")
        plans[name] = UsagePlan(float(rate), int(burst))
    return plans


class Settings(BaseSettings):
    """abrecon's configuration. Field names map to ``ABRECON_<NAME>`` variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    region: Region = Region.NA
    api_endpoint: str | None = None
    lwa_endpoint: str | None = None
    lwa_client_id: str = ""
    lwa_client_secret: SecretStr = SecretStr("")
    lwa_refresh_token: SecretStr = SecretStr("")
    roles: Annotated[frozenset[Role], NoDecode] = frozenset({Role.BUSINESS_PURCHASE_RECONCILIATION})
    marketplace_id: str | None = None
    user_email: str | None = None
    redis_url: str | None = None
    broker_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path("abrecon-data")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    connection_retries: int = Field(3, ge=0, le=10)
    rate_limiting: bool = True
    usage_plans: Annotated[dict[str, UsagePlan], NoDecode] = Field(default_factory=dict)
    download_max_bytes: int = Field(50 * 1024 * 1024, gt=0)
    download_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    blocking_max_wait: float = Field(300.0, ge=0)
    max_inline_wait: float = Field(2.0, ge=0)
    log_level: str = "INFO"

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, value: Any) -> Any:
        if isinstance(value, str | list | tuple | set | frozenset):
            return parse_roles(value if isinstance(value, str) else list(value))
        return value

    @field_validator("usage_plans", mode="before")
    @classmethod
    def _plans(cls, value: Any) -> Any:
        return parse_usage_plans(value) if isinstance(value, str) else value

    @field_validator("download_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        return tuple(_split_csv(value)) if isinstance(value, str) else value

    document_max_attempts: int = Field(3, ge=1, le=20)
    document_scope: Literal["auto", "all", "pay-by-invoice"] = "auto"
    lease_seconds: float = Field(60.0, gt=0)
    report_resolve_seconds: float = Field(120.0, gt=0)
    sync_window_days: int = Field(30, ge=1, le=366)
    sync_overlap_hours: int = Field(48, ge=0, le=24 * 30)
    sweep_interval_seconds: float = Field(120.0, gt=0)
    stage_grace_seconds: float = Field(300.0, gt=0)
    company_cards: Annotated[frozenset[str], NoDecode] = frozenset()
    posting_rules: Path | None = None
    reimbursement_period: Literal["month", "week"] = "month"
    export_formats: Annotated[tuple[str, ...], NoDecode] = ("csv",)
    export_dir: Path | None = None

    @field_validator("company_cards", mode="before")
    @classmethod
    def _cards(cls, value: Any) -> Any:
        cards = _split_csv(value) if isinstance(value, str) else list(value)
        for card in cards:
            if not (isinstance(card, str) and len(card) == 4 and card.isdigit()):
                raise ValueError(f"{card!r} is not the last four digits of a card")
        return frozenset(cards)

    @field_validator("export_formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        from worker.formats import JOURNAL_FORMATS

        names = tuple(_split_csv(value)) if isinstance(value, str) else tuple(value)
        for name in names:
            if name not in JOURNAL_FORMATS:
                raise ValueError(f"{name!r} is not a journal format ({', '.join(JOURNAL_FORMATS)})")
        return names

    @field_validator("posting_rules", "export_dir", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "api_endpoint", "lwa_endpoint", "redis_url", "broker_url", "database_url", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_endpoint", "lwa_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def api_base_url(self) -> str:
        """The API host requests go to: the override, else the region's production host."""
        return self.api_endpoint or region_info(self.region).api_host

    @property
    def lwa_token_url(self) -> str:
        return self.lwa_endpoint or region_info(self.region).lwa_token_url

    @property
    def effective_marketplace_id(self) -> str:
        return self.marketplace_id or region_info(self.region).default_marketplace_id

    @property
    def effective_export_dir(self) -> Path:
        """Where the job's export stage writes: ABRECON_EXPORT_DIR, else ``<data dir>/exports``."""
        return self.export_dir or self.data_dir / "exports"

    @property
    def effective_database_url(self) -> str:
        """The configured database, else a SQLite file under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'abrecon.db').resolve()}"

    @property
    def effective_broker_url(self) -> str | None:
        """The Celery broker: ABRECON_BROKER_URL, else ABRECON_REDIS_URL, else none (embedded)."""
        return self.broker_url or self.redis_url

    @property
    def pay_by_invoice_documents_only(self) -> bool:
        """Whether only pay-by-invoice documents are requested (NA supports no others)."""
        if self.document_scope == "auto":
            return self.region is Region.NA
        return self.document_scope == "pay-by-invoice"

    @property
    def party(self) -> str:
        """A stable, non-secret name for the (application, customer) pair Amazon throttles by."""
        raw = f"{self.lwa_client_id}\0{self.lwa_refresh_token.get_secret_value()}"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def connection_config(self) -> ConnectionConfig:
        """What the Amazon Business connectors need, taken from these settings."""
        return ConnectionConfig(
            region=self.region,
            api_base_url=self.api_base_url,
            lwa_token_url=self.lwa_token_url,
            client_id=self.lwa_client_id,
            client_secret=self.lwa_client_secret,
            refresh_token=self.lwa_refresh_token,
            roles=self.roles,
            marketplace_id=self.effective_marketplace_id,
            user_email=self.user_email,
            party=self.party,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            connection_retries=self.connection_retries,
            usage_plans=self.usage_plans,
            rate_limiting=self.rate_limiting,
            download_max_bytes=self.download_max_bytes,
            download_hosts=self.download_hosts,
            max_inline_wait=self.max_inline_wait,
            blocking_max_wait=self.blocking_max_wait,
        )


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation failure into :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
