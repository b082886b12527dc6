"""Arrow schemas of the lake tables that Python writes (ODS landing, identity state)."""

from __future__ import annotations

import pyarrow as pa

from siyu.core.identifiers import ID_COLUMNS, IdentifierType

TS = pa.timestamp("us", tz="UTC")

ODS_EVENTS = pa.schema(
    [
        ("message_id", pa.string()), ("type", pa.string()), ("event", pa.string()),
        ("user_id", pa.string()), ("anonymous_id", pa.string()),
        ("ts_client", TS), ("sent_at", TS), ("received_at", TS), ("event_time", TS),
        ("properties", pa.string()), ("traits", pa.string()), ("context", pa.string()), ("extra", pa.string()),
        *[(ID_COLUMNS[k], pa.string()) for k in IdentifierType],
        ("id_problems", pa.string()),
        ("source", pa.string()), ("batch_id", pa.string()), ("loaded_at", TS),
    ]
)

#: The view over ``ods/events``: the partition folder adds ``dt``.
ODS_EVENTS_VIEW = ODS_EVENTS.append(pa.field("dt", pa.date32()))

QUARANTINE = pa.schema(
    [
        ("reason", pa.string()), ("detail", pa.string()), ("event", pa.string()),
        ("source", pa.string()), ("line_no", pa.int64()),
        ("payload", pa.string()), ("payload_bytes", pa.int64()), ("payload_sha256", pa.string()),
        ("batch_id", pa.string()), ("loaded_at", TS),
    ]
)
