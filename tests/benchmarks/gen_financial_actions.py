"""A deterministic generator of large FinancialActions report CSVs, as Checkout.com writes them.

The real 35-column header plus ``Fee Detail`` (docs/checkout-com.md), CRLF line ends, timestamps
without an offset, amounts in major units with trailing zeros dropped (``110``, ``-1.6``).
Realistic mix: captures with gross + interchange + two scheme-fee lines of one breakdown type
(told apart by Fee Detail; one action in 50 also repeats a line identically) + gateway fee,
refunds, chargebacks, authentication fees on ``vau_`` ids, and entity-level lines without a
payment (minimum billing fee); eight holding currencies across exponents 0, 2 and 3. Streams to
a file (never builds the CSV in memory).

Action ``a`` always produces the same lines, so a second file starting at a later action overlaps
the first exactly on the shared actions (optionally with a payout id filled, as a by-payout file
would) - that is how the merge-with-updates benchmark is built.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HEADER = (
    "Client Entity ID,Client Entity Name,Sub Entity ID,Sub Entity Name,Processing Channel ID,"
    "Merchant Category Code,Currency Account ID,Currency Account Name,Currency Account Custom ID,"
    "Action Type,Action ID,Payment ID,Requested On,Processed On,Processing Currency,FX Rate Applied,"
    "Holding Currency,FX Trade ID,Payout ID,Reference,Payment Method,Card Type,Card Category,"
    "Issuer Country,Entity Country,Region,MID,Response Code,Response Description,Breakdown Type,"
    "Processing Currency Amount,Holding Currency Amount,Entity Country Tax Currency,Tax Fx Rate,"
    "Tax Currency Amount,Fee Detail"
)

# (code, exponent, weight)
CURRENCIES = (
    ("EUR", 2, 40),
    ("USD", 2, 20),
    ("GBP", 2, 15),
    ("JPY", 0, 6),
    ("SEK", 2, 6),
    ("CHF", 2, 6),
    ("KWD", 3, 4),
    ("BHD", 3, 3),
)
_CUR_CHOICES = [c for c in CURRENCIES for _ in range(c[2])]
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_METHODS = (
    ("VISA", "CREDIT"),
    ("VISA", "DEBIT"),
    ("MASTERCARD", "CREDIT"),
    ("MASTERCARD", "DEBIT"),
    ("AMEX", "CREDIT"),
)
_REGIONS = ("Domestic", "Intra", "IntraEEA", "International")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _ident(prefix: str, n: int, salt: int) -> str:
    x = (n * 2654435761 + salt * 40503) & ((1 << 130) - 1) | (1 << 129)
    chars = []
    for _ in range(26):
        chars.append(_B32[x & 31])
        x >>= 5
    return prefix + "".join(chars)


def _trim(text: str) -> str:
    """Trailing zeros dropped, as Checkout.com writes amounts (``110``, ``-1.6``)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _major(minor: int, exp: int) -> str:
    sign = "-" if minor < 0 else ""
    m = abs(minor)
    if exp == 0:
        return f"{sign}{m}"
    return _trim(f"{sign}{m // 10**exp}.{m % 10**exp:0{exp}d}")


def _fee(e8: int) -> str:
    sign = "-" if e8 < 0 else ""
    e8 = abs(e8)
    return _trim(f"{sign}{e8 // 100_000_000}.{e8 % 100_000_000:08d}")


def _ts(dt: datetime, tick: int) -> str:
    del tick
    return dt.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Spec:
    seed: int = 42
    payout_id: str = ""  # filled into every line (a by-payout file) when set


def action_lines(a: int, spec: Spec) -> list[str]:
    """The CSV lines of action number ``a`` (deterministic)."""
    rng = random.Random(spec.seed * 1_000_003 + a)
    code, exp, _ = rng.choice(_CUR_CHOICES)
    method, card_type = rng.choice(_METHODS)
    region = rng.choice(_REGIONS)
    r = rng.random()
    kind = (
        "Capture"
        if r < 0.70
        else "Refund"
        if r < 0.88
        else "Chargeback"
        if r < 0.93
        else "Authentication"
        if r < 0.98
        else "Minimum Billing Fee"
    )
    pay = _ident("pay_", a // 2 if kind == "Refund" else a, 7)
    act = _ident("act_", a, 11)
    if kind == "Authentication":
        pay, act = _ident("vau_", a, 7), _ident("act_", a, 11)
    elif kind == "Minimum Billing Fee":
        pay, act = "", _ident("mbf_", a, 11)
    requested = EPOCH + timedelta(seconds=a * 3)
    processed = requested + timedelta(seconds=rng.randrange(1, 7200))
    gross_minor = rng.randrange(100, 500_000) * (10 if exp == 3 else 1)
    if exp == 0:
        gross_minor = rng.randrange(100, 100_000)
    card = f"{method},{card_type},Consumer,NL,GB,{region}" if pay.startswith("pay_") else ",,,,GB,"
    prefix = (
        "ent_client00000000000000000000,Client Ltd,ent_sub0000000000000000000000000,Shop,"
        f"pc_channel000000000000000000,5411,ca_{'acct' + code.lower():0<26},{code} account,,"
        f"{kind},{act},{pay},{_ts(requested, a)},{_ts(processed, a)},{code},1,{code},,{spec.payout_id},"
        f"ORD-{a:09d},{card},mid_000123,10000,Approved,"
    )
    lines = []

    def add(breakdown: str, detail: str, amount: str) -> None:
        lines.append(prefix + f"{breakdown},{amount},{amount},,,,{detail}")

    if kind == "Capture":
        add("Gross", "", _major(gross_minor, exp))
        add("Interchange Fee", "Interchange", _fee(-rng.randrange(1, 2_000_000_000)))
        add("Scheme Fee", "Visa Fixed Acquirer Network Fee", _fee(-rng.randrange(1, 50_000_000)))
        add("Scheme Fee", "Scheme Variable", _fee(-rng.randrange(1, 900_000_000)))
        add("Gateway Fee", "Gateway", _fee(-rng.randrange(1, 30_000_000)))
        if a % 50 == 0:
            lines.append(lines[-1])  # an identical line (Checkout.com: tell them apart by row)
    elif kind == "Refund":
        add("Gross", "", _major(-gross_minor, exp))
        add("Gateway Fee", "Gateway", _fee(-rng.randrange(1, 30_000_000)))
    elif kind == "Chargeback":
        add("Gross", "", _major(-gross_minor, exp))
        add("Chargeback Fee", "Chargeback", _fee(-rng.randrange(500_000_000, 2_500_000_000)))
    elif kind == "Authentication":
        add("Authentication Fee", "3DS", _fee(-rng.randrange(1, 10_000_000)))
    else:
        add("Minimum Billing Fee", "", _fee(-rng.randrange(1, 10_000_000_000)))
    return lines


def iter_lines(start_action: int, n_lines: int, spec: Spec) -> Iterator[str]:
    """``n_lines`` data lines from action ``start_action`` on (the last action may be cut)."""
    a, n = start_action, 0
    while n < n_lines:
        for line in action_lines(a, spec):
            if n >= n_lines:
                return
            yield line
            n += 1
        a += 1


def action_at_line(line_index: int, spec: Spec) -> int:
    """The action whose lines start at or after data line ``line_index`` of a file from action 0."""
    a = n = 0
    while n < line_index:
        n += len(action_lines(a, spec))
        a += 1
    return a


def write_csv(path: Path, start_action: int, n_lines: int, spec: Spec) -> int:
    """Stream ``n_lines`` lines to ``path``; returns its size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER + "\r\n")
        buf: list[str] = []
        for line in iter_lines(start_action, n_lines, spec):
            buf.append(line)
            if len(buf) >= 10_000:
                fh.write("\r\n".join(buf) + "\r\n")
                buf.clear()
        if buf:
            fh.write("\r\n".join(buf) + "\r\n")
    return path.stat().st_size
