"""Time parsing and client clock-skew correction (Segment spec, "Timestamps")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Skew above this is reported as client clock skew by the quality report.
SKEW_REPORT_THRESHOLD = timedelta(minutes=5)
#: An event received more than this after it happened is a late arrival (offline cache, retries).
LATE_ARRIVAL_THRESHOLD = timedelta(hours=1)


def parse_ts(value: object) -> datetime:
    """Parse an ISO-8601 timestamp into an aware UTC datetime; naive values are taken as UTC.

    Raises ``TypeError`` for non-strings and ``ValueError`` for unparseable strings — and for times
    that leave the years 1–9999 once moved to UTC (``0001-01-01T00:00:00+01:00``).
    """
    if not isinstance(value, str):
        raise TypeError("timestamp must be an ISO-8601 string")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value[:40]!r} is out of range in UTC") from None


def corrected_time(timestamp: datetime, sent_at: datetime | None, received_at: datetime | None) -> datetime:
    """Event time corrected for the client's clock: ``receivedAt - (sentAt - timestamp)``.

    This is the Segment formula: the device's clock error cancels out because ``timestamp`` and
    ``sentAt`` come from the same clock and ``receivedAt`` from ours. Without both, the client's
    timestamp is used as is — and so it is when the correction leaves the years 1–9999 (a skew of
    millennia says nothing about the clock).
    """
    if sent_at is None or received_at is None:
        return timestamp
    try:
        return received_at - (sent_at - timestamp)
    except OverflowError:
        return timestamp


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
