"""Send alerts to a webhook (预警推送): JSON POST, bounded retries with exponential backoff, optional HMAC signature.

Delivery is at-least-once. An alert's ``sent_at`` is set only after a 2xx answer; a failing webhook leaves its
alerts pending and the next run sends them again — so a receiver may see an alert twice (if our process
died between its 2xx and our commit) and should drop repeats by the alert ``id`` (or the
``X-Siyu-Delivery`` header, the same for the same batch).

With a ``secret``, each request carries ``X-Siyu-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact
body bytes under the secret (RFC 2104), which the receiver recomputes and compares in constant time
(:func:`verify_signature`). Only the standard library is used (``urllib.request``); redirects are not
followed, so a 3xx never passes for delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from siyu.core.errors import SiyuError
from siyu.core.logs import get_logger
from siyu.measure.alerts.detect import Alert
from siyu.measure.alerts.store import mark_sent, pending_alerts, pending_count
from siyu.store.db import Store

log = get_logger(__name__)

SIGNATURE_HEADER = "X-Siyu-Signature"
DELIVERY_HEADER = "X-Siyu-Delivery"
#: 4xx answers worth retrying (timeout, too early, rate limited); every other 4xx is the request's fault.
_RETRY_4XX = frozenset({408, 425, 429})
_MAX_ATTEMPTS = 10
_MAX_WAIT = 300.0


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how to POST alerts.

    ``attempts`` is the number of tries per batch (1 = no retry); between tries the wait starts at
    ``backoff`` seconds and doubles, at most ``max_backoff``. ``timeout`` bounds each try.
    """

    url: str
    secret: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    attempts: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0
    batch_size: int = 100
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SiyuError(f"a webhook URL must be http(s)://host/…, not {self.url!r}", code="bad_webhook",
                            input_name="url")
        if not 1 <= self.attempts <= _MAX_ATTEMPTS:
            raise SiyuError(f"attempts must be between 1 and {_MAX_ATTEMPTS}", code="bad_webhook",
                            input_name="attempts")
        if not 0 < self.timeout <= _MAX_WAIT:
            raise SiyuError(f"timeout must be more than 0 and at most {_MAX_WAIT:g} s", code="bad_webhook",
                            input_name="timeout")
        if not 0 <= self.backoff <= self.max_backoff <= _MAX_WAIT:
            raise SiyuError(f"need 0 <= backoff <= max_backoff <= {_MAX_WAIT:g} s", code="bad_webhook",
                            input_name="backoff")
        if not 1 <= self.batch_size <= 1000:
            raise SiyuError("batch_size must be between 1 and 1000", code="bad_webhook", input_name="batch_size")
        if self.secret is not None and not self.secret:
            raise SiyuError("an empty webhook secret signs nothing; leave it out instead", code="bad_webhook",
                            input_name="secret")

    def waits(self) -> list[float]:
        """The pauses between tries: backoff, 2·backoff, 4·backoff, … capped at max_backoff."""
        return [min(self.max_backoff, self.backoff * 2**k) for k in range(self.attempts - 1)]


@dataclass(frozen=True)
class PostResult:
    """One POST with its retries: whether a 2xx came back, the last status (None: no answer), the tries."""

    ok: bool
    status: int | None
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What :func:`deliver_pending` did: alerts delivered, alerts still pending after a failure, and why."""

    sent: int
    failed: int
    requests: int
    error: str | None = None


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 of ``body`` under ``secret`` (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (for receivers; constant-time comparison)."""
    return header is not None and hmac.compare_digest(header.strip(), sign(body, secret))


def alerts_body(alerts: Sequence[Alert]) -> bytes:
    """The JSON body for a batch of alerts (UTF-8, keys sorted, Chinese kept as is)."""
    doc = {"source": "siyu", "type": "alerts", "count": len(alerts), "alerts": [a.to_dict() for a in alerts]}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn a redirected POST into a GET whose 200 says nothing about delivery."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _once(config: WebhookConfig, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(config.url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=config.timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def post_json(config: WebhookConfig, body: bytes, *, delivery_id: str | None = None,
              sleep: Callable[[float], None] = time.sleep) -> PostResult:
    """POST ``body`` to ``config.url`` until a 2xx, a non-retryable answer (3xx, most 4xx) or the last try.

    Connection errors, timeouts, 5xx, 408, 425 and 429 are retried after :meth:`WebhookConfig.waits`.
    """
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "siyu-alerts/1",
               **dict(config.headers)}
    if config.secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, config.secret)
    if delivery_id is not None:
        headers[DELIVERY_HEADER] = delivery_id
    waits = config.waits()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, config.attempts + 1):
        try:
            status, error = _once(config, body, headers), None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, garbage
            status, error = None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if status is not None and 200 <= status < 300:
            return PostResult(True, status, attempt)
        if status is not None:
            error = f"HTTP {status}"
            if status < 500 and status not in _RETRY_4XX:
                return PostResult(False, status, attempt, error)
        if attempt < config.attempts:
            log.info("webhook try failed; retrying", url=_safe(config.url), attempt=attempt, error=error)
            sleep(waits[attempt - 1])
    return PostResult(False, status, config.attempts, error)


def deliver_pending(store: Store, config: WebhookConfig, *, sleep: Callable[[float], None] = time.sleep
                    ) -> DeliveryReport:
    """Send every pending alert (oldest first, ``batch_size`` per request) and mark each delivered batch sent.

    Stops at the first batch that fails after its retries: it and the rest stay pending for the next run.
    """
    sent = requests = 0
    tried: set[str] = set()
    while True:
        batch = pending_alerts(store, limit=config.batch_size)
        ids = [a.id for a in batch]
        if not batch or tried.issuperset(ids):  # nothing left, or only alerts another sender is handling
            break
        tried.update(ids)
        delivery = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        result = post_json(config, alerts_body(batch), delivery_id=delivery, sleep=sleep)
        requests += 1
        if not result.ok:
            left = pending_count(store)
            log.warning("webhook delivery failed; alerts stay pending", url=_safe(config.url), error=result.error,
                        pending=left)
            return DeliveryReport(sent, left, requests, result.error)
        sent += mark_sent(store, ids)
    return DeliveryReport(sent, 0, requests)


def _safe(url: str) -> str:
    """The URL without query or credentials (webhook URLs often carry a key there)."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}{f':{p.port}' if p.port else ''}{p.path}"
