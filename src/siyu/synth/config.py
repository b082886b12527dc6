"""Knobs, true parameters and static vocabularies of the synthetic world.

Everything the generator draws from lives here, so ``truth/params.json`` can be written from these
dataclasses alone and an evaluator knows exactly which process produced the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Public acquisition channels and their weights (sum to 1).
ACQ_CHANNELS: tuple[str, ...] = ("douyin", "xiaohongshu", "store_qr", "package_card", "official_account_search")
ACQ_WEIGHTS: tuple[float, ...] = (0.26, 0.2, 0.26, 0.14, 0.14)
#: Planted acquisition cost per person (CNY) of each channel: the spend entity books this for every
#: person acquired that day, so the true CAC of a channel is exactly this number.
ACQ_UNIT_COST: tuple[float, ...] = (28.0, 22.0, 6.0, 3.0, 9.0)
#: NPS survey after an order: share of orders surveyed and the planted distribution of scores 0..10.
#: The planted NPS is 100 × (P(9..10) − P(0..6)) = 100 × (0.42 − 0.22) = 20.
NPS_SURVEY_RATE = 0.2
NPS_SCORE_P: tuple[float, ...] = (0.02, 0.01, 0.01, 0.02, 0.02, 0.05, 0.09, 0.16, 0.20, 0.22, 0.20)
NPS_SCORE_CUM: list[float] = [sum(NPS_SCORE_P[: k + 1]) for k in range(len(NPS_SCORE_P))]

#: Probability of having each touchpoint (surface) given the acquisition channel, in the order
#: app (brand app / H5), mini program, official account, WeCom.
SURFACE_PROBS: dict[str, tuple[float, float, float, float]] = {
    "douyin": (0.55, 0.6, 0.15, 0.45),
    "xiaohongshu": (0.6, 0.5, 0.2, 0.45),
    "store_qr": (0.2, 0.5, 0.25, 0.95),
    "package_card": (0.2, 0.6, 0.3, 0.9),
    "official_account_search": (0.2, 0.6, 1.0, 0.3),
}

#: Surfaces (where an event comes from); the ints index per-person arrays.
APP, MP, OA, WC, SERVER, TABLET = 0, 1, 2, 3, 4, 5
SURFACE_NAMES = ("app", "mini_program", "official_account", "wecom", "server", "store_tablet")

MP_APP_ID = "wx_mp_app"
OA_APP_ID = "wx_oa_app"

#: Relative activity by hour of day, China time (peaks at lunch and at 20:00).
HOUR_WEIGHTS: tuple[float, ...] = (
    0.30, 0.15, 0.08, 0.05, 0.05, 0.08, 0.20, 0.50, 0.90, 1.10, 1.20, 1.40,
    1.90, 1.60, 1.10, 1.00, 1.00, 1.10, 1.30, 1.70, 2.10, 2.00, 1.40, 0.70,
)

CHINA_OFFSET_MS = 8 * 3600 * 1000
DAY_MS = 86_400_000

#: Member tiers and the cumulative spend (CNY) that reaches them.
TIERS: tuple[tuple[str, float], ...] = (("bronze", 0.0), ("silver", 1000.0), ("gold", 3000.0), ("diamond", 8000.0))

MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "155", "156", "157", "158", "159", "166", "177", "180", "181", "182", "185", "186",
    "187", "188", "189", "191", "198", "199",
)


@dataclass(frozen=True)
class DefectRates:
    """Share of valid events that get each planted defect (each defective line has exactly one)."""

    duplicate_deliveries: float = 0.01
    malformed_json: float = 0.001
    missing_required_field: float = 0.001
    wrong_type: float = 0.001
    clock_skew: float = 0.005
    late_arrivals: float = 0.005
    #: share of wecom_friend_added / group events moved to the GB18030-encoded WeCom export file
    gb18030_share: float = 0.05

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 0.5:
                raise ValueError(f"DefectRates.{name} must be within 0..0.5, got {value}")


@dataclass(frozen=True)
class TrueParams:
    """The generative parameters recorded in ``truth/params.json``.

    Purchases follow BG/NBD: per person ``lambda ~ Gamma(shape=r, rate=alpha)`` purchases per day and
    ``p ~ Beta(a, b)``; after each repeat purchase the person drops out with probability ``p``. Spend per
    order follows Gamma-Gamma: ``nu ~ Gamma(shape=q, rate=gamma)``, ``amount ~ Gamma(shape=p_gg, rate=nu)``.
    """

    r: float = 0.7
    alpha: float = 40.0
    a: float = 1.0
    b: float = 4.0
    p_gg: float = 6.0
    q: float = 4.0
    gamma: float = 100.0
    #: absolute lift of the A/B test's 14-day conversion probability for the treatment group
    ab_lift: float = 0.03
    effect_days: int = 14
    existing_share: float = 0.3
    existing_max_days: float = 730.0
    anonymous_share: float = 0.1
    #: interactions per day while engaged: Gamma(shape, mean)
    engagement_mean: float = 0.3
    engagement_shape: float = 1.2
    #: after disengagement the interaction rate decays as exp(-t / decay_days)
    decay_days: float = 21.0
    #: interest lapses (independently of dropout) after Exp(lapse_mean_days)
    lapse_mean_days: float = 200.0
    refund_rate: float = 0.03
    register_prob: float = 0.5
    unionid_prob: float = 0.7


@dataclass
class WorldSummary:
    """What :func:`siyu.synth.generate_world` wrote."""

    out_dir: Path
    users: int
    days: int
    seed: int
    persons: int = 0
    identifiers: int = 0
    lines_written: int = 0
    valid_events: int = 0
    orders: int = 0
    files: list[str] = field(default_factory=list)
    defects: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        return d
