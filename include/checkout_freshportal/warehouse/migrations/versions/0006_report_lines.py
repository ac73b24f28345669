"""Report lines as Checkout.com writes them: ``stg_financial_actions`` keyed by line, new columns.

``stg_financial_actions`` is rebuilt with the primary key ``(processed_on, line_key)``
(docs/warehouse.md "The staging key of report lines"), the columns of the real 35-column header
(tax, fx trade, MCC, card category, countries, MID, response) and without the transaction-currency
columns (they are not in report files). Old rows are carried over: the old key was unique per
``(action_id, breakdown_type)``, so each is occurrence 1, and its ``line_key`` is computed here in
Python (SQLite has no md5), in batches. ``stg_payouts`` gains ``pay_to_cards``.

Self-contained like 0001 (no import of the library): a migration is a snapshot, so the key
function is repeated here; a test checks it equals the loader's.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
OLD = "stg_financial_actions_0005"
IDENTITY = (
    "action_id",
    "action_type",
    "breakdown_type",
    "holding_currency",
    "holding_amount_e8",
    "processing_currency",
    "processing_amount_e8",
    "tax_currency",
    "tax_amount_e8",
)
#: Columns both shapes have (copied as they are).
COMMON = (
    "processed_on",
    "action_id",
    "action_type",
    "breakdown_type",
    "payment_id",
    "payout_id",
    "requested_on",
    "client_entity_id",
    "sub_entity_id",
    "processing_channel_id",
    "currency_account_id",
    "reference",
    "payment_method",
    "card_type",
    "region",
    "fee_detail",
    "fx_rate_applied",
    "holding_currency",
    "holding_amount_e8",
    "holding_amount_minor",
    "processing_currency",
    "processing_amount_e8",
    "processing_amount_minor",
    "source_file_id",
    "first_seen_at",
    "updated_at",
    "source",
)


def line_key(row: dict[str, Any], occurrence: int) -> str:
    identity = "\x1f".join("" if row.get(c) is None else str(row[c]) for c in IDENTITY)
    return hashlib.md5(f"{identity}\x1f{occurrence}".encode(), usedforsecurity=False).hexdigest()


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _cur(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(3), nullable=nullable)


def _exact(prefix: str, nullable: bool = True) -> list[sa.Column]:
    return [
        sa.Column(f"{prefix}_e8", sa.BigInteger(), nullable=nullable),
        sa.Column(f"{prefix}_minor", sa.BigInteger(), nullable=nullable),
    ]


def _new_table() -> None:
    op.create_table(
        "stg_financial_actions",
        _ts("processed_on", False),
        sa.Column("line_key", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        _text("action_id", False),
        _text("action_type", False),
        _text("breakdown_type", False),
        _text("payment_id"),
        _text("payout_id"),
        _ts("requested_on"),
        _text("client_entity_id"),
        _text("sub_entity_id"),
        _text("processing_channel_id"),
        _text("merchant_category_code"),
        _text("currency_account_id"),
        _text("reference"),
        _text("payment_method"),
        _text("card_type"),
        _text("card_category"),
        _text("issuer_country"),
        _text("entity_country"),
        _text("region"),
        _text("mid"),
        _text("response_code"),
        _text("response_description"),
        _text("fee_detail"),
        _text("fx_rate_applied"),
        _text("fx_trade_id"),
        _cur("holding_currency", False),
        *_exact("holding_amount", False),
        _cur("processing_currency"),
        *_exact("processing_amount"),
        _cur("tax_currency"),
        _text("tax_fx_rate"),
        *_exact("tax_amount"),
        _text("source_file_id", False),
        _ts("first_seen_at", False),
        _ts("updated_at", False),
        _text("source", False),
        sa.PrimaryKeyConstraint("processed_on", "line_key", name=op.f("pk_stg_financial_actions")),
        comment="One row per financial-action report line (report CSVs), identical lines included.",
    )
    _payout_index()


def _payout_index() -> None:
    op.create_index(
        op.f("ix_stg_financial_actions_payout_id"),
        "stg_financial_actions",
        ["payout_id"],
        unique=False,
        postgresql_where=sa.text("payout_id IS NOT NULL"),
        sqlite_where=sa.text("payout_id IS NOT NULL"),
    )


def _set_aside() -> None:
    """Rename the old table out of the way; its index and key names are freed for the new one."""
    op.drop_index(op.f("ix_stg_financial_actions_payout_id"), table_name="stg_financial_actions")
    op.execute("DROP INDEX IF EXISTS ix_stg_financial_actions_payment_id")
    op.rename_table("stg_financial_actions", OLD)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {OLD} RENAME CONSTRAINT pk_stg_financial_actions TO pk_{OLD}")


def _copy(conn: sa.Connection, select: sa.Select, target: sa.Table, convert: Any) -> None:
    result = conn.execute(select.execution_options(yield_per=BATCH))
    for part in result.mappings().partitions(BATCH):
        rows = [convert(dict(r)) for r in part]
        rows = [r for r in rows if r is not None]
        if rows:
            conn.execute(sa.insert(target), rows)


def upgrade() -> None:
    conn = op.get_bind()
    _set_aside()
    _new_table()
    meta = sa.MetaData()
    old = sa.Table(OLD, meta, autoload_with=conn)
    new = sa.Table("stg_financial_actions", meta, autoload_with=conn)

    def convert(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "line_key": line_key(r, 1), "occurrence": 1}

    _copy(
        conn,
        sa.select(*[old.c[c] for c in COMMON]).order_by(old.c.action_id, old.c.breakdown_type),
        new,
        convert,
    )
    op.drop_table(OLD)
    with op.batch_alter_table("stg_payouts") as batch:
        batch.add_column(sa.Column("pay_to_cards_e8", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("pay_to_cards_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Back to one row per ``(action_id, breakdown_type)``: the first line of each is kept."""
    conn = op.get_bind()
    with op.batch_alter_table("stg_payouts") as batch:
        batch.drop_column("pay_to_cards_minor")
        batch.drop_column("pay_to_cards_e8")
    _set_aside()
    op.create_table(
        "stg_financial_actions",
        *[
            _text(c, c in ("action_id", "breakdown_type", "action_type", "source_file_id", "source"))
            for c in ("action_id", "breakdown_type", "payment_id", "action_type", "payout_id")
        ],
        _ts("processed_on", False),
        _ts("requested_on"),
        *[
            _text(c)
            for c in (
                "reference",
                "payment_method",
                "card_type",
                "region",
                "fee_detail",
                "client_entity_id",
                "sub_entity_id",
                "currency_account_id",
                "processing_channel_id",
            )
        ],
        _cur("holding_currency", False),
        *_exact("holding_amount", False),
        _cur("processing_currency"),
        *_exact("processing_amount"),
        _cur("transaction_currency"),
        *_exact("transaction_amount"),
        _text("fx_rate_applied"),
        _text("source_file_id", False),
        _ts("first_seen_at", False),
        _ts("updated_at", False),
        _text("source", False),
        sa.PrimaryKeyConstraint("action_id", "breakdown_type", name=op.f("pk_stg_financial_actions")),
        comment="One row per financial-action breakdown line (report CSVs).",
    )
    op.create_index(
        op.f("ix_stg_financial_actions_payment_id"), "stg_financial_actions", ["payment_id"], unique=False
    )
    _payout_index()
    meta = sa.MetaData()
    old = sa.Table(OLD, meta, autoload_with=conn)
    new = sa.Table("stg_financial_actions", meta, autoload_with=conn)
    seen: set[tuple[str, str]] = set()

    def convert(r: dict[str, Any]) -> dict[str, Any] | None:
        key = (r["action_id"], r["breakdown_type"])
        if key in seen:
            return None
        seen.add(key)
        return r

    select = sa.select(*[old.c[c] for c in COMMON]).order_by(
        old.c.action_id, old.c.breakdown_type, old.c.occurrence
    )
    _copy(conn, select, new, convert)
    op.drop_table(OLD)
