"""Touchpoints from the lake (触点明细): the touches table the attribution models read, built by one SQL query.

Every event named in :data:`DEFAULT_TOUCH_RULES` (or a brand's own table) is a touch (触点); every paid
order is a conversion (转化). The query, written once in siyu's dialect, runs unchanged on DuckDB and
Spark and returns one row per touch per journey, sorted by ``journey_id, touch_time, channel`` (then
``touch_type``) so :class:`siyu.measure.attribution.Journeys` skips its sort. The rules, all in
docs/attribution.md ("Touchpoints from the lake"):

- **Converting journey** (转化旅程): one per conversion, id ``c:<one_id>:<order_id>``; its touches are the
  person's touches in ``[conversion_time − lookback, conversion_time)``: a touch exactly ``lookback``
  before counts, one at the conversion instant does not. With ``overlap="after_previous"`` (default)
  the journey also starts at the person's previous conversion (inclusive), so each touch counts for
  at most one conversion — the next one after it; ``"shared"`` lets a touch count for every
  conversion whose window holds it.
- **Non-converting journey** (未转化旅程): a touch that is in no converting journey (no conversion
  followed within ``lookback``) goes to window ``k = ⌊(data_end − touch_time) / lookback⌋``, counted
  back from the end of the data, id ``n:<one_id>:<k>``. ``non_converting="last_window"`` keeps only
  window 0 of people who never converted.
- **Sessions**: a rule with ``session_minutes`` (the mini program's page views) keeps one touch per
  session, at its first event; a gap longer than ``session_minutes`` starts a new session.
- **Flags**: ``is_vip`` is the member tier (:class:`~siyu.profile.config.TierConfig`) at ``vip_tier``
  or above, ``is_silent`` the lifecycle stage *silent* (:class:`~siyu.profile.config.LifecycleConfig`),
  both as of the day before the journey's window opens, so neither sees the journey itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from siyu.core.errors import SiyuError
from siyu.measure.event_sql import Params, business_day_end, check_column, check_event_name, column_text, last_day
from siyu.profile.config import LifecycleConfig, TierConfig
from siyu.warehouse.engine import Engine
from siyu.warehouse.layers.dws import BRAND_SIDE_EVENTS

#: The source reports advise a 15–30 day lookback (回溯窗口) for private-domain attribution.
ADVISED_LOOKBACK_DAYS = (15, 30)
MAX_LOOKBACK_DAYS = 3650
MICROS_PER_DAY = 86_400_000_000
#: Day numbers are days since this date: integer arithmetic on days is the same on every engine.
_DAY_ZERO = "DATE '2000-01-01'"


class BadTouchConfig(SiyuError):
    """The touchpoint config does not validate; ``input_name`` names the field at fault."""

    code = "bad_touch_config"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TouchRule(_Strict):
    """How one event becomes a touch: its touch type and the channel (touch family) it counts under.

    The channel is the first non-empty value of ``channel_columns`` (event columns or
    ``properties.<key>``), else ``channel``.
    """

    touch_type: str = Field(min_length=1, max_length=64)
    channel: str = Field(min_length=1, max_length=64)
    channel_columns: tuple[str, ...] = ()
    session_minutes: int | None = Field(default=None, ge=1, le=24 * 60)

    @field_validator("channel_columns")
    @classmethod
    def _columns_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_column(c) for c in v)


#: The touch families of the source reports: campaign messages, community, customer service, channel
#: QR codes, content and mini-program sessions. One row per event; brands edit this table.
DEFAULT_TOUCH_RULES: dict[str, TouchRule] = {
    # campaign messages (营销触达): the channel they went out on, e.g. wecom / sms / official_account
    "message_delivered": TouchRule(touch_type="campaign", channel="campaign", channel_columns=("channel",)),
    # community (社群)
    "group_joined": TouchRule(touch_type="group_join", channel="community"),
    "group_message_sent": TouchRule(touch_type="interaction", channel="community"),
    # 1:1 customer service (客服咨询)
    "cs_consulted": TouchRule(touch_type="cs_chat", channel="customer_service"),
    # channel QR codes (渠道活码): the code's channel, else its state
    "wecom_friend_added": TouchRule(touch_type="qr_code", channel="qr_code", channel_columns=("channel", "state")),
    # content (内容): articles, videos, live streams, shares
    "article_read": TouchRule(touch_type="content", channel="content"),
    "video_played": TouchRule(touch_type="content", channel="content"),
    "live_viewed": TouchRule(touch_type="content", channel="content"),
    "content_shared": TouchRule(touch_type="content", channel="content"),
    # mini program (小程序): page views within 30 minutes of each other are one session
    "mp_page_viewed": TouchRule(touch_type="mini_program", channel="mini_program", session_minutes=30),
}


class ConversionSpec(_Strict):
    """What converts: paid orders from ``orders`` (value ``amount``), or an event from ``events``
    (value its ``amount`` column, 0 when missing)."""

    source: Literal["orders", "event"] = "orders"
    event: str | None = None

    @model_validator(mode="after")
    def _event_ok(self) -> ConversionSpec:
        if self.source == "event":
            if self.event is None:
                raise ValueError("source 'event' needs the conversion event's name in 'event'")
            check_event_name(self.event)
        elif self.event is not None:
            raise ValueError("'event' is only for source 'event' (orders convert by default)")
        return self


class TouchpointConfig(_Strict):
    """How the touches table is built; every field has the source reports' default.

    ``grouping`` picks the ``channel`` column: the touch family (``channel``), the campaign where the
    touch has one and the family otherwise (``campaign``), or the touch type (``touch_type``).
    """

    lookback_days: int = 30
    allow_any_window: bool = False
    grouping: Literal["channel", "campaign", "touch_type"] = "channel"
    conversion: ConversionSpec = Field(default_factory=ConversionSpec)
    touches: dict[str, TouchRule] = Field(default_factory=lambda: dict(DEFAULT_TOUCH_RULES))
    overlap: Literal["after_previous", "shared"] = "after_previous"
    non_converting: Literal["windows", "last_window"] = "windows"
    #: The data end (last business day used); default: the last day in ``events``.
    as_of: date | None = None
    #: Compute ``is_vip`` / ``is_silent``; off, both are false (one join less on a big lake).
    flags: bool = True
    vip_tier: str = "gold"
    tiers: TierConfig = Field(default_factory=TierConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)

    @model_validator(mode="after")
    def _consistent(self) -> TouchpointConfig:
        lo, hi = ADVISED_LOOKBACK_DAYS
        days = self.lookback_days
        if not 1 <= days <= MAX_LOOKBACK_DAYS:
            raise BadTouchConfig(f"lookback_days must be between 1 and {MAX_LOOKBACK_DAYS}, got {days}",
                                 code="bad_lookback_window", input_name="lookback_days")
        if not self.allow_any_window and not lo <= days <= hi:
            raise BadTouchConfig(f"lookback_days {days} is outside the advised {lo}–{hi} days; set "
                                 "allow_any_window=True to use it anyway", code="bad_lookback_window",
                                 input_name="lookback_days")
        if not self.touches:
            raise ValueError("touches is empty: name at least one touch event")
        for name in self.touches:
            check_event_name(name)
        converting = self.conversion.event if self.conversion.source == "event" else "order_paid"
        if converting in self.touches:
            raise ValueError(f"{converting!r} is the conversion: it cannot also be a touch")
        if self.vip_tier not in {level.name for level in self.tiers.levels}:
            raise ValueError(f"vip_tier {self.vip_tier!r} is not a level of tiers "
                             f"({', '.join(level.name for level in self.tiers.levels)})")
        return self

    @classmethod
    def parse(cls, config: Mapping[str, Any] | TouchpointConfig | None = None, **overrides: Any) -> TouchpointConfig:
        """Validate a config (a mapping, e.g. from YAML); errors are :class:`BadTouchConfig` naming the field."""
        if isinstance(config, TouchpointConfig):
            if not overrides:
                return config
            config = config.model_dump()
        try:
            return cls.model_validate({**dict(config or {}), **overrides})
        except ValidationError as exc:
            problems = [(".".join(str(p) for p in err["loc"]) or "config", err["msg"]) for err in exc.errors()]
            raise BadTouchConfig("; ".join(f"{name}: {msg}" for name, msg in problems),
                                 input_name=problems[0][0]) from None


def _day(column: str) -> str:
    return f"date_diff('day', {_DAY_ZERO}, {column})"


def _first_value(columns: tuple[str, ...], fallback: str, p: Params) -> str:
    """The first non-empty of ``columns`` (text), else the literal ``fallback`` (bound)."""
    parts = [f"nullif({column_text(c, p)}, '')" for c in columns]
    return f"coalesce({', '.join([*parts, p.text(fallback)])})" if parts else p.text(fallback)


def _case(cases: list[tuple[str, str]], p: Params, event: str = "e.event") -> str:
    """``CASE WHEN <event> = <name> THEN <expr> … END`` with every event name bound."""
    whens = " ".join(f"WHEN {event} = {p.text(name)} THEN {expr}" for name, expr in cases)
    return f"CASE {whens} END"


def _touches_cte(cfg: TouchpointConfig, p: Params, as_of: str) -> str:
    """``touch``: one row per touch (sessions collapsed) with its type and grouping channel."""
    rules = sorted(cfg.touches.items())
    touch_type = _case([(e, p.text(r.touch_type)) for e, r in rules], p)
    family = _case([(e, _first_value(r.channel_columns, r.channel, p)) for e, r in rules], p)
    channel = {"channel": "family", "campaign": "coalesce(campaign_id, family)", "touch_type": "touch_type"}
    pick = f"one_id, touch_time, touch_type, {channel[cfg.grouping]} AS channel"
    plain = [e for e, r in rules if r.session_minutes is None]
    sessions = [(e, r.session_minutes) for e, r in rules if r.session_minutes is not None]
    parts = [f"SELECT {pick} FROM raw WHERE event IN {p.text_list(plain)}"] if plain else []
    if sessions:
        gap_limit = _case([(e, p.bigint(m * 60_000_000)) for e, m in sessions], p, "event")
        parts.append(f"""SELECT {pick} FROM (
        SELECT *, date_diff('microsecond', lag(touch_time) OVER (
                    PARTITION BY one_id, event ORDER BY touch_time, family, campaign_id), touch_time) AS gap,
               {gap_limit} AS gap_limit
        FROM raw WHERE event IN {p.text_list([e for e, _ in sessions])}
    ) AS s WHERE gap IS NULL OR gap > gap_limit""")
    union = "\n    UNION ALL\n    ".join(parts)
    return f"""raw AS (
    SELECT e.one_id, e.event, e.event_time AS touch_time, {touch_type} AS touch_type, {family} AS family,
           nullif(CAST(e.campaign_id AS VARCHAR), '') AS campaign_id
    FROM events AS e
    WHERE e.event IN {p.text_list([e for e, _ in rules])} AND e.one_id IS NOT NULL AND e.event_time IS NOT NULL
      AND e.dt <= {as_of}
), touch AS (
    {union}
)"""


def _conversions_cte(cfg: TouchpointConfig, p: Params, as_of: str) -> str:
    """``conv``: one row per conversion with its id, time, value, day number and the previous one's time."""
    if cfg.conversion.source == "orders":
        source = f"""SELECT one_id, CAST(order_id AS VARCHAR) AS conversion_id, paid_at AS conversion_time,
               CAST(coalesce(amount, 0) AS DOUBLE) AS conversion_value, dt
        FROM orders WHERE one_id IS NOT NULL AND paid_at IS NOT NULL AND order_id IS NOT NULL AND dt <= {as_of}"""
    else:
        assert cfg.conversion.event is not None
        source = f"""SELECT one_id, CAST(row_number() OVER (
                   PARTITION BY one_id ORDER BY event_time, amount, order_id) AS VARCHAR) AS conversion_id,
               event_time AS conversion_time, CAST(coalesce(amount, 0) AS DOUBLE) AS conversion_value, dt
        FROM events WHERE event = {p.text(cfg.conversion.event)} AND one_id IS NOT NULL AND event_time IS NOT NULL
          AND dt <= {as_of}"""
    return f"""conv AS (
    SELECT one_id, conversion_id, conversion_time, conversion_value, {_day("dt")} AS conv_day,
           lag(conversion_time) OVER (PARTITION BY one_id ORDER BY conversion_time, conversion_id) AS prev_time
    FROM (
        {source}
    ) AS c
)"""


def _flags_cte(cfg: TouchpointConfig, p: Params, as_of: str) -> str:
    """``flags``: per journey, member tier ≥ vip_tier and lifecycle stage silent as of ``as_of_day``."""
    if not cfg.flags:
        return "flags AS (SELECT journey_id, FALSE AS is_vip, FALSE AS is_silent FROM journeys)"
    vip = next(level for level in cfg.tiers.levels if level.name == cfg.vip_tier)
    lc = cfg.lifecycle
    return f"""activity AS (
    SELECT one_id, {_day("dt")} AS day FROM events
    WHERE event NOT IN {p.text_list(list(BRAND_SIDE_EVENTS))} AND one_id IS NOT NULL AND dt <= {as_of}
    UNION
    SELECT one_id, {_day("dt")} AS day FROM orders WHERE one_id IS NOT NULL AND dt <= {as_of}
), idle AS (
    SELECT j.journey_id, j.as_of_day - max(a.day) AS idle_days
    FROM journeys AS j JOIN activity AS a ON a.one_id = j.one_id AND a.day <= j.as_of_day
    GROUP BY j.journey_id, j.as_of_day
), spend AS (
    SELECT j.journey_id, sum(o.amount) AS spend, count(*) AS n_orders
    FROM journeys AS j JOIN (
        SELECT one_id, CAST(amount AS DECIMAL(18,2)) AS amount, {_day("dt")} AS day FROM orders
        WHERE one_id IS NOT NULL AND dt <= {as_of}
    ) AS o ON o.one_id = j.one_id AND o.day <= j.as_of_day AND o.day > j.as_of_day - {p.bigint(cfg.tiers.window_days)}
    GROUP BY j.journey_id
), flags AS (
    SELECT j.journey_id,
        coalesce(s.spend, 0) >= CAST({p.bind(str(vip.min_spend))} AS DECIMAL(18,2))
            AND coalesce(s.n_orders, 0) >= {p.bigint(vip.min_orders)} AS is_vip,
        coalesce(i.idle_days >= {p.bigint(lc.silent_days)} AND i.idle_days < {p.bigint(lc.churned_days)}, FALSE)
            AS is_silent
    FROM journeys AS j LEFT JOIN spend AS s ON s.journey_id = j.journey_id
    LEFT JOIN idle AS i ON i.journey_id = j.journey_id
)"""


def touches_sql(config: TouchpointConfig, as_of: date) -> tuple[str, dict[str, Any]]:
    """The touches query over ``events`` and ``orders`` with data end ``as_of``, and its bound parameters."""
    p = Params()
    end_day = p.day(as_of)
    lookback_us = p.bigint(config.lookback_days * MICROS_PER_DAY)
    lookback = p.bigint(config.lookback_days)
    after_previous = ("\n        AND (c.prev_time IS NULL OR t.touch_time >= c.prev_time)"
                      if config.overlap == "after_previous" else "")
    # last_window: only window 0 of people who never converted
    buyers, keep = ("LEFT JOIN (SELECT DISTINCT one_id FROM conv) AS b ON b.one_id = m.one_id",
                    "WHERE m.conversion_id IS NOT NULL OR (m.window_no = 0 AND b.one_id IS NULL)"
                    ) if config.non_converting == "last_window" else ("", "")
    sql = f"""
WITH {_touches_cte(config, p, end_day)}, {_conversions_cte(config, p, end_day)}, matched AS (
    SELECT t.one_id, t.touch_time, t.touch_type, t.channel, c.conversion_id, c.conversion_time,
           c.conversion_value, c.conv_day,
           date_diff('microsecond', t.touch_time, {p.bind(business_day_end(as_of))}) // {lookback_us} AS window_no
    FROM touch AS t LEFT JOIN conv AS c
      ON c.one_id = t.one_id AND t.touch_time < c.conversion_time
        AND date_diff('microsecond', t.touch_time, c.conversion_time) <= {lookback_us}{after_previous}
), assigned AS (
    SELECT m.one_id, m.touch_time, m.touch_type, m.channel,
        CASE WHEN m.conversion_id IS NOT NULL THEN 'c:' || m.one_id || ':' || m.conversion_id
             ELSE 'n:' || m.one_id || ':' || CAST(m.window_no AS VARCHAR) END AS journey_id,
        m.conversion_id IS NOT NULL AS converted,
        coalesce(m.conversion_value, CAST(0 AS DOUBLE)) AS conversion_value,
        m.conversion_time,
        CASE WHEN m.conversion_id IS NOT NULL THEN m.conv_day - {lookback} - 1
             ELSE {_day(end_day)} - (m.window_no + 1) * {lookback} END AS as_of_day
    FROM matched AS m {buyers}
    {keep}
), journeys AS (
    SELECT DISTINCT journey_id, one_id, as_of_day FROM assigned
), {_flags_cte(config, p, end_day)}
SELECT a.journey_id, a.one_id, a.channel, a.touch_time, a.touch_type, a.converted, a.conversion_value,
       a.conversion_time, coalesce(f.is_vip, FALSE) AS is_vip, coalesce(f.is_silent, FALSE) AS is_silent
FROM assigned AS a LEFT JOIN flags AS f ON f.journey_id = a.journey_id
ORDER BY a.journey_id, a.touch_time, a.channel, a.touch_type
"""
    return sql, p.values


def data_end(engine: Engine, config: TouchpointConfig) -> date:
    """The last business day the touches use: ``config.as_of``, else the last day in ``events``."""
    got = config.as_of or last_day(engine, "events")
    if got is None:
        raise SiyuError("events is empty: there are no touches", code="no_data", input_name="events")
    return got


def touches_table(engine: Engine, config: TouchpointConfig | Mapping[str, Any] | None = None) -> pa.Table:
    """The touches table (see the module doc) as Arrow, sorted by journey, time and channel.

    Reads the ``events`` and ``orders`` views (:func:`siyu.profile.views.register_profile_sources`).
    For lakes whose touches do not fit in memory use :func:`write_touches`::

        touches = touches_table(engine, {"grouping": "campaign", "lookback_days": 15})
        build_model("markov").fit(touches).to_table()
    """
    cfg = TouchpointConfig.parse(config)
    sql, params = touches_sql(cfg, data_end(engine, cfg))
    return engine.query(sql, params)


def write_touches(engine: Engine, config: TouchpointConfig | Mapping[str, Any] | None, out_dir: Path) -> Path:
    """Write the touches table as parquet into ``out_dir`` (a fresh folder) with ``Engine.write``.

    Rows are written in journey order, so reading the files back in name order keeps the sort.
    """
    cfg = TouchpointConfig.parse(config)
    sql, params = touches_sql(cfg, data_end(engine, cfg))
    engine.write(sql, out_dir, params)
    return out_dir
