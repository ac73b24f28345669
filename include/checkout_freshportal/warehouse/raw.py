"""The raw layer for API objects: every object verbatim, once per distinct content.

Key ``(source, object_id, payload_sha256)``: re-fetching an unchanged payment adds nothing, a
changed one adds a new version, so the table is the replayable history of what the API said.
The hash is over canonical JSON (sorted keys, compact, UTF-8) so key order or whitespace in the
response do not make a "new" version. Decimal values (a client may parse JSON numbers as
Decimal to keep them exact) are stored as strings, because a float would round them.

"Verbatim" stops at personal data: a Checkout.com payment carries its customer's full e-mail
address, which the warehouse must not keep (docs/security.md). Before the canonical form is
made, every ``email`` field is masked (``j***@example.nl``) and given an ``email_sha256`` sibling
(``mappers.email_hash``: what staging keeps and reconciliation matches customers by), and any
other address in a text value is masked. So a payload restaged from this table gives the same
rows as the API object did, and the stored form is the one the hash is over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from checkout_freshportal.freshportal.privacy import mask_email, mask_emails
from checkout_freshportal.timeutil import utcnow
from checkout_freshportal.warehouse.engine import json_dumps
from checkout_freshportal.warehouse.mappers import email_hash
from checkout_freshportal.warehouse.schema import raw_api_objects

BATCH_SIZE = 500


def without_personal_data(obj: Any) -> Any:
    """``obj`` as it may be stored: e-mail addresses masked, an ``email`` field's hash kept.

    Idempotent: an object that already has ``email_sha256`` keeps it (its ``email`` is masked
    already and would hash to something else).
    """
    if isinstance(obj, Mapping):
        out = {k: without_personal_data(v) for k, v in obj.items() if k != "email"}
        email = obj.get("email")
        if isinstance(email, str) and "@" in email:
            out["email"] = mask_email(email)
            out["email_sha256"] = obj.get("email_sha256") or email_hash(email)
        elif "email" in obj:
            out["email"] = without_personal_data(email)
        return out
    if isinstance(obj, list | tuple):
        return [without_personal_data(v) for v in obj]
    if isinstance(obj, str) and "@" in obj:
        return mask_emails(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """The stored form's text: personal data removed, sorted keys, compact."""
    return json_dumps(without_personal_data(obj))


def payload_sha256(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def insert_raw_objects(
    conn: Connection,
    source: str,
    objects: Iterable[Mapping[str, Any]],
    id_key: str = "id",
    run_id: str | None = None,
    *,
    fetched_at: datetime | None = None,
) -> int:
    """Store objects not seen before with this exact content; returns how many were added."""
    if not source:
        raise ValueError("source is required (e.g. 'checkout.payments')")
    fetched_at = fetched_at or utcnow()
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for i, obj in enumerate(objects):
        object_id = obj.get(id_key)
        if object_id is None or object_id == "":
            raise ValueError(f"{source}: object #{i} has no {id_key!r}")
        text = canonical_json(obj)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        rows[(str(object_id), digest)] = {
            "source": source,
            "object_id": str(object_id),
            "payload_sha256": digest,
            "payload": json.loads(text),  # plain JSON types (Decimal -> str) for any engine
            "fetched_at": fetched_at,
            "run_id": run_id,
        }
    if not rows:
        return 0
    values = list(rows.values())
    ins_mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        ins_mod.insert(raw_api_objects)
        .on_conflict_do_nothing(index_elements=["source", "object_id", "payload_sha256"])
        .returning(sa.literal_column("1"))
    )
    added = 0
    for start in range(0, len(values), BATCH_SIZE):
        added += len(conn.execute(stmt, values[start : start + BATCH_SIZE]).all())
    return added
