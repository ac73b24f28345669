"""The data-quality checks: one SQL query per check, run in the warehouse.

Each check is a query that returns the *unexpected* rows of its table (a ``sample_key`` that
names the row by its ids, never personal data, and an optional ``info`` text), written once for
both engines (PostgreSQL and SQLite speak the same SQL here: ``CAST``, ``ABS``, ``%``, ``||``,
window ``COUNT(*) OVER ()``). Great Expectations runs it (:mod:`.gx_runner`) wrapped as

    SELECT COUNT(*) OVER () AS unexpected_count, sample_key, info FROM (<query>) ... LIMIT n

so each check costs one pass over its data and brings back at most ``n`` rows, whatever the
number of bad ones: tables are never loaded into Python.

``{batch}`` in a query is the check's own table (Great Expectations substitutes it, see
:func:`batch`); other tables are named directly. Severity: ``critical`` = the data is wrong
and reconciliation would report nonsense from it (the run fails); ``warning`` = suspicious, or
legitimately late (feeds arrive in any order), shown in the report.
docs/data-quality.md lists every check with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from checkout_freshportal.reconcile.fees import FEE_CATEGORIES, fee_category_sql
from checkout_freshportal.reconcile.quality.settings import QualitySettings
from checkout_freshportal.reconcile.quality.sqlparts import (
    as_text,
    batch,
    codes_list,
    compile_sql,
    divisor,
    e8_to_minor_sql,
    fence,
    minor_mismatch,
    ts_literal,
)
from checkout_freshportal.warehouse.schema.raw import raw_webhook_events
from checkout_freshportal.warehouse.schema.stg import (
    PAYMENT_BALANCES,
    stg_disputes,
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_orders,
    stg_payment_actions,
    stg_payments,
    stg_payouts,
    stg_refund_requests,
)

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)

PAYMENTS = stg_payments.name
ACTIONS = stg_payment_actions.name
DISPUTES = stg_disputes.name
LINES = stg_financial_actions.name
LINE_PAYOUTS = stg_financial_action_payouts.name
PAYOUTS = stg_payouts.name
ORDERS = stg_orders.name
REFUND_REQUESTS = stg_refund_requests.name
WEBHOOKS = raw_webhook_events.name

#: Money columns of a payout (each an ``_e8`` and a ``_minor``), all in the payout's currency.
PAYOUT_MONEY = (
    "payout_amount",
    "merchant_payout_fees",
    "payments",
    "refunds",
    "chargebacks",
    "card_payment_interchange_fees",
    "card_payment_scheme_fees",
    "processing_fees",
    "pay_to_cards",
)


@dataclass(frozen=True)
class Check:
    """One check: a stable name (results are keyed on it across runs), its table and severity."""

    name: str
    table: str
    severity: str
    #: One sentence for the report: what a failure means.
    description: str
    #: SELECT of the unexpected rows with columns ``sample_key`` (text) and ``info`` (text or NULL).
    query: str
    #: What ``unexpected_count`` counts, for the observed text ("rows", "payouts", ...).
    unit: str = "rows"


# -- the checks, by kind -------------------------------------------------------------------------


def unique_checks() -> list[Check]:
    keys = [
        ("unique_payment_id", PAYMENTS, "payment_id", "payment_id"),
        ("unique_action_id", ACTIONS, "action_id", "action_id"),
        ("unique_dispute_id", DISPUTES, "dispute_id", "dispute_id"),
        ("unique_payout_id", PAYOUTS, "payout_id", "payout_id"),
        ("unique_order_id", ORDERS, "order_id", "order_id"),
        ("unique_order_number", ORDERS, "order_number", "order_number"),
        ("unique_refund_request_id", REFUND_REQUESTS, "refund_request_id", "refund_request_id"),
        (
            "unique_financial_action_line",
            LINES,
            "processed_on, line_key",
            f"{as_text('processed_on')} || ' ' || {as_text('line_key')}",
        ),
    ]
    return [
        Check(
            name,
            table,
            CRITICAL,
            f"Every {table} row has its own {cols.replace(', ', ' + ')}: a duplicate counts money twice.",
            f"SELECT {key} AS sample_key, {as_text('COUNT(*)')} AS info FROM {{batch}}"
            f" GROUP BY {cols} HAVING COUNT(*) > 1",
            unit="duplicated keys",
        )
        for name, table, cols, key in keys
    ]


def not_null_checks(settings: QualitySettings) -> list[Check]:
    statuses = ", ".join("'" + s.replace("'", "''") + "'" for s in settings.confirmed_statuses) or "NULL"
    return [
        Check(
            "payment_actions_money_not_null",
            ACTIONS,
            WARNING,
            "Approved captures and refunds carry amount, currency and processed_on (a summary "
            "action without them is filled in by the next fetch of its payment).",
            "SELECT action_id AS sample_key, action_type AS info FROM {batch}"
            " WHERE action_type IN ('Capture', 'Refund') AND approved"
            " AND (amount_minor IS NULL OR currency IS NULL OR processed_on IS NULL)",
        ),
        Check(
            "orders_confirmed_at_not_null",
            ORDERS,
            WARNING,
            "Confirmed orders carry confirmed_at: without it a missing payment is never due.",
            f"SELECT order_id AS sample_key, status AS info FROM {{batch}}"
            f" WHERE status IN ({statuses}) AND confirmed_at IS NULL",
        ),
        Check(
            "refund_requests_requested_at_not_null",
            REFUND_REQUESTS,
            WARNING,
            "Refund requests carry requested_at: without it an unexecuted refund is never due.",
            "SELECT refund_request_id AS sample_key, state AS info FROM {batch} WHERE requested_at IS NULL",
        ),
    ]


def currency_checks() -> list[Check]:
    codes = codes_list()
    columns = [
        (ORDERS, "order_id", ("currency", "payment_currency")),
        (PAYMENTS, "payment_id", ("currency",)),
        (ACTIONS, "action_id", ("currency",)),
        (DISPUTES, "dispute_id", ("currency",)),
        (REFUND_REQUESTS, "refund_request_id", ("currency",)),
        (PAYOUTS, "payout_id", ("currency",)),
        (LINES, "action_id", ("holding_currency", "processing_currency", "tax_currency")),
    ]
    checks = []
    for table, key, cols in columns:
        bad = " OR ".join(f"({c} IS NOT NULL AND {c} NOT IN ({codes}))" for c in cols)
        info = " || ' ' || ".join(f"COALESCE(SUBSTR({c}, 1, 8), '-')" for c in cols)
        checks.append(
            Check(
                f"{table.removeprefix('stg_')}_currency_iso4217",
                table,
                CRITICAL,
                f"{', '.join(cols)} of {table} are ISO 4217 codes with a minor unit (upper case): "
                "an unknown code has no exponent, so its amounts cannot be read.",
                f"SELECT {as_text(key)} AS sample_key, {info} AS info FROM {{batch}} WHERE {bad}",
            )
        )
    return checks


def exponent_checks(dialect: str) -> list[Check]:
    # The divisor of each currency is computed once per row in an inner query, fenced so the
    # planner does not inline the CASE back into each of its uses.
    fenced = fence(dialect)
    line_pairs = [
        ("holding_amount", "holding_currency"),
        ("processing_amount", "processing_currency"),
        ("tax_amount", "tax_currency"),
    ]
    line_cols = ", ".join(
        f"{m}_e8 AS {m[0]}_e8, {m}_minor AS {m[0]}_minor, {divisor(c)} AS {m[0]}_d" for m, c in line_pairs
    )
    line_bad = " OR ".join(minor_mismatch(f"{m[0]}_e8", f"{m[0]}_minor", f"{m[0]}_d") for m, _ in line_pairs)
    payout_cols = ", ".join(f"{m}_e8, {m}_minor" for m in PAYOUT_MONEY)
    payout_bad = " OR ".join(minor_mismatch(f"{m}_e8", f"{m}_minor", "d") for m in PAYOUT_MONEY)
    return [
        Check(
            "financial_actions_minor_matches_e8",
            LINES,
            CRITICAL,
            "Each *_minor of a report line is its exact *_e8 amount rounded half-even at the "
            "currency's ISO exponent (JPY 0, EUR 2, KWD 3).",
            f"SELECT {as_text('action_id')} AS sample_key, holding_currency AS info FROM ("
            f"SELECT action_id, holding_currency, {line_cols} FROM {{batch}}{fenced}) x WHERE {line_bad}",
        ),
        Check(
            "payouts_minor_matches_e8",
            PAYOUTS,
            CRITICAL,
            "Each *_minor of a payout is its exact *_e8 amount rounded half-even at the "
            "currency's ISO exponent.",
            f"SELECT payout_id AS sample_key, currency AS info FROM ("
            f"SELECT payout_id, currency, {payout_cols}, {divisor('currency')} AS d FROM {{batch}}{fenced}) x"
            f" WHERE {payout_bad}",
        ),
    ]


def sign_checks(dialect: str) -> list[Check]:
    return [*_not_negative_checks(), _financial_actions_signs_check(dialect)]


def _not_negative_checks() -> list[Check]:
    balances = " OR ".join(f"{b}_minor < 0" for b in PAYMENT_BALANCES)
    return [
        Check(
            "orders_amounts_not_negative",
            ORDERS,
            CRITICAL,
            "Order amounts (and what FreshPortal shows as paid or refunded) are never negative.",
            "SELECT order_id AS sample_key, NULL AS info FROM {batch} WHERE amount_minor < 0"
            " OR amount_paid_minor < 0 OR amount_refunded_minor < 0",
        ),
        Check(
            "payments_amounts_not_negative",
            PAYMENTS,
            CRITICAL,
            "Payment amounts and balances (captured, refunded, ...) are never negative.",
            "SELECT payment_id AS sample_key, NULL AS info FROM {batch}"
            f" WHERE amount_minor < 0 OR {balances}",
        ),
        Check(
            "payment_actions_amount_not_negative",
            ACTIONS,
            CRITICAL,
            "Gateway action amounts are magnitudes: never negative.",
            "SELECT action_id AS sample_key, action_type AS info FROM {batch} WHERE amount_minor < 0",
        ),
        Check(
            "disputes_amount_not_negative",
            DISPUTES,
            CRITICAL,
            "Dispute amounts are magnitudes: never negative.",
            "SELECT dispute_id AS sample_key, NULL AS info FROM {batch} WHERE amount_minor < 0",
        ),
        Check(
            "refund_requests_amount_positive",
            REFUND_REQUESTS,
            WARNING,
            "A refund request asks for more than nothing.",
            "SELECT refund_request_id AS sample_key, NULL AS info FROM {batch} WHERE amount_minor <= 0",
        ),
    ]


def _financial_actions_signs_check(dialect: str) -> Check:
    return Check(
        "financial_actions_signs",
        LINES,
        WARNING,
        "Report lines are balance effects: capture gross and chargeback reversals positive; "
        "refund gross, chargebacks and the fees of captures, refunds and chargebacks "
        "negative (a warning: fee rebates may legitimately differ).",
        f"SELECT {as_text('l.action_id')} AS sample_key, k.act || ' / ' || k.cat AS info"
        f" FROM {batch('l')}, ({_expected_signs_sql(dialect)}) k"
        " WHERE l.action_type = k.action_type AND l.breakdown_type = k.breakdown_type"
        " AND ((k.expected < 0 AND l.holding_amount_e8 > 0)"
        " OR (k.expected > 0 AND l.holding_amount_e8 < 0))",
    )


def _expected_signs_sql(dialect: str) -> str:
    """The sign each (action type, breakdown type) pair must have, for the pairs whose sign is known."""
    category = compile_sql(fee_category_sql(sa.column("action_type"), sa.column("breakdown_type")), dialect)
    fees = ", ".join(f"'{c}'" for c in sorted(FEE_CATEGORIES - {"pricing_adjustment"}))
    negative = (
        "(cat = 'gross' AND act = 'refund') OR (cat = 'chargeback' AND act = 'chargeback')"
        f" OR (cat IN ({fees}) AND act IN ('capture', 'refund', 'chargeback'))"
    )
    positive = "(cat = 'gross' AND act = 'capture') OR (cat = 'chargeback' AND act = 'chargeback reversal')"
    # The category depends on the two labels only: computed once per distinct pair (a handful)
    # and hash-joined to the lines, instead of a CASE of LIKEs on each of millions of lines.
    fenced = fence(dialect)
    pairs = f"SELECT DISTINCT action_type, breakdown_type FROM {LINES}{fenced}"
    labelled = (
        "SELECT action_type, breakdown_type, LOWER(TRIM(action_type)) AS act,"
        f" {category} AS cat FROM ({pairs}) d"
    )
    return (
        f"SELECT action_type, breakdown_type, act, cat, CASE WHEN {negative} THEN -1 ELSE 1 END AS expected"
        f" FROM ({labelled}) c WHERE {negative} OR {positive}{fenced}"
    )


def refunded_le_captured_check() -> Check:
    # The reconciliation's own formula (spec): the payment's balance, else the sum of its
    # approved actions. COALESCE evaluates the correlated sums only where the balance is NULL.
    def total(balance: str, action_type: str) -> str:
        return (
            f"COALESCE(p.{balance}, (SELECT SUM(a.amount_minor) FROM {ACTIONS} a"
            f" WHERE a.payment_id = p.payment_id AND a.action_type = '{action_type}' AND a.approved))"
        )

    return Check(
        "refunded_le_captured",
        PAYMENTS,
        CRITICAL,
        "No payment has more refunded than captured (Checkout.com refuses it: such a row is "
        "stale or wrong and would show as an over-refund).",
        "SELECT payment_id AS sample_key,"
        f" {as_text('refunded')} || ' > ' || {as_text('COALESCE(captured, 0)')} AS info FROM ("
        f"SELECT p.payment_id, {total('total_captured_minor', 'Capture')} AS captured,"
        f" {total('total_refunded_minor', 'Refund')} AS refunded FROM {batch('p')}) m"
        " WHERE refunded > COALESCE(captured, 0)",
    )


def referential_checks() -> list[Check]:
    def missing_payment(alias: str, col: str = "payment_id") -> str:
        return f"NOT EXISTS (SELECT 1 FROM {PAYMENTS} p WHERE p.payment_id = {alias}.{col})"

    return [
        Check(
            "payment_actions_payment_exists",
            ACTIONS,
            WARNING,
            "Every action's payment is staged (feeds arrive in any order: a warning).",
            f"SELECT a.action_id AS sample_key, a.payment_id AS info FROM {batch('a')}"
            f" WHERE {missing_payment('a')}",
        ),
        Check(
            "disputes_payment_exists",
            DISPUTES,
            WARNING,
            "Every dispute names a staged payment.",
            f"SELECT d.dispute_id AS sample_key, d.payment_id AS info FROM {batch('d')}"
            f" WHERE d.payment_id IS NULL OR {missing_payment('d')}",
        ),
        Check(
            "financial_actions_payment_exists",
            LINES,
            WARNING,
            "Every report line of a card payment (pay_ id) has its payment staged.",
            f"SELECT {as_text('l.action_id')} AS sample_key, l.payment_id AS info FROM {batch('l')}"
            f" WHERE SUBSTR(l.payment_id, 1, 4) = 'pay_' AND {missing_payment('l')}",
        ),
        Check(
            "financial_actions_payout_exists",
            LINE_PAYOUTS,
            WARNING,
            "Every payout a report line was paid out in is in the staged payouts (the Payouts "
            "report may come after the by-payout file).",
            f"SELECT lp.payout_id AS sample_key, NULL AS info FROM {batch('lp')}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {PAYOUTS} po WHERE po.payout_id = lp.payout_id)",
        ),
        Check(
            "refund_requests_order_exists",
            REFUND_REQUESTS,
            WARNING,
            "Every FreshPortal refund request's order is staged.",
            f"SELECT r.refund_request_id AS sample_key, r.order_id AS info FROM {batch('r')}"
            f" WHERE NOT EXISTS (SELECT 1 FROM {ORDERS} o WHERE o.order_id = r.order_id)",
        ),
    ]


def freshness_checks(dialect: str, as_of: datetime, settings: QualitySettings) -> list[Check]:
    sources: Iterable[tuple[str, str, str, timedelta]] = [
        ("payments", PAYMENTS, "updated_at", settings.payments_max_age),
        ("orders", ORDERS, "updated_at", settings.orders_max_age),
        ("financial_actions", LINES, "updated_at", settings.financial_actions_max_age),
        ("payouts", PAYOUTS, "updated_at", settings.payouts_max_age),
        ("webhooks", WEBHOOKS, "received_at", settings.webhooks_max_age),
    ]
    severity = CRITICAL if settings.freshness_critical else WARNING
    checks = []
    for source, table, col, max_age in sources:
        threshold = ts_literal(dialect, as_of - max_age)
        checks.append(
            Check(
                f"freshness_{source}",
                table,
                severity,
                f"The newest {table} row ({col}) is at most {max_age} older than the run's as_of; "
                "an empty table is reported as such.",
                "SELECT CASE WHEN newest IS NULL THEN 'empty' ELSE 'stale' END AS sample_key,"
                f" {as_text('newest')} AS info FROM (SELECT MAX({col}) AS newest FROM {{batch}}) m"
                f" WHERE newest IS NULL OR newest < {threshold}",
                unit="sources",
            )
        )
    return checks


def tie_out_check() -> Check:
    # Σ of each payout's lines per currency, exact in e8, plus the payout fee Checkout.com
    # deducts without a line for it ("Merchant Payout Fees", negative; docs/sandbox.md), rounded
    # half-even once at the payout currency's exponent (like money.e8_to_minor), against the
    # payout amount in minor units. A line in another currency than its payout never ties out.
    total = "(l.total_e8 + COALESCE(po.merchant_payout_fees_e8, 0))"
    rounded = e8_to_minor_sql(total, "po.currency")
    return Check(
        "payout_lines_tie_out",
        PAYOUTS,
        WARNING,
        "The report lines of each payout plus its payout fee sum to its amount in its currency, "
        "to the minor unit (reconciliation reports each difference as payout_mismatch).",
        f"SELECT po.payout_id AS sample_key, l.currency || ' ' || {as_text(rounded)} || ' <> '"
        f" || {as_text('po.payout_amount_minor')} AS info FROM {batch('po')}, ("
        "SELECT lp.payout_id, f.holding_currency AS currency,"
        " CAST(SUM(f.holding_amount_e8) AS BIGINT) AS total_e8"  # PostgreSQL sums bigint as numeric
        f" FROM {LINE_PAYOUTS} lp, {LINES} f"
        " WHERE f.processed_on = lp.processed_on AND f.line_key = lp.line_key"
        " GROUP BY lp.payout_id, f.holding_currency) l WHERE l.payout_id = po.payout_id"
        f" AND (l.currency <> po.currency OR {rounded} <> po.payout_amount_minor)",
        unit="payout currencies",
    )


def build_checks(dialect: str, as_of: datetime, settings: QualitySettings) -> list[Check]:
    """Every check of the suite, in report order; names are unique and stable."""
    checks = [
        *unique_checks(),
        *not_null_checks(settings),
        *currency_checks(),
        *exponent_checks(dialect),
        *sign_checks(dialect),
        refunded_le_captured_check(),
        *referential_checks(),
        *freshness_checks(dialect, as_of, settings),
        tie_out_check(),
    ]
    names = [c.name for c in checks]
    if len(names) != len(set(names)):  # a programming error, caught by the tests
        raise AssertionError(f"duplicate check names: {sorted(n for n in names if names.count(n) > 1)}")
    return checks
