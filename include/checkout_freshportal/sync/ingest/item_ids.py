"""How a quarantined item is named: its own id, or a digest of its JSON when it has no usable one.

The same bad object met again must be the same quarantined item, or every run would add a row
for it; and naming an item must never fail, whatever bytes it carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from checkout_freshportal.logsafe import safe
from checkout_freshportal.warehouse.raw import canonical_json, payload_sha256

#: The longest id an item keeps as its name; a longer one is named by its digest (and shown cut).
ID_LIMIT = 200


def payload_digest(obj: Any) -> str:
    """``payload_sha256``, also for an object carrying a lone surrogate (JSON may send
    ``"\\ud800"``), which UTF-8 cannot encode: naming such an item must not fail its step."""
    try:
        return payload_sha256(obj)
    except UnicodeEncodeError:
        return hashlib.sha256(canonical_json(obj).encode("utf-8", "surrogatepass")).hexdigest()


def item_id_of(obj: Any, key: str = "id") -> str:
    """The object's id, or ``sha256:<digest of its canonical JSON>`` when it has no usable one
    (missing, not text, too long or with control characters): the same bad object met again
    is then the same quarantined item."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if isinstance(value, str) and value and len(value) <= ID_LIMIT and safe(value, ID_LIMIT) == value:
        return value
    return "sha256:" + payload_digest(obj)


def has_own_id(item_id: str) -> bool:
    return not item_id.startswith("sha256:")
