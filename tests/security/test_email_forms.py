"""E-mail addresses as a hostile payload or an odd encoder writes them, masked by each masker.

``logsafe.EMAIL`` is the one definition; ``privacy.mask_emails`` (API text, webhook bodies),
``observability.masking.Masker`` (log lines) and ``logsafe.mask_text`` (exports, notes, command
output) each missed these forms once, with three patterns that had drifted apart. What each
masker writes is its own (``j***@domain`` or ``***@***``); what counts as an address is shared.
"""

from __future__ import annotations

import json

import pytest

from checkout_freshportal.freshportal import privacy
from checkout_freshportal.freshportal.privacy import mask_emails, mask_emails_in_bytes
from checkout_freshportal.logsafe import mask_text
from checkout_freshportal.observability.masking import Masker

FORMS = [
    # (text, what must not remain, privacy.mask_emails / Masker form)
    ("jöns.berg@exämple.se", "jöns", "j***@exämple.se"),
    ("jan@sub_domain.example.nl", "jan@", "j***@sub_domain.example.nl"),
    ('"jan devries"@example.nl', "devries", "j***@example.nl"),
    ('"john.doe"@example.com', "john", "j***@example.com"),
    ("jan@[192.168.1.1]", "jan@", "j***@[192.168.1.1]"),
    ("jan@localhost", "jan@", "j***@localhost"),
    ("jan.devries%40example.nl", "devries", "j***%40example.nl"),
    ("john%40example.com", "john", "j***%40example.com"),
    ("john\u200b@example.com", "john", "j***@example.com"),
    ("john&#64;example.com", "john", "j***&#64;example.com"),
    ("john\uff20example.com", "john", "j***\uff20example.com"),
    (
        "https://shop.example/return?email=jan.devries%40example.nl&step=2",
        "devries",
        "https://shop.example/return?email=j***%40example.nl&step=2",
    ),
    (  # encoded once more inside another URL: the address goes, the URL around it stays
        "https%3A%2F%2Fshop.example%2Fr%3Femail%3Djan%2Bshop%40example.nl",
        "jan%2Bshop",
        "https%3A%2F%2Fshop.example%2Fr%3Femail%3Dj***%40example.nl",
    ),
]

#: Not addresses: each must come out of every masker as it went in, beside an address.
ORDINARY = " | ".join(
    [
        "pay_abc",
        "FP-1002",
        "pay_4111111111111111",  # an id keeps its digits: this mask is for e-mail addresses only
        "2026-12-07T12:00:00Z",
        "user@",
        "a@b",
        "https://example.com/orders?id=12&page=2",
        "discount 100%, 20%40 items",
        "customer j***@example.com",  # masked already
        "ops@localhostname",
        "v***%40example.nl",
    ]
)


@pytest.mark.parametrize(("text", "secret", "masked"), FORMS)
def test_each_form_is_masked_by_each_masker(text: str, secret: str, masked: str) -> None:
    line = f"{ORDINARY} | from {text}."
    assert mask_emails(line) == f"{ORDINARY} | from {masked}."
    assert Masker().text(line) == f"{ORDINARY} | from {masked}."
    assert mask_text(line).startswith(ORDINARY.replace("4111111111111111", "************1111"))
    assert secret not in mask_text(line)
    assert "***@***" in mask_text(line)


@pytest.mark.parametrize(("text", "secret", "masked"), FORMS)
def test_each_form_is_masked_in_a_stored_body(text: str, secret: str, masked: str) -> None:
    body = json.dumps({"id": "evt_1", "data": {"metadata": {"note": f"from {text}", "other": ORDINARY}}})
    out = mask_emails_in_bytes(body.encode())
    assert json.loads(out)["data"]["metadata"] == {"note": f"from {masked}", "other": ORDINARY}
    assert out.startswith(body.encode()[: body.index("from")])  # bytes before it as they were
    form = f"email={text}&x=1".encode()  # not JSON: masked as text
    assert mask_emails_in_bytes(form) == f"email={masked}&x=1".encode()


def test_only_the_strings_that_may_hold_an_address_are_read_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 1 MiB body of short strings was masked one Python step per string (a quarter of a second
    on the sidecar's event loop); strings without an ``@`` in any form are now skipped in bulk."""
    seen: list[bytes] = []
    real = privacy._mask_json_string

    def counted(literal: bytes) -> bytes:
        seen.append(literal)
        return real(literal)

    monkeypatch.setattr(privacy, "_mask_json_string", counted)
    items = [{"id": f"pay_{i}", "ref": f"FP-{i}", "s": "a%20b & c"} for i in range(2000)]
    items[1000]["email"] = "ann@shop.example"
    out = mask_emails_in_bytes(json.dumps(items).encode())
    assert seen == [b'"ann@shop.example"']
    assert json.loads(out)[1000]["email"] == "a***@shop.example"


@pytest.mark.parametrize(
    "text",
    [
        *("%3D" * 300_000, "a%3D" * 200_000, '"' * 500_000, "a." * 400_000 + "@", "x%40" * 200_000),
        # punctuation the first character and the rest of a local part could trade (quadratic)
        *("x@" + "-" * 400_000, "." * 400_000 + "a@", "x%40" + "~" * 400_000),
    ],
)
def test_long_runs_of_escapes_and_quotes_are_read_in_linear_work(text: str) -> None:
    """Each new start (after a delimiter escape, at a quote) reads a bounded stretch; the suite's
    per-test timeout catches a quadratic search."""
    assert mask_emails(text + " ann%40shop.example").endswith(" a***%40shop.example")
    assert mask_text(text + " ann%40shop.example").endswith(" ***@***")
