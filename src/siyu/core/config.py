"""Typed configuration (pydantic-settings). Environment variables are prefixed ``SIYU_``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_HASH_KEY = "siyu-dev-key-change-me"


class Settings(BaseSettings):
    """Process-wide settings; override with ``SIYU_<NAME>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="SIYU_", extra="ignore")

    hash_key: str = Field(
        default=DEV_HASH_KEY,
        description="Secret for keyed hashes (HMAC-SHA256) of phone and email; plaintext never lands in the lake.",
    )
    max_event_bytes: int = Field(default=32 * 1024, description="Segment's per-event size limit.")
    default_phone_region: str = Field(default="CN", description="Region assumed for phones without +country.")
    business_timezone: str = Field(
        default="Asia/Shanghai", description="Time zone of the business day: partitions and daily KPIs use it."
    )
    wecom_bind_state_prefix: str = Field(
        default="bind:",
        description="Channel QR code (活码) state prefix that binds a WeCom contact to the member id after it.",
    )
    duckdb_memory_limit: str | None = Field(
        default=None, description="DuckDB memory limit, e.g. '8GB' (default: half the machine's memory)."
    )
    spark_master: str = Field(default="local[2]", description="Spark master URL for --engine spark.")
    home: str = Field(default=".siyu", description="Folder for siyu's local state (the default SQLite store).")
    store_url: str | None = Field(
        default=None,
        description="Operational store URL, e.g. postgresql+psycopg://user@host/siyu (default: SQLite in home).",
    )
    spool_path: str | None = Field(
        default=None,
        description="Collector spool (SQLite): accepted events wait here, fsynced, until the loader lands them "
                    "(default: spool.db in home).",
    )
    collect_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the loader drains the spool into the lake and builds."
    )
    collect_max_defer_seconds: float = Field(
        default=60.0, ge=0,
        description="While events keep arriving, the loader builds dwd events first and defers orders, dws and "
                    "ads for at most this long since the last whole build (0: always build whole).",
    )
    dedupe_days: int = Field(
        default=7, ge=1, description="How long the collector remembers a messageId to drop retried copies."
    )
    max_batch_bytes: int = Field(default=500 * 1024, description="Segment's per-request (batch) size limit.")
    max_pii_keys: int = Field(default=10, ge=1, description="Active API keys whose role may read personal data "
                              "unmasked (the source reports: sensitive-data access for 10 people or fewer).")
    alert_webhook_url: str | None = Field(
        default=None, description="Where `siyu measure alerts run` POSTs new alerts (预警推送); unset: no webhook."
    )
    alert_webhook_secret: str | None = Field(
        default=None, description="HMAC-SHA256 key that signs alert webhook bodies (X-Siyu-Signature)."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
