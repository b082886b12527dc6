"""Synthetic private-domain (私域) world with planted ground truth: the demo and the test bed.

``generate_world(out_dir, users=..., days=..., seed=...)`` writes::

    events/part-NNNNN.jsonl.gz          Segment-spec messages, one per line (UTF-8, gzip), one file per chunk
    events/wecom-export-gb18030.jsonl   some wecom_friend_added / group events, GB18030-encoded, not in parts
    entities/{products,content,staff,groups,campaigns}.parquet
    entities/{orders,order_items,customer_staff}/part-NNNNN.parquet   (scale with users: one part per chunk)
    truth/identities.parquet            (identifier_type, canonical identifier_value, person_id); shared
                                        store tablets have person_id null
    truth/persons.parquet               per person: channel, acquired_at, lambda, p, nu, dropout_at,
                                        disengaged_at, ab_group, n_orders (+ incremental, before start),
                                        total_spend, boost_days, entity_link, ...
    truth/params.json                   true model parameters, campaign effects, A/B lift, conventions
    truth/defects.json                  exact planted defect counts

Only evaluation code reads ``truth/``. Entities use the schemas of :data:`siyu.core.entities.ENTITIES`.
Day 0 starts at 00:00 China time on ``start``. Conventions a resolver needs (also in params.json):
official-account and WeCom connector events use the openid / external_userid as ``anonymousId``;
a ``customer_staff.state`` of ``bind:<userId>`` is a member-binding QR code that links the WeCom
contact to that user id; ``orders.openid`` is ``<app_id>:<openid>``.

Modules: ``config`` (knobs, true parameters), ``catalog`` (stores, staff, products, content,
campaigns, tablets), ``world`` (persons and identifiers), ``purchases`` (campaigns, BG/NBD, A/B),
``links`` (identity connectivity and truth rows), ``identity`` (identifier placement), ``lifecycle``
and ``behaviour`` (events), ``batch``/``render``/``defects`` (lines and planted defects), ``writer``
(files), ``chunk``/``generate`` (orchestration).
"""

from siyu.synth.config import DefectRates, TrueParams, WorldSummary
from siyu.synth.generate import generate_world

__all__ = ["DefectRates", "TrueParams", "WorldSummary", "generate_world"]
