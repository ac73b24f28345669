"""Which payment belongs to which order: rules R1-R4, as set-based SQL.

Rules, in order (docs/reconciliation.md "Matching"); a pair is matched by the first rule that
finds it:

* R1 ``reference``: the payment's reference is the order number (what the payment link sends),
  held by that order alone (a number several orders hold places the payment nowhere by R1);
* R2 ``metadata_order_id``: the payment's ``metadata.order_id`` is the FreshPortal order id, for
  a payment whose reference is no order's number (R1 first: a payment belongs to one order at
  most by R1/R2, so its money is never counted in full for two orders);
* R3 ``invoice_reference``: the reference is, or lists (separated by ``,`` ``;`` or ASCII white
  space, ``SEPARATORS``), one or more invoice numbers of orders: one payment for several orders
  (a customer paying invoices by bank transfer). Tried only for payments and orders that R1/R2
  left unmatched, so an order is compared with its money in exactly one group;
* R4 ``suggested_customer_amount``: a captured payment and a confirmed order both without a
  confirmed match, same customer (e-mail hash), currency and amount, requested within
  ``suggestion_window`` of the confirmation: a suggestion for a person, never a confirmed match.

Groups: R1/R2 matches of an order form ``order:<order_id>`` (several payments for one order:
retries, split payments); R3 matches form ``payment:<payment_id>``, the payments whose references
list an invoice of the same order joined into one group named after the lowest of them (a
declined attempt and its retry quoting one invoice; a transfer split in two; two transfers
whose invoice lists overlap). Amount checks compare a group's orders with the group's payments
as one.

Results go to the scratch table ``match`` first, then ``recon_matches`` is brought in line with
it by two set statements (delete what is no longer found, insert what is new), so a rerun on
unchanged data writes nothing and ``first_matched_at`` survives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import facts, sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.warehouse.schema import recon_matches, stg_orders
from checkout_freshportal.warehouse.schema.recon import recon_order_invoices

R1, R2, R3, R4 = "reference", "metadata_order_id", "invoice_reference", "suggested_customer_amount"
RULES = (R1, R2, R3, R4)


#: The payment's columns ``match`` carries besides its figures (facts.payment_columns).
_PAYMENT_ONLY = ("status", "amount_minor", "reference", "meta_order_id", "email_hash", "requested_on")


def _match_table(ctx: Ctx) -> sa.Table:
    by_name = {c.name: c for c in facts.payment_columns()}
    return sqlbits.scratch(
        ctx.conn,
        "recon_tmp_match",
        # NULL only between R1's statement and the next (build_matches): a payment R1 did not
        # place is written with no order, then moved to ``loose``
        sa.Column("order_id", sa.Text()),
        sa.Column("payment_id", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("match_group", sa.Text()),
        sa.Column("order_number", sa.Text()),
        sa.Column("currency", sa.String(3)),
        # the order's and the payment's figures, copied in when the pair is found, so the group
        # facts are GROUP BYs over this table (facts.build_orders, facts.build_groups) instead
        # of two more joins; and the rest of the payment's columns, so that no table of every
        # payment is needed besides this one (facts.payment_facts)
        sa.Column("o_currency", sa.String(3)),
        sa.Column("o_amount", sa.BigInteger()),
        # what the order table reads of the order (facts.build_orders): the orders with a match
        # are written from here alone, without joining the million staged orders again
        sa.Column("o_confirmed", sa.Boolean()),
        sa.Column("o_confirmed_at", stg_orders.c.confirmed_at.type),
        sa.Column("o_payment_status", sa.Text()),
        sa.Column("captured", sa.BigInteger()),
        sa.Column("refunded", sa.BigInteger()),
        sa.Column("available", sa.BigInteger()),
        *[by_name[c] for c in _PAYMENT_ONLY],
        index=("payment_id", "order_id", "match_group"),
    )


def _figures(ctx: Ctx, o: Any, pay: Any) -> list[Any]:
    """The columns of ``match`` after the pair's keys (see :func:`_match_table`)."""
    return [
        o.c.order_number,
        pay.c.currency,
        o.c.currency.label("o_currency"),
        o.c.amount_minor.label("o_amount"),
        o.c.status.in_(ctx.confirmed_statuses).label("o_confirmed"),
        o.c.confirmed_at.label("o_confirmed_at"),
        o.c.payment_status.label("o_payment_status"),
        pay.c.captured,
        pay.c.refunded,
        pay.c.available,
        *[pay.c[c] for c in _PAYMENT_ONLY],
    ]


def build_matches(ctx: Ctx) -> sa.Table:
    """Fills the scratch table ``match`` for the payments of this run (all, or the scope)."""
    m, pay, o = _match_table(ctx), facts.payment_facts(ctx), stg_orders
    ctx.tmp["match"] = m
    conn = ctx.conn

    def pairs(rule: str, src: Any, join_on: Any, *, outer: bool = False) -> sa.Select[Any]:
        return sa.select(
            o.c.order_id,
            src.c.payment_id,
            sa.literal(rule).label("rule"),
            sa.literal(True).label("confirmed"),
            (sa.literal("order:") + o.c.order_id).label("match_group"),
            *_figures(ctx, o, src),
        ).select_from(src.join(o, join_on, isouter=outer))

    # R1, and every other payment with no order: one pass over the payments. Only the payments
    # with no order keep the columns R2-R4 read (they move to ``loose``): R1's million pairs
    # would carry about 100 bytes each that nothing reads (``payment_failed`` reads their status
    # and amount)
    r1 = pairs(R1, pay, o.c.order_number == pay.c.reference, outer=True)
    for_loose = {
        c: sa.case((o.c.order_id.is_(None), pay.c[c]), else_=None).label(c)
        for c in ("reference", "meta_order_id", "email_hash", "requested_on")
    }
    r1 = r1.with_only_columns(*[for_loose.get(c.name, c) for c in r1.selected_columns])
    sqlbits.fill(conn, m, r1)
    _unplace_shared_numbers(ctx, m)
    loose = _loose(ctx, m)
    # R2 among the payments R1 did not place: a payment has an R1 pair exactly when its reference
    # is the number of one order, so these are the payments whose reference is no order's number
    # (or one held by several orders), and a payment belongs to one order at most by R1/R2.
    # Asked of every payment instead, the join
    # by metadata hashed all orders against 1.1M payments to keep 10,000 pairs (0.8-0.95 s
    # against 0.2 s at a million orders).
    sqlbits.fill(conn, m, pairs(R2, loose, o.c.order_id == loose.c.meta_order_id))
    by_metadata = sa.select(m.c.payment_id).where(m.c.rule == R2)
    if conn.execute(loose.delete().where(loose.c.payment_id.in_(by_metadata))).rowcount:
        sqlbits.analyze(conn, loose)
    sqlbits.analyze(conn, m)
    _invoice_matches(ctx, m, loose)
    _unmatched(ctx, m, loose)
    _suggestions(ctx, m)
    sqlbits.analyze(conn, m)
    return m


def shared_numbers() -> sa.Select[Any]:
    """The order numbers held by more than one staged order. R1 matches no payment by them: the
    reference does not say which order it pays, and paired with each its money counted in full
    for all of them. The grouping reads the order number's index in order (an index-only scan:
    0.6 s at a million orders in a slow hour, EXPLAIN ANALYZE; hashed, or as a self-join, 1.9 and
    2.6 s), so a full run on PostgreSQL has it done beside (reconcile/inputs.py)."""
    o = stg_orders
    return (
        sa.select(o.c.order_number)
        .where(o.c.order_number.is_not(None))  # orders without a number pair with no reference
        .group_by(o.c.order_number)
        .having(sa.func.count() > 1)
    )


def _unplace_shared_numbers(ctx: Ctx, m: sa.Table) -> None:
    """Takes R1's pairs by an order number that several orders hold out of ``match``: each of
    their payments is written once with no order, like the payments R1 found no order for, so
    it goes to ``loose`` and R2-R4 may place it (its ``metadata.order_id`` names one order) or it
    is an ``orphan_payment``.

    In a full run on PostgreSQL the numbers come from the side connection (usually none: then
    nothing is written or read here). Otherwise the payments are the ones R1 paired with more
    than one order, which is the same thing: a few thousand pairs grouped in an incremental run
    (its scoped payments'), where probing the order number's index for each of their numbers
    took 0.23 s a round at a million orders."""
    conn = ctx.conn
    found = ctx.wait_for("shared_order_numbers")
    if found is not None and not found:
        return
    t = sqlbits.scratch(conn, "recon_tmp_shared", sa.Column("payment_id", sa.Text()), index=("payment_id",))
    paired = m.c.order_id.is_not(None)
    if found is None:
        twice = sa.select(m.c.payment_id).where(paired).group_by(m.c.payment_id).having(sa.func.count() > 1)
    else:
        numbers = sa.values(sa.column("order_number", sa.Text()), name="shared").data([(n,) for n in found])
        twice = sa.select(m.c.payment_id).distinct().where(paired, m.c.order_number.in_(sa.select(numbers)))
    if not sqlbits.fill(conn, t, twice):
        return
    sqlbits.analyze(conn, t)
    pay = facts.payment_facts(ctx)
    shared = sa.and_(paired, m.c.payment_id.in_(sa.select(t.c.payment_id)))
    # R1 wrote these pairs without the columns only ``loose`` needs (build_matches): they come
    # from the payment again (its reference is the order number it was paired by)
    again = (
        sa.select(
            m.c.payment_id,
            m.c.rule,
            m.c.confirmed,
            *[m.c[c] for c in ("currency", "captured", "refunded", "available", "status", "amount_minor")],
            m.c.order_number.label("reference"),
            *[pay.c[c] for c in ("meta_order_id", "email_hash", "requested_on")],
        )
        .distinct()
        .select_from(m.join(pay, pay.c.payment_id == m.c.payment_id))
        .where(shared)
    )
    sqlbits.fill(conn, m, again)
    conn.execute(m.delete().where(shared))


def _loose(ctx: Ctx, m: sa.Table) -> sa.Table:
    """The payments of the run R1 did not match, with all their payment columns (few): moved
    out of ``match``, where R1's statement wrote them with no order (:func:`build_matches`,
    which then takes R2's out). R3 (their references' tokens), ``unmatched``, R4 and
    ``orphan_payment`` read the rest without reading the million payments again, and
    ``payment_failed`` reads who has no confirmed match from it."""
    conn = ctx.conn
    t = _pay_like(ctx, "recon_tmp_loose")
    sqlbits.fill(conn, t, sa.select(*[m.c[c.name] for c in t.c]).where(m.c.order_id.is_(None)))
    conn.execute(m.delete().where(m.c.order_id.is_(None)))
    sqlbits.analyze(conn, t)
    ctx.tmp["loose"] = t
    return t


def _pay_like(ctx: Ctx, name: str) -> sa.Table:
    return sqlbits.scratch(ctx.conn, name, *facts.payment_columns(), index=("payment_id", "email_hash"))


def _pairs_table(ctx: Ctx, name: str, m: sa.Table) -> sa.Table:
    """A scratch table with ``match``'s columns (for a few pairs), as ``ctx.tmp[name]``."""
    t = sqlbits.scratch(
        ctx.conn,
        name,
        *[sa.Column(c.name, c.type) for c in m.c],
        index=("order_id", "payment_id", "match_group"),
    )
    ctx.tmp[name.removeprefix("recon_tmp_")] = t
    return t


def _placed(ctx: Ctx, m: sa.Table, cand: sa.Table, rules: tuple[str, ...]) -> Any:
    """The candidate pairs whose order has a confirmed match of ``rules`` in this run: R1's and
    R2's pairs from ``match`` (a join that hashes the few candidates and reads the matches
    once), R3's from the small table of their own. Only from the run's own tables: asked of
    ``stg_payments.reference``'s index instead (one probe per candidate, 0.2-0.3 s less a
    rule), a payment committed by a load while the run works was seen by that question and not
    by R1, and the run dropped an R3 pair of an order R1 never paired (a review's probe)."""
    found: list[Any] = []
    placed_by = tuple(r for r in rules if r in (R1, R2))
    if placed_by:
        by_pairs = (
            sa.select(cand.c.order_id)
            .select_from(cand.join(m, m.c.order_id == cand.c.order_id))
            .where(m.c.confirmed.is_(True), m.c.rule.in_(placed_by))
        )
        found.append(cand.c.order_id.in_(by_pairs))
    if R3 in rules:
        found.append(cand.c.order_id.in_(sa.select(ctx.tmp["r3_pairs"].c.order_id)))
    return sa.or_(*found)


def _pair_exists(m: sa.Table, order_id: Any, payment_id: Any) -> Any:
    return sa.exists().where(m.c.order_id == order_id, m.c.payment_id == payment_id)


def _fill_unless_matched(
    ctx: Ctx, m: sa.Table, pairs: sa.Select[Any], rules: tuple[str, ...], *, join_groups: bool = False
) -> None:
    """Adds the ``pairs`` (``match``'s columns) whose order has no confirmed match of ``rules``:
    not in this run's matches, nor (incremental) with a payment outside the scope, whose match
    this run did not recompute.

    The pairs (few: R3's and R4's) go to a scratch table first; those of an order this run
    matched are found by joining them to ``match`` (:func:`_placed`), deleted, and the rest
    added: the join hashes the few pairs and reads the matches once. Asked of each pair instead,
    as ``order_id NOT IN (matches)``, PostgreSQL hashed the million matches for every rule (0.7 s
    each); as ``NOT EXISTS`` it read them once per pair where it estimated one pair. The stored
    matches of an incremental run stay a ``NOT EXISTS``: their primary key starts with
    ``order_id``, a probe per pair. Two conditions, never ``NOT (A OR B)``, which stays a subplan
    evaluated per row.

    R3's pairs (``join_groups``) are kept in ``r3_pairs`` too: R4 asks which orders R3 placed,
    and the R3 groups' figures read them (facts.build_groups)."""
    conn = ctx.conn
    cand = _pairs_table(ctx, "recon_tmp_r3_pairs" if join_groups else "recon_tmp_candidates", m)
    if ctx.incremental:
        rm = recon_matches
        pairs = pairs.where(
            ~sa.exists().where(
                rm.c.order_id == pairs.selected_columns.order_id,
                rm.c.confirmed.is_(True),
                rm.c.rule.in_(rules),
                ~ctx.in_scope("payments", rm.c.payment_id),
            )
        )
    sqlbits.fill(conn, cand, pairs)
    sqlbits.analyze(conn, cand)
    if conn.execute(cand.delete().where(_placed(ctx, m, cand, rules))).rowcount:
        sqlbits.analyze(conn, cand)
    if join_groups:
        join_shared_groups(conn, cand)
    sqlbits.fill(conn, m, sa.select(*cand.c))


def join_shared_groups(conn: sa.Connection, pairs: sa.Table) -> None:
    """Gives the R3 ``pairs`` (a scratch table with ``match``'s columns; few rows) that are
    connected through shared orders one group: the lowest ``payment:<payment_id>`` among them.

    Only a pair in one currency (the payment's is the order's) connects: a pair across
    currencies is a ``currency_mismatch`` of its own, and joining through it would put the
    order into a group of the other currency, where it adds nothing and is never compared (a
    GBP attempt quoting an EUR invoice must not hide the EUR payment of that invoice). Each
    round lowers every same-currency pair's group to the lowest of its order's same-currency
    pairs, then every pair's to the lowest of its payment's; the groups only go down, so the
    rounds end, after as many as the longest chain of payments sharing orders (one when no
    order is listed by two payments, the usual case)."""
    other = pairs.alias("other")
    lower_groups(
        conn,
        pairs,
        other,
        [
            (("order_id",), other.c.currency == other.c.o_currency, pairs.c.currency == pairs.c.o_currency),
            (("payment_id",), sa.true(), sa.true()),
        ],
    )


def lower_groups(
    conn: sa.Connection, pairs: sa.Table, other: Any, links: Sequence[tuple[Sequence[str], Any, Any]]
) -> None:
    """Gives the rows of ``pairs`` (a small scratch table with a text column ``match_group``)
    that are connected one label: the lowest ``match_group`` among them. ``links`` say what
    connects: for each (key columns, condition on ``other``, condition on ``pairs``), the rows
    meeting the conditions that share the key columns (``other`` is an alias of ``pairs``).

    Each round lowers every row's label to the lowest of the rows it shares a key with, link by
    link; labels only go down, so the rounds end, after as many as the longest chain of links."""
    while True:
        changed = 0
        for cols, theirs, ours in links:
            # UPDATE ... FROM a grouped subquery (hash-joined), not a correlated subquery per row,
            # which PostgreSQL evaluates by scanning the unindexed scratch table for each pair
            keys = [other.c[c] for c in cols]
            lowest = sa.func.min(other.c.match_group).label("g")
            low = (
                sa.select(*[k.label(f"k_{k.name}") for k in keys], lowest)
                .where(theirs)
                .group_by(*keys)
                .subquery("low")
            )
            done = conn.execute(
                pairs.update()
                .where(*[pairs.c[c] == low.c[f"k_{c}"] for c in cols], pairs.c.match_group > low.c.g, ours)
                .values(match_group=low.c.g)
            )
            changed += int(done.rowcount or 0)
        if not changed:
            return


def reference_tokens(ctx: Ctx, loose: sa.Table) -> sa.Select[Any]:
    """(payment_id, token) of the references of the payments R1/R2 did not match (``loose``)."""
    return split_references(
        ctx.conn, loose, loose.c.payment_id, loose.c.reference, loose.c.reference.is_not(None)
    )


#: What separates the invoice numbers a reference lists (R3), the same on both engines: ``,``
#: ``;`` and ASCII white space (space, tab, line feed, vertical tab, form feed, carriage return).
#: PostgreSQL's ``[:space:]`` and SQLite's list of replacements differed (vertical tab, form feed).
SEPARATORS = ",; \t\n\x0b\x0c\r"
#: A reference with one of these is no invoice list on either engine (SQLite cannot make it a
#: JSON array: a quote, a backslash, a control character other than the separators).
NOT_IN_A_LIST = '"|\\\\|[\x01-\x08\x0e-\x1f]'


def split_references(
    conn: sa.Connection, source: Any, payment_id: Any, reference: Any, where: Any
) -> sa.Select[Any]:
    """(payment_id, token) of the references of ``source``'s rows passing ``where``: a reference
    split at ``SEPARATORS``, the way R3 reads an invoice list (and the way the incremental scope
    finds the payments listing an order's invoices, so both agree)."""
    if conn.dialect.name == "postgresql":
        # a bracket expression of the characters themselves (none is special inside one); a
        # reference holding a quote, a backslash or another control character is no invoice list,
        # as on SQLite, where it cannot become the JSON array below
        token = sa.func.regexp_split_to_table(reference, f"[{SEPARATORS}]+").label("token")
        clean = reference.op("!~", is_comparison=True)(sa.literal(NOT_IN_A_LIST, sa.Text))
        pairs = sa.select(payment_id.label("payment_id"), token).select_from(source)
        inner = pairs.where(where, clean).subquery()
        return sa.select(inner.c.payment_id, inner.c.token).where(inner.c.token != "")
    # SQLite: the reference becomes a JSON array by replacing each separator with '","'
    # (references holding a quote or backslash cannot be invoice lists and are left out).
    ref: Any = reference
    for sep in SEPARATORS:
        ref = sa.func.replace(ref, sep, '","')
    doc = sa.literal('["') + ref + sa.literal('"]')
    elems = sqlbits.json_text_elements(conn, doc)
    clean = sa.and_(
        sa.func.replace(sa.func.replace(reference, '"', ""), "\\", "") == reference,
        sa.func.json_valid(doc) == 1,
    )
    return (
        sa.select(payment_id.label("payment_id"), elems.c.value.label("token"))
        .select_from(source.join(elems, sa.true()))
        .where(where, clean, elems.c.value != "")
    )


def whole_references(
    conn: sa.Connection, source: Any, payment_id: Any, reference: Any, where: Any
) -> sa.Select[Any]:
    """(payment_id, token) of the references of ``source``'s rows passing ``where``, each whole,
    trimmed of ``SEPARATORS``: a reference that *is* one invoice number holding a separator (a
    space: ``INV 2024 001``) is never one of its tokens (:func:`split_references`)."""
    trim = sa.func.btrim if conn.dialect.name == "postgresql" else sa.func.trim
    whole = trim(reference, SEPARATORS)
    return (
        sa.select(payment_id.label("payment_id"), whole.label("token"))
        .select_from(source)
        .where(where, whole != "")
    )


def _invoice_matches(ctx: Ctx, m: sa.Table, loose: sa.Table) -> None:
    # The tokens go to an analysed scratch table first: a set-returning function's row estimate
    # (100 per payment) makes PostgreSQL scan every invoice instead of looking the few up.
    tok = sqlbits.scratch(
        ctx.conn, "recon_tmp_tokens", sa.Column("payment_id", sa.Text()), sa.Column("token", sa.Text())
    )
    sqlbits.fill(ctx.conn, tok, reference_tokens(ctx, loose))
    has_ref = loose.c.reference.is_not(None)
    sqlbits.fill(
        ctx.conn, tok, whole_references(ctx.conn, loose, loose.c.payment_id, loose.c.reference, has_ref)
    )
    sqlbits.analyze(ctx.conn, tok)
    ctx.wait_for("order_invoices")  # a full run refreshes it beside (reconcile/inputs.py)
    oi, o = recon_order_invoices, stg_orders
    sel = (
        sa.select(
            o.c.order_id,
            tok.c.payment_id,
            sa.literal(R3).label("rule"),
            sa.literal(True).label("confirmed"),
            (sa.literal("payment:") + tok.c.payment_id).label("match_group"),
            *_figures(ctx, o, loose),
        )
        .distinct()
        .select_from(
            tok.join(oi, oi.c.invoice_number == tok.c.token)
            .join(o, o.c.order_id == oi.c.order_id)
            .join(loose, loose.c.payment_id == tok.c.payment_id)
        )
    )
    _fill_unless_matched(ctx, m, sel, (R1, R2), join_groups=True)


def _unmatched(ctx: Ctx, m: sa.Table, loose: sa.Table) -> sa.Table:
    """The payments of the run without a confirmed match (R1-R3), with money captured and all
    their payment columns: what R4 may suggest an order for and what ``orphan_payment`` reports.
    The ``loose`` payments R3 did not match either (R3's pairs are few: a hashed ``NOT IN``)."""
    conn = ctx.conn
    t = _pay_like(ctx, "recon_tmp_unmatched")
    by_invoice = sa.select(m.c.payment_id).where(m.c.rule == R3)
    sel = sa.select(*loose.c).where(loose.c.captured > 0, ~loose.c.payment_id.in_(by_invoice))
    sqlbits.fill(conn, t, sel)
    sqlbits.analyze(conn, t)
    ctx.tmp["unmatched"] = t
    return t


def _suggestions(ctx: Ctx, m: sa.Table) -> None:
    """R4 over ``unmatched``: a suggestion is for money that arrived and found no order."""
    pay, o = ctx.tmp["unmatched"], stg_orders
    window = ctx.settings.suggestion_window.total_seconds()
    distance = sqlbits.seconds_between(ctx.conn, pay.c.requested_on, o.c.confirmed_at)
    sel = (
        sa.select(
            o.c.order_id,
            pay.c.payment_id,
            sa.literal(R4).label("rule"),
            sa.literal(False).label("confirmed"),
            (sa.literal("order:") + o.c.order_id).label("match_group"),
            *_figures(ctx, o, pay),
        )
        .select_from(
            pay.join(
                o,
                sa.and_(
                    o.c.customer_email_hash == pay.c.email_hash,
                    o.c.currency == pay.c.currency,
                    o.c.amount_minor == pay.c.amount_minor,
                ),
            )
        )
        .where(
            pay.c.email_hash.is_not(None),
            o.c.status.in_(ctx.confirmed_statuses),
            o.c.confirmed_at.is_not(None),
            distance.between(-window, window),
        )
    )
    _fill_unless_matched(ctx, m, sel, RULES[:3])


def store_matches(ctx: Ctx) -> None:
    """Brings ``recon_matches`` in line with this run's matches.

    Rows that differ are deleted; the pairs then missing are inserted: all of ``match`` when no
    row of the run's payments is left (a first run), none when as many rows are left as
    ``match`` has (a rerun on unchanged data: no anti-join at all), else the few new pairs,
    picked into a scratch table first (an ``INSERT`` anti-joined against its own target can be
    planned as a nested loop over the table it grows: quadratic on an analysed empty table)."""
    m, rm, conn = ctx.tmp["match"], recon_matches, ctx.conn
    same = sa.exists().where(
        m.c.order_id == rm.c.order_id,
        m.c.payment_id == rm.c.payment_id,
        m.c.rule == rm.c.rule,
        m.c.confirmed == rm.c.confirmed,
        m.c.match_group == rm.c.match_group,
        m.c.currency.is_not_distinct_from(rm.c.currency),
        m.c.order_number.is_not_distinct_from(rm.c.order_number),
    )
    in_scope = ctx.in_scope("payments", rm.c.payment_id)
    first = not ctx.incremental and sqlbits.is_empty(conn, rm)  # nothing stored: nothing to read
    written = int(conn.execute(rm.delete().where(in_scope, ~same)).rowcount or 0)
    left = sqlbits.rows_left(conn, rm, in_scope, m)
    if left is not None:
        src: sa.Table = m
        if left:
            src = sqlbits.scratch(conn, "recon_tmp_new_match", *[sa.Column(c.name, c.type) for c in m.c])
            sqlbits.fill(conn, src, sa.select(*m.c).where(~_pair_exists(rm, m.c.order_id, m.c.payment_id)))
        new = sa.select(
            src.c.order_id,
            src.c.payment_id,
            src.c.rule,
            src.c.confirmed,
            src.c.match_group,
            src.c.order_number,
            src.c.currency,
            sa.literal(ctx.as_of, rm.c.first_matched_at.type).label("first_matched_at"),
            sa.literal(ctx.as_of, rm.c.updated_at.type).label("updated_at"),
            sa.literal(ctx.run_id).label("run_id"),
        )
        # Into an empty table (a first run) the million matches go into the bare table and its
        # indexes are built afterwards, one sort each (sqlbits.indexes_rebuilt).
        with sqlbits.indexes_rebuilt(conn, rm, when=first and sqlbits.expects_bulk(conn, new)):
            written += sqlbits.fill(conn, rm, new)
    sqlbits.analyze_if_churned(conn, rm, written)
