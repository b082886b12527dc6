"""Data classes (数据分级): every field is public, internal, sensitive or core, and each class has one rule.

The rule says what the platform must do with a field of that class wherever it is kept or leaves:

===========  ==========  ===================  ================================  ===========================
class        中文        stored               shown to a role without the grant  in a third-party export
===========  ==========  ===================  ================================  ===========================
public       公开        as is                as is                              as is
internal     内部        as is                as is                              as is
sensitive    敏感        encrypted / token    masked (138****1234)               masked only
core         核心        encrypted / token    masked                             never (the column is dropped)
===========  ==========  ===================  ================================  ===========================

*Sensitive* is the personal information that identifies a person directly — phone, name, national id,
address, email, and the identifiers that stand for them. *Core* is what PIPL art. 28 calls sensitive
personal information (敏感个人信息: biometrics, health, financial accounts, precise whereabouts) plus
secrets; it never leaves the company, not even masked. Reading either in plaintext is its own grant
(``read_pii``), held by few: sources on PIPL practice cap it at :data:`MAX_PII_READERS` people.

A field the table does not know is *internal*: visible to staff, kept as is. To fail safe for the
columns that matter most, a name whose last word is a contact word (``receiver_phone``, ``ship_address``,
``contact_email``) is classed like that word. Add every new personal column to :data:`FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class DataClass(StrEnum):
    """The four data classes, least to most protected."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"
    CORE = "core"

    @property
    def label_zh(self) -> str:
        """The Chinese name ops people use: 公开 / 内部 / 敏感 / 核心."""
        return _LABELS_ZH[self]

    @property
    def rule(self) -> ClassRule:
        """What must happen to a field of this class (see :data:`RULES`)."""
        return RULES[self]


_LABELS_ZH = {DataClass.PUBLIC: "公开", DataClass.INTERNAL: "内部", DataClass.SENSITIVE: "敏感", DataClass.CORE: "核心"}


class ExportRule(StrEnum):
    """How a field of a class may appear in a file handed to a third party."""

    PLAIN = "plain"
    MASKED = "masked"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class ClassRule:
    """The handling rule of one data class.

    ``encrypted_at_rest``: plaintext is only stored encrypted by the vault (or replaced by a keyed token);
    ``masked_without_grant``: callers without the PII-read grant see a masked value;
    ``third_party_export``: what an export to a third party may carry.
    """

    encrypted_at_rest: bool
    masked_without_grant: bool
    third_party_export: ExportRule

    @property
    def exportable(self) -> bool:
        """Whether the field may appear (in any form) in a third-party export."""
        return self.third_party_export is not ExportRule.DROPPED


RULES: MappingProxyType[DataClass, ClassRule] = MappingProxyType({
    DataClass.PUBLIC: ClassRule(False, False, ExportRule.PLAIN),
    DataClass.INTERNAL: ClassRule(False, False, ExportRule.PLAIN),
    DataClass.SENSITIVE: ClassRule(True, True, ExportRule.MASKED),
    DataClass.CORE: ClassRule(True, True, ExportRule.DROPPED),
})

#: The grant that lets a caller read sensitive and core fields unmasked (``siyu.api.auth.Permission``).
PII_READ_GRANT = "read_pii"
#: Upper bound on people holding :data:`PII_READ_GRANT`; RBAC should refuse to grant it beyond this.
MAX_PII_READERS = 10  # the default of SIYU_MAX_PII_KEYS, which siyu.store.keys.create_key enforces


class PiiKind(StrEnum):
    """Which masking rule a personal field takes (``siyu.privacy.masking``)."""

    PHONE = "phone"
    EMAIL = "email"
    NAME = "name"
    NATIONAL_ID = "national_id"
    ADDRESS = "address"
    GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class FieldClass:
    """A known field: its data class and, for personal fields, how it is masked."""

    data_class: DataClass
    kind: PiiKind | None = None


def _fields(data_class: DataClass, kind: PiiKind | None, *names: str) -> dict[str, FieldClass]:
    return {name: FieldClass(data_class, kind) for name in names}


_S, _C, _I, _P = DataClass.SENSITIVE, DataClass.CORE, DataClass.INTERNAL, DataClass.PUBLIC

#: Known fields (lower-case column or trait names) and their class. Declarative: review changes here.
FIELDS: MappingProxyType[str, FieldClass] = MappingProxyType({
    # Sensitive: direct identifiers of a person (the PII list and their usual column names).
    **_fields(_S, PiiKind.PHONE, "phone", "mobile", "mobile_phone", "phone_number", "mobile_no", "tel", "telephone",
              "receiver_phone", "contact_phone"),
    **_fields(_S, PiiKind.EMAIL, "email", "email_address", "contact_email"),
    **_fields(_S, PiiKind.NAME, "name", "real_name", "full_name", "first_name", "last_name", "receiver_name",
              "contact_name", "customer_name", "nickname"),
    **_fields(_S, PiiKind.NATIONAL_ID, "national_id", "national_id_no", "id_card", "id_card_no", "id_number",
              "resident_id"),
    **_fields(_S, PiiKind.ADDRESS, "address", "receiver_address", "shipping_address", "home_address",
              "street_address", "detail_address"),
    **_fields(_S, PiiKind.GENERIC, "passport_no", "birthday", "birth_date", "ip", "ip_address"),
    # Identifiers that stand for a person in other systems: the API already masks them for roles without
    # the grant, so they are sensitive too. In the lake they stay as join keys (pseudonyms or keyed tokens).
    **_fields(_S, PiiKind.GENERIC, "user_id", "member_no", "unionid", "openid", "wecom_external_userid",
              "phone_token", "email_token", "id_phone", "id_email", "id_user_id", "id_member_no", "id_unionid",
              "id_openid", "id_wecom_external_userid"),
    # Core: PIPL art. 28 sensitive personal information, and secrets.
    **_fields(_C, PiiKind.GENERIC, "bank_card", "bank_card_no", "bank_account", "face_image", "id_photo",
              "biometric", "fingerprint", "health", "medical_record", "religion", "precise_location", "latitude",
              "longitude", "password", "password_hash", "secret"),
    # Internal: siyu's own pseudonymous keys, weak device ids, and what the platform computes about a person.
    **_fields(_I, None, "one_id", "anonymous_id", "device_id", "id_anonymous_id", "id_device_id", "tags", "tag",
              "lifecycle", "rfm_class", "tier", "points", "owner_staff_id", "gender", "age_band", "city",
              "province", "country", "language", "source", "score", "clv", "churn_risk"),
    # Public: the catalogue the brand publishes anyway.
    **_fields(_P, None, "event", "event_type", "channel", "product_id", "sku", "product_name", "category",
              "store_id", "store_name", "campaign_id", "campaign_name", "metric"),
})

#: Last words of a column name that make an unknown column sensitive (``receiver_mobile`` → phone).
_CONTACT_WORDS: MappingProxyType[str, PiiKind] = MappingProxyType({
    "phone": PiiKind.PHONE, "mobile": PiiKind.PHONE, "tel": PiiKind.PHONE, "email": PiiKind.EMAIL,
    "address": PiiKind.ADDRESS, "idcard": PiiKind.NATIONAL_ID,
})

_UNKNOWN = FieldClass(DataClass.INTERNAL)


def field_class(field: str) -> FieldClass:
    """The class and masking kind of ``field`` (case-insensitive); unknown fields are internal.

    >>> field_class("receiver_mobile")
    FieldClass(data_class=<DataClass.SENSITIVE: 'sensitive'>, kind=<PiiKind.PHONE: 'phone'>)
    """
    name = field.strip().lower() if isinstance(field, str) else ""
    known = FIELDS.get(name)
    if known is not None:
        return known
    kind = _CONTACT_WORDS.get(name.rsplit("_", 1)[-1])
    return FieldClass(DataClass.SENSITIVE, kind) if kind is not None else _UNKNOWN


def classify(field: str) -> DataClass:
    """The data class of ``field``: ``classify("phone")`` is sensitive, an unknown field internal."""
    return field_class(field).data_class
