"""The SQL that fills each staged table for :mod:`gen_reconciliation`, on PostgreSQL and SQLite.

Every value is a pure function of the order number ``o`` (integer hashing, identical on both
engines); :class:`Sql` holds the few spellings the two engines disagree on (timestamps, padding,
hex, JSON). The builders return statements; :func:`gen_reconciliation.generate` runs them in order
(orders, payments, actions, lines, payout ids, payouts, the rest) inside one transaction.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

SPAN_SECONDS = 200 * 86_400  # orders are confirmed over 200 days before as_of (minus 12 h)
PAYOUT_LAG = 6 * 86_400  # lines older than this are in a payout (settlement window is 7 days)
#: updated_at of every generated row (seconds before as_of): nothing is stamped after as_of, so
#: an incremental run sees exactly what touch_changes changed.
LOADED = "-60"
WEEK = 7 * 86_400
#: (code, exponent, cumulative weight out of 100)
CURRENCIES = (
    ("EUR", 2, 50),
    ("GBP", 2, 70),
    ("USD", 2, 82),
    ("JPY", 0, 90),
    ("SEK", 2, 94),
    ("KWD", 3, 98),
    ("CHF", 2, 100),
)
SOURCE = "bench"


def planted_count(orders: int) -> int:
    return max(2, orders // 100_000)


class Sql:
    """The few expressions PostgreSQL and SQLite spell differently; everything else is shared."""

    def __init__(self, dialect: str, as_of: datetime) -> None:
        self.pg = dialect == "postgresql"
        self.as_of = as_of
        self.t = int(as_of.timestamp())

    def ts(self, secs: str) -> str:
        """The instant ``as_of + secs`` (an integer expression) as the column type stores it."""
        if self.pg:
            return f"(TIMESTAMPTZ '{self.as_of.isoformat()}' + ({secs}) * INTERVAL '1 second')"
        return f"(strftime('%Y-%m-%d %H:%M:%S', {self.t} + ({secs}), 'unixepoch') || '.000000')"

    def secs(self, col: str) -> str:
        """A timestamp column back to seconds relative to ``as_of``."""
        if self.pg:
            return f"(CAST(EXTRACT(EPOCH FROM {col}) AS BIGINT) - {self.t})"
        return f"(CAST(strftime('%s', {col}) AS INTEGER) - {self.t})"

    def date(self, secs: str) -> str:
        if self.pg:
            return f"CAST({self.ts(secs)} AS DATE)"
        return f"date({self.t} + ({secs}), 'unixepoch')"

    def pad(self, x: str, n: int) -> str:
        return f"lpad(CAST({x} AS TEXT), {n}, '0')" if self.pg else f"printf('%0{n}d', {x})"

    def hex16(self, x: str) -> str:
        return f"lpad(to_hex({x}), 16, '0')" if self.pg else f"printf('%016x', {x})"

    def uuid(self, a: str, b: str) -> str:
        if self.pg:
            return f"CAST({self.hex16(a)} || {self.hex16(b)} AS UUID)"
        return f"printf('%016x%016x', {a}, {b})"

    def strpos(self, s: str, sub: str) -> str:
        return f"strpos({s}, {sub})" if self.pg else f"instr({s}, {sub})"

    def obj(self, key: str, value: str) -> str:
        return f"jsonb_build_object('{key}', {value})" if self.pg else f"json_object('{key}', {value})"

    def arr(self, value: str) -> str:
        return f"jsonb_build_array({value})" if self.pg else f"json_array({value})"

    @property
    def empty(self) -> str:
        return "CAST('{}' AS JSONB)" if self.pg else "'{}'"


def h(x: str, salt: int) -> str:
    """A 31-bit hash of an integer expression (identical on both engines: 64-bit integer maths)."""
    return f"(((({x}) * 2654435761 + {salt * 1_000_003}) % 4294967291) * 48271 % 2147483647)"


def _ccy_case(x: str) -> str:
    c = f"({h(x, 1)} % 100)"
    whens = " ".join(f"WHEN {c} < {w} THEN '{code}'" for code, _, w in CURRENCIES)
    return f"CASE {whens} END"


def exp_case(col: str) -> str:
    return f"CASE {col} WHEN 'JPY' THEN 0 WHEN 'KWD' THEN 3 ELSE 2 END"


def div_case(col: str) -> str:
    """10^(8 - exponent): what turns ``_e8`` into minor units."""
    return f"CASE {col} WHEN 'JPY' THEN 100000000 WHEN 'KWD' THEN 100000 ELSE 1000000 END"


def half_even(e8: str, d: str) -> str:
    """round-half-even(e8 / d) in integers (both engines truncate integer division toward zero)."""
    q, rem = f"(({e8}) / ({d}))", f"(({e8}) - (({e8}) / ({d})) * ({d}))"
    sign = f"(CASE WHEN ({e8}) < 0 THEN -1 ELSE 1 END)"
    return (
        f"(CASE WHEN 2 * abs({rem}) > ({d}) THEN {q} + {sign} "
        f"WHEN 2 * abs({rem}) = ({d}) AND {q} % 2 <> 0 THEN {q} + {sign} ELSE {q} END)"
    )


def _amount(o: str) -> str:
    """An order's amount in minor units: 10.00-500.00 (JPY 1,000-50,000; KWD 1.000-50.000)."""
    return f"((1000 + {h(o, 2)} % 49000) * (CASE {_ccy_case(f'({o}) / 2')} WHEN 'KWD' THEN 10 ELSE 1 END))"


def _offset(o: str, n: int) -> str:
    """Confirmation instant of order ``o`` in seconds relative to as_of (last one 12 h before)."""
    return f"(({o}) * {SPAN_SECONDS} / {n} - {SPAN_SECONDS} - 43200)"


BOOK = "first_seen_at, updated_at, source"


def helpers(q: Sql, n: int) -> list[str]:
    create = "CREATE TABLE bench_numbers (i BIGINT PRIMARY KEY)"
    if q.pg:
        return [create, f"INSERT INTO bench_numbers SELECT generate_series(1, {n})"]
    return [
        create,
        f"INSERT INTO bench_numbers WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g "
        f"WHERE i < {n}) SELECT i FROM g",
    ]


def _order_base(q: Sql, n: int) -> str:
    """One row per order with the derived facts every table needs (a subquery)."""
    conf = _offset("i", n)
    status = (
        f"CASE WHEN i % 1000 < 20 THEN 'cancelled' WHEN i % 1000 < 30 THEN 'draft' "
        f"WHEN i % 1000 IN (160, 161) THEN 'invoiced' ELSE CASE {h('i', 3)} % 10 WHEN 0 THEN 'confirmed' "
        f"WHEN 1 THEN 'picking' WHEN 7 THEN 'invoiced' WHEN 8 THEN 'invoiced' WHEN 9 THEN 'invoiced' "
        f"ELSE 'delivered' END END"
    )
    recent = f"(i > {n - n // 100} AND i % 2 = 0 AND i % 1000 >= 200 AND p.kind IS NULL)"
    return (
        f"SELECT i AS o, i % 1000 AS r, p.kind AS kind, {status} AS ostatus, {conf} AS conf, "
        f"{_ccy_case('i / 2')} AS ccy, {_amount('i')} AS amt, {_amount('i + 1')} AS amt_next, "
        f"CASE WHEN {recent} THEN 1 ELSE 0 END AS recent, "
        f"CAST(100000000 + i AS TEXT) AS order_id, 'FP-' || {q.pad('i', 8)} AS order_number, "
        f"{h('i', 4)} % 300000 AS cust "
        f"FROM bench_numbers LEFT JOIN bench_plan p ON p.o = i WHERE i <= {n}"
    )


def _fp_status() -> str:
    """What FreshPortal shows for the order (what the status push last wrote)."""
    return (
        "CASE WHEN r < 20 THEN 'declined' WHEN r < 30 THEN 'cancelled' WHEN r = 161 THEN NULL "
        "WHEN recent = 1 OR kind = 'missing_pure' THEN 'authorized' "
        "WHEN kind IN ('missing_orphan', 'status_drift') THEN 'awaiting_payment' "
        "WHEN kind = 'over_refund' THEN 'refunded' WHEN kind = 'refund_not_requested' THEN "
        "'partially_refunded' "
        "WHEN r >= 130 AND r < 160 THEN CASE WHEN o % 2 = 0 THEN 'refunded' ELSE 'partially_refunded' END "
        "WHEN kind = 'chargeback_open' THEN 'disputed' WHEN kind = 'chargeback_lost' THEN 'chargeback' "
        "ELSE 'paid' END"
    )


def _email_hash(q: Sql) -> str:
    return " || ".join(q.hex16(h("cust", s)) for s in (21, 22, 23, 24))


def orders(q: Sql, n: int) -> str:
    confirmed = "ostatus NOT IN ('cancelled', 'draft')"
    return (
        "INSERT INTO stg_orders (order_id, order_number, status, order_date, confirmed_at, currency, "
        "amount_minor, customer_id, customer_email_masked, customer_email_hash, customer_country, "
        "billing_country, line_count, invoice_numbers, fp_version, fp_created_at, fp_updated_at, "
        f"payment_status, payment_currency, psp_payment_id, {BOOK}) "
        f"SELECT order_id, order_number, ostatus, {q.date('conf')}, "
        f"CASE WHEN {confirmed} THEN {q.ts('conf')} END, ccy, amt, 'cus_' || {q.pad('cust', 7)}, "
        f"'c***@example.com', {_email_hash(q)}, 'NL', 'NL', 1 + {h('o', 5)} % 8, "
        f"CASE WHEN ostatus = 'invoiced' THEN {q.arr(chr(39) + 'INV-' + chr(39) + ' || ' + q.pad('o', 8))} "
        "END, "
        f"1 + o % 5, {q.ts('conf - 3600')}, {q.ts('conf')}, {_fp_status()}, ccy, "
        f"'pay_a' || {q.pad('o', 25)}, {q.ts('conf - 3600')}, {q.ts(LOADED)}, '{SOURCE}' "
        f"FROM ({_order_base(q, n)}) b"
    )


_PAYMENT_COLS = (
    "payment_id, status, requested_on, processed_on, currency, amount_minor, amount_requested_minor, "
    "total_authorized_minor, total_voided_minor, available_to_void_minor, total_captured_minor, "
    "available_to_capture_minor, total_refunded_minor, available_to_refund_minor, approved, reference, "
    "payment_type, response_code, response_summary, processing_channel_id, source_type, card_scheme, "
    f"card_type, card_bin, card_last4, customer_id, customer_email_hash, metadata, {BOOK}"
)


def _payment_select(q: Sql, src: str) -> str:
    """Payments from a subquery with: o, pid, status, req (secs), ccy, pa (amount), cap, ref,
    meta (0/1), cust (or NULL), refunded."""
    auth = "CASE WHEN status = 'Declined' THEN 0 ELSE pa END"
    return (
        f"SELECT pid, status, {q.ts('req')}, {q.ts('req + 2')}, ccy, pa, pa, {auth}, "
        "CASE WHEN status = 'Voided' THEN pa ELSE 0 END, CASE WHEN status = 'Authorized' THEN pa ELSE 0 END, "
        "cap, CASE WHEN status = 'Authorized' THEN pa ELSE 0 END, refunded, cap - refunded, "
        "status <> 'Declined', ref, 'Regular', CASE WHEN status = 'Declined' THEN '20051' ELSE '10000' END, "
        "CASE WHEN status = 'Declined' THEN 'Insufficient Funds' ELSE 'Approved' END, 'pc_bench', 'card', "
        f"CASE {h('o', 6)} % 3 WHEN 0 THEN 'Visa' WHEN 1 THEN 'Mastercard' ELSE 'Amex' END, "
        f"CASE {h('o', 7)} % 2 WHEN 0 THEN 'CREDIT' ELSE 'DEBIT' END, '424242', "
        f"{q.pad(h('o', 8) + ' % 10000', 4)}, "
        f"CASE WHEN cust IS NULL THEN NULL ELSE 'cus_' || {q.pad('cust', 7)} END, "
        f"CASE WHEN cust IS NULL THEN NULL ELSE {_email_hash(q)} END, "
        f"CASE WHEN meta = 1 THEN {q.obj('order_id', 'order_id')} END, {q.ts('req')}, {q.ts(LOADED)}, "
        f"'{SOURCE}' FROM ({src}) s"
    )


def payments(q: Sql, n: int) -> list[str]:
    ins = f"INSERT INTO stg_payments ({_PAYMENT_COLS}) "
    status = (
        "CASE WHEN r < 20 THEN 'Declined' WHEN r < 30 OR r = 161 THEN 'Voided' "
        "WHEN recent = 1 OR kind = 'missing_pure' THEN 'Authorized' "
        "WHEN kind = 'over_refund' THEN 'Refunded' WHEN kind = 'refund_not_requested' THEN 'Partially "
        "Refunded' "
        "WHEN r >= 130 AND r < 160 THEN CASE WHEN o % 2 = 0 THEN 'Refunded' ELSE 'Partially Refunded' END "
        "ELSE 'Captured' END"
    )
    pa = (
        "CASE WHEN r >= 30 AND r < 50 THEN amt * 6 / 10 WHEN r = 160 THEN amt + amt_next "
        "WHEN kind = 'amount_mismatch' THEN amt - 1 ELSE amt END"
    )
    ref = (
        "CASE WHEN kind = 'missing_orphan' THEN 'XX-' || order_number "
        f"WHEN r = 160 THEN 'INV-' || {q.pad('o', 8)} || ', INV-' || {q.pad('o + 1', 8)} "
        "WHEN r = 161 OR (r >= 170 AND r < 180) THEN NULL ELSE order_number END"
    )
    meta = (
        "CASE WHEN kind = 'missing_orphan' OR r = 160 OR r = 161 THEN 0 WHEN r >= 170 AND r < 180 THEN 1 "
        f"ELSE {h('o', 9)} % 2 END"
    )
    ccy = (
        "CASE WHEN kind = 'currency_mismatch' THEN CASE WHEN ccy = 'USD' THEN 'EUR' ELSE 'USD' END "
        "ELSE ccy END"
    )
    primary = (
        f"SELECT o, order_id, 'pay_a' || {q.pad('o', 25)} AS pid, status, conf + 600 AS req, {ccy} AS ccy, "
        f"pa, CASE WHEN status IN ('Declined', 'Voided', 'Authorized') THEN 0 ELSE pa END AS cap, ref, meta, "
        "cust, CASE WHEN status = 'Refunded' THEN pa WHEN kind = 'refund_not_requested' THEN 100 "
        "WHEN status = 'Partially Refunded' THEN pa / 2 ELSE 0 END AS refunded "
        f"FROM (SELECT b.*, {status} AS status, {pa} AS pa, {ref} AS ref, {meta} AS meta "
        f"FROM ({_order_base(q, n)}) b) x"
    )
    extra = (
        "SELECT o, order_id, {pid} AS pid, {status} AS status, conf + {dt} AS req, ccy, {pa} AS pa, "
        "{cap} AS cap, order_number AS ref, 1 AS meta, cust, {refunded} AS refunded "
        f"FROM ({_order_base(q, n)}) b WHERE {{where}}"
    )
    split = extra.format(
        pid=f"'pay_b' || {q.pad('o', 25)}",
        status="'Captured'",
        dt=1200,
        pa="amt - amt * 6 / 10",
        cap="amt - amt * 6 / 10",
        refunded=0,
        where="r >= 30 AND r < 50",
    )
    retry = extra.format(
        pid=f"'pay_c' || {q.pad('o', 25)}",
        status="'Declined'",
        dt=300,
        pa="amt",
        cap=0,
        refunded=0,
        where="r >= 50 AND r < 130",
    )
    dup = extra.format(
        pid=f"'pay_d' || {q.pad('o', 25)}",
        status="CASE WHEN kind = 'over_refund' THEN 'Refunded' ELSE 'Captured' END",
        dt=1800,
        pa="amt",
        cap="amt",
        refunded="CASE WHEN kind = 'over_refund' THEN amt ELSE 0 END",
        where="kind IN ('duplicate', 'over_refund')",
    )
    k = planted_count(n)
    orphan = (
        f"SELECT i AS o, CAST(NULL AS TEXT) AS order_id, 'pay_e' || {q.pad('i', 25)} AS pid, 'Captured' AS "
        "status, "
        f"i * 3600 - 30 * 86400 AS req, 'EUR' AS ccy, 12345 AS pa, 12345 AS cap, "
        f"'UNKNOWN-' || {q.pad('i', 6)} AS ref, 0 AS meta, CAST(NULL AS BIGINT) AS cust, 0 AS refunded "
        f"FROM bench_numbers WHERE i <= {k}"
    )
    return [ins + _payment_select(q, s) for s in (primary, split, retry, dup, orphan)]


def actions(q: Sql) -> list[str]:
    cols = (
        "action_id, payment_id, action_type, processed_on, currency, amount_minor, approved, "
        f"response_code, response_summary, reference, {BOOK}"
    )
    sel = (
        "SELECT 'act_{t}' || substr(payment_id, 5), payment_id, '{kind}', {at}, currency, {amount}, "
        "1 = 1, '10000', 'Approved', reference, {at}, {upd}, '{src}' FROM stg_payments WHERE {amount} > 0"
    )
    upd = q.ts(LOADED)
    return [
        f"INSERT INTO stg_payment_actions ({cols}) "
        + sel.format(
            t="c",
            kind="Capture",
            at=q.ts(q.secs("requested_on") + " + 3600"),
            amount="total_captured_minor",
            upd=upd,
            src=SOURCE,
        ),
        f"INSERT INTO stg_payment_actions ({cols}) "
        + sel.format(
            t="r",
            kind="Refund",
            at=q.ts(q.secs("requested_on") + " + 7200"),
            amount="total_refunded_minor",
            upd=upd,
            src=SOURCE,
        ),
    ]


_LINE_COLS = (
    "processed_on, line_key, occurrence, action_id, action_type, breakdown_type, payment_id, requested_on, "
    "client_entity_id, sub_entity_id, processing_channel_id, merchant_category_code, currency_account_id, "
    "reference, payment_method, card_type, card_category, issuer_country, entity_country, region, mid, "
    "response_code, response_description, fee_detail, fx_rate_applied, holding_currency, holding_amount_e8, "
    "holding_amount_minor, processing_currency, processing_amount_e8, processing_amount_minor, "
    f"source_file_id, content_hash, {BOOK}"
)


def lines(q: Sql) -> str:
    """Two lines per capture and refund: Gross and one fee (8 decimals)."""
    num = "CAST(substr(action_id, 7) AS BIGINT)"  # the order (or orphan) number
    cls = f"{q.strpos(repr('ca cb cc cd ce ra rb rc rd re'), 'substr(action_id, 5, 2)')}"
    fee = f"-(1 + {h('num * 3 + part', 12)} % 40000000)"
    gross = f"(CASE WHEN action_type = 'Refund' THEN -1 ELSE 1 END) * amount_minor * ({div_case('currency')})"
    breakdown = (
        "CASE WHEN part = 1 THEN 'Gross' WHEN action_type = 'Refund' THEN 'Gateway Fee' "
        f"ELSE CASE {h('num', 13)} % 3 WHEN 0 THEN 'Interchange Fee' WHEN 1 THEN 'Scheme Fee' ELSE 'Gateway "
        "Fee' END END"
    )
    base = (
        f"SELECT x.*, CASE WHEN part = 1 THEN {gross} ELSE {fee} END AS e8 FROM ("
        f"SELECT a.*, k.part, {num} AS num, {cls} AS cls "
        "FROM stg_payment_actions a CROSS JOIN (SELECT 1 AS part UNION ALL SELECT 2) k "
        "WHERE a.action_id NOT IN (SELECT 'act_ca' || "
        f"{q.pad('o', 25)} FROM bench_plan WHERE kind = 'unsettled_noline')) x"
    )
    week = f"({q.secs('processed_on')} + {SPAN_SECONDS + WEEK}) / {WEEK}"
    return (
        f"INSERT INTO stg_financial_actions ({_LINE_COLS}) SELECT processed_on, "
        f"{q.uuid('cls * 100000000000 + num * 10 + part', h('num * 7 + cls + part', 14))}, 1, action_id, "
        f"action_type, {breakdown}, payment_id, processed_on, 'ent_bench', 'ent_bench_sub', 'pc_bench', "
        "'5411', "
        "'ca_' || lower(currency), reference, 'VISA', 'CREDIT', 'Consumer', 'NL', 'GB', 'Domestic', "
        "'mid_000123', "
        "'10000', 'Approved', CASE WHEN part = 1 THEN NULL ELSE 'Fee' END, '1', currency, e8, "
        f"{half_even('e8', div_case('currency'))}, currency, e8, {half_even('e8', div_case('currency'))}, "
        f"'file_bench_' || {q.pad(week, 4)}, {h('num * 5 + part', 15)}, "
        f"{q.ts(q.secs('processed_on') + ' + 600')}, "
        f"{q.ts(LOADED)}, 'report' FROM ({base}) l"
    )


def _payout_id(q: Sql, secs: str, ccy: str) -> str:
    return f"'po_' || lower({ccy}) || {q.pad(f'({secs} + {SPAN_SECONDS + WEEK}) / {WEEK}', 23)}"


def payout_links(q: Sql) -> list[str]:
    """Lines older than the payout lag are paid out weekly per currency (except planted unsettled);
    each payout also gets one entity-level line (minimum billing fee, no payment)."""
    link_cols = f"processed_on, line_key, payout_id, source_file_id, {BOOK}"
    links = (
        f"INSERT INTO stg_financial_action_payouts ({link_cols}) SELECT processed_on, line_key, "
        f"{_payout_id(q, q.secs('processed_on'), 'holding_currency')}, 'file_bypayout', first_seen_at, "
        f"updated_at, 'report' FROM stg_financial_actions WHERE processed_on <= {q.ts(str(-PAYOUT_LAG))} "
        f"AND action_id NOT IN (SELECT 'act_ca' || {q.pad('o', 25)} FROM bench_plan WHERE kind = "
        "'unsettled_capture')"
    )
    last_minute = (
        f"((({q.secs('l.processed_on')} + {SPAN_SECONDS + WEEK}) / {WEEK}) * {WEEK} - {SPAN_SECONDS} - 60)"
    )
    # the week's last minute, but never after the newest paid-out line (nothing in the future)
    week_end = f"(CASE WHEN {last_minute} > -{PAYOUT_LAG} THEN -{PAYOUT_LAG} ELSE {last_minute} END)"
    entity = (
        f"INSERT INTO stg_financial_actions ({_LINE_COLS}) SELECT {q.ts('we')}, "
        f"{q.uuid('999000000000000 + w * 100 + cn', h('w * 100 + cn', 16))}, 1, 'mbf_' || substr(payout_id, "
        "4), "
        "'Minimum Billing Fee', 'Minimum Billing Fee', NULL, NULL, 'ent_bench', 'ent_bench_sub', NULL, NULL, "
        "'ca_' || lower(ccy), NULL, NULL, NULL, NULL, NULL, 'GB', NULL, NULL, NULL, NULL, NULL, NULL, ccy, "
        "e8, "
        f"{half_even('e8', div_case('ccy'))}, NULL, NULL, NULL, 'file_bypayout', {h('w * 100 + cn', 17)}, "
        f"{q.ts('we')}, {q.ts(LOADED)}, 'report' FROM (SELECT payout_id, ccy, w, we, cn, "
        f"-(1 + {h('w * 100 + cn', 18)} % 500000000) AS e8 FROM (SELECT p.payout_id, "
        "min(l.holding_currency) AS ccy, "
        f"min({week_end}) AS we, min(({q.secs('l.processed_on')} + {SPAN_SECONDS + WEEK}) / {WEEK}) AS w, "
        f"min({q.strpos(repr('EUR GBP USD JPY SEK KWD CHF'), 'l.holding_currency')}) AS cn "
        "FROM stg_financial_action_payouts p JOIN stg_financial_actions l "
        "ON l.processed_on = p.processed_on AND l.line_key = p.line_key GROUP BY p.payout_id) g) e"
    )
    entity_links = (
        f"INSERT INTO stg_financial_action_payouts ({link_cols}) SELECT processed_on, line_key, "
        f"'po_' || substr(action_id, 5), 'file_bypayout', first_seen_at, updated_at, 'report' "
        "FROM stg_financial_actions WHERE action_type = 'Minimum Billing Fee'"
    )
    return [links, entity, entity_links]


def payouts(q: Sql) -> str:
    return (
        "INSERT INTO stg_payouts (payout_id, client_entity_id, sub_entity_id, currency_account_id, currency, "
        "payout_date, payout_amount_e8, payout_amount_minor, period_start, period_end, source_file_id, "
        f"{BOOK}) SELECT payout_id, 'ent_bench', 'ent_bench_sub', 'ca_' || lower(ccy), ccy, "
        f"{q.date(q.secs('pe') + ' + 2 * 86400')}, s, {half_even('s', div_case('ccy'))}, ps, pe, "
        "'file_payouts', "
        f"pe, {q.ts(LOADED)}, 'report' FROM (SELECT p.payout_id, min(l.holding_currency) AS ccy, "
        "sum(l.holding_amount_e8) AS s, min(l.processed_on) AS ps, max(l.processed_on) AS pe "
        "FROM stg_financial_action_payouts p JOIN stg_financial_actions l "
        "ON l.processed_on = p.processed_on AND l.line_key = p.line_key GROUP BY p.payout_id) t"
    )


def plant_payout_mismatch(conn: sa.Connection, k: int) -> list[str]:
    ids = [r[0] for r in conn.exec_driver_sql("SELECT payout_id FROM stg_payouts ORDER BY payout_id")]
    step = max(1, len(ids) // k)
    chosen = ids[::step][:k]
    conn.execute(
        sa.text(
            "UPDATE stg_payouts SET payout_amount_minor = payout_amount_minor + 1, payout_amount_e8 = "
            f"payout_amount_e8 + {div_case('currency')} WHERE payout_id = :p"
        ),
        [{"p": p} for p in chosen],
    )
    return chosen


def others(q: Sql) -> list[str]:
    return [*_disputes_and_refunds(q), *_status(q)]


def _disputes_and_refunds(q: Sql) -> list[str]:
    order_id = "CAST(100000000 + o AS TEXT)"
    disputes = (
        "INSERT INTO stg_disputes (dispute_id, payment_id, payment_action_id, payment_reference, category, "
        "status, "
        f"reason_code, currency, amount_minor, received_on, last_update, evidence_required_by, {BOOK}) "
        f"SELECT 'dsp_' || {q.pad('p.o', 26)}, s.payment_id, 'act_c' || substr(s.payment_id, 5), "
        "s.reference, "
        "'fraudulent', CASE p.kind WHEN 'chargeback_open' THEN 'evidence_required' WHEN 'chargeback_lost' "
        "THEN 'lost' "
        "ELSE 'won' END, '10.4', s.currency, s.total_captured_minor, "
        f"{q.ts(q.secs('s.requested_on') + ' + 10 * 86400')}, "
        f"{q.ts(q.secs('s.requested_on') + ' + 20 * 86400')}, "
        f"{q.ts(q.secs('s.requested_on') + ' + 30 * 86400')}, "
        f"{q.ts(q.secs('s.requested_on') + ' + 10 * 86400')}, {q.ts(LOADED)}, '{SOURCE}' FROM bench_plan p "
        f"JOIN stg_payments s ON s.payment_id = 'pay_a' || {q.pad('p.o', 25)} "
        "WHERE p.kind IN ('chargeback_open', 'chargeback_lost', 'dispute_won')"
    )
    rr_cols = (
        "refund_request_id, order_id, order_number, currency, amount_minor, reason, fp_status, state, "
        f"requested_at, fp_updated_at, fp_version, outcome_status, outcome_refund_id, {BOOK}"
    )
    # every Refund action except the planted refund_not_requested has a succeeded request
    done = (
        f"INSERT INTO stg_refund_requests ({rr_cols}) SELECT 'rr_' || substr(a.action_id, 6), "
        "CAST(100000000 + CAST(substr(a.action_id, 7) AS BIGINT) AS TEXT), s.reference, a.currency, "
        "a.amount_minor, "
        f"'quality_complaint', 'refunded', 'succeeded', {q.ts(q.secs('a.processed_on') + ' - 3600')}, "
        "a.processed_on, 2, "
        f"'refunded', a.action_id, a.processed_on, {q.ts(LOADED)}, '{SOURCE}' FROM stg_payment_actions a "
        "JOIN stg_payments s ON s.payment_id = a.payment_id WHERE a.action_type = 'Refund' AND a.action_id "
        "NOT IN "
        f"(SELECT 'act_ra' || {q.pad('o', 25)} FROM bench_plan WHERE kind = 'refund_not_requested')"
    )
    open_ = (
        f"INSERT INTO stg_refund_requests ({rr_cols}) SELECT 'rr_x' || {q.pad('o', 25)}, {order_id}, "
        f"'FP-' || {q.pad('o', 8)}, 'EUR', 500, 'quality_complaint', CASE kind WHEN 'refund_pending' THEN "
        "'processing' "
        "ELSE 'requested' END, CASE kind WHEN 'refund_pending' THEN 'processing' ELSE 'requested' END, "
        f"CASE kind WHEN 'refund_pending' THEN {q.ts('-3600')} ELSE {q.ts('-10 * 86400')} END, "
        f"{q.ts('-3600')}, 1, "
        f"NULL, NULL, {q.ts('-10 * 86400')}, {q.ts(LOADED)}, '{SOURCE}' FROM bench_plan "
        "WHERE kind IN ('refund_not_executed', 'refund_pending')"
    )
    mi_cols = (
        "intent_id, kind, request_key, order_id, order_number, payment_id, currency, amount_minor, "
        "idempotency_key, state, action_id, outcome_amount_minor, outcome_at, outcome_source, requested_at, "
        "created_at, attempts, writeback_attempts, writeback_status, written_back_status, updated_at, run_id"
    )
    intents = (
        f"INSERT INTO sync_money_intents ({mi_cols}) SELECT 'mi_' || substr(r.refund_request_id, 4), "
        "'refund', "
        "'refund_request:' || r.refund_request_id, r.order_id, r.order_number, a.payment_id, r.currency, "
        "r.amount_minor, 'idem_' || r.refund_request_id, 'succeeded', a.action_id, a.amount_minor, "
        "a.processed_on, "
        "'webhook', r.requested_at, r.requested_at, 1, 1, 'succeeded', 'succeeded', a.processed_on, 'bench' "
        "FROM stg_refund_requests r JOIN stg_payment_actions a ON a.action_id = r.outcome_refund_id "
        "WHERE CAST(substr(a.action_id, 7) AS BIGINT) % 2 = 1"
    )
    pending = (
        f"INSERT INTO sync_money_intents ({mi_cols}) SELECT 'mi_' || substr(refund_request_id, 4), 'refund', "
        "'refund_request:' || refund_request_id, order_id, order_number, NULL, currency, amount_minor, "
        "'idem_' || refund_request_id, 'accepted', NULL, NULL, NULL, NULL, requested_at, requested_at, 1, 0, "
        f"'processing', NULL, requested_at, 'bench' FROM stg_refund_requests WHERE state = 'processing'"
    )
    return [disputes, done, open_, intents, pending]


def _status(q: Sql) -> list[str]:
    fp = (
        "CASE WHEN d.status = 'evidence_required' THEN 'disputed' WHEN d.status = 'lost' THEN 'chargeback' "
        "WHEN s.status = 'Captured' THEN 'paid' WHEN s.status = 'Declined' THEN 'declined' "
        "WHEN s.status = 'Voided' THEN 'cancelled' WHEN s.status = 'Authorized' THEN 'authorized' "
        "WHEN s.status = 'Refunded' THEN 'refunded' ELSE 'partially_refunded' END"
    )
    num = "CAST(substr(s.payment_id, 6) AS BIGINT)"
    cols = (
        "payment_id, order_id, reference, status, dispute_id, dispute_status, dispute_state, "
        "freshportal_status, "
        "currency, amount_minor, total_authorized_minor, total_voided_minor, available_to_void_minor, "
        "total_captured_minor, available_to_capture_minor, total_refunded_minor, available_to_refund_minor, "
        f"version, status_since, derived_from_event_at, truth_fetched_at, events_applied, state, {BOOK}"
    )
    at = q.ts(q.secs("s.requested_on") + " + 3600")
    status = (
        f"INSERT INTO stg_payment_status ({cols}) SELECT s.payment_id, CAST(100000000 + {num} AS TEXT), "
        "s.reference, "
        "s.status, d.dispute_id, d.status, CASE d.status WHEN 'evidence_required' THEN 'Disputed' "
        f"WHEN 'lost' THEN 'Chargeback' WHEN 'won' THEN 'Dispute Won' END, {fp}, s.currency, s.amount_minor, "
        "s.total_authorized_minor, s.total_voided_minor, s.available_to_void_minor, s.total_captured_minor, "
        "s.available_to_capture_minor, s.total_refunded_minor, s.available_to_refund_minor, 1, "
        "s.processed_on, "
        f"{at}, {at}, 1, {q.empty}, s.requested_on, {at}, 'events' FROM stg_payments s "
        "LEFT JOIN stg_disputes d ON d.payment_id = s.payment_id "
        "WHERE substr(s.payment_id, 5, 1) IN ('a', 'b', 'c', 'd') "
        f"AND NOT ({num} % 1000 = 161 AND substr(s.payment_id, 5, 1) = 'a') "
        "AND (s.reference IS NULL OR s.reference NOT LIKE 'XX-%')"
    )
    outbox = (
        "INSERT INTO sync_status_outbox (order_id, version, payment_id, freshportal_status, "
        "checkout_status, payload, "
        "created_at, attempts, last_attempt_at, delivered_at, outcome, run_id) SELECT CAST(100000000 + p.o "
        "AS TEXT), 1, "
        f"'pay_a' || {q.pad('p.o', 25)}, 'paid', 'Captured', {q.empty}, {q.ts('-2 * 86400')}, 1, "
        f"{q.ts('-2 * 86400')}, "
        f"{q.ts('-2 * 86400')}, 'delivered', 'bench' FROM bench_plan p WHERE p.kind = 'outbox_ok'"
    )
    declines = (
        "INSERT INTO ops_payment_declines (decline_id, payment_id, kind, response_code, response_summary, "
        f"amount_minor, currency, occurred_at, {BOOK}) SELECT 'dcl_' || substr(payment_id, 5), payment_id, "
        "'payment_declined', response_code, response_summary, amount_minor, currency, processed_on, "
        "processed_on, "
        f"{q.ts(LOADED)}, 'events' FROM stg_payments WHERE status = 'Declined'"
    )
    return [status, outbox, declines]
