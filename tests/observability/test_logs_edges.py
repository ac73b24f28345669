"""Edges of the log filters and formatter: a bad log call never raises into the code that logged,
a JSON line stays one line for every line-splitter and encodable as UTF-8, an id passed as
``extra`` is kept, e-mail and key rules neither leak nor destroy what an operator needs, and a
long run of digit groups costs linear work."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from checkout_freshportal.observability import bind, install_filters
from checkout_freshportal.observability.logs import make_handler
from checkout_freshportal.observability.masking import Masker


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.BytesIO]]:
    """A handler writing UTF-8 strictly, as a real stream does (an unencodable line is lost)."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    handler = make_handler("json", stream=stream, masker=Masker())
    logger = logging.getLogger("cfp.test.edges")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, raw
    finally:
        logger.removeHandler(handler)


def _lines(raw: io.BytesIO) -> list[dict]:
    return [json.loads(line) for line in raw.getvalue().decode("utf-8").split("\n") if line]


def test_line_separators_c1_controls_bidi_and_lone_surrogates_stay_escaped(capture) -> None:
    logger, raw = capture
    hostile = "evt_1\u2028forged\u2029x\x85y\x9b31mz\u202egnp.exe\ud800end"
    # pytest attaches its capture handlers to this logger too: the lone surrogate in its report
    # section cannot cross pytest-xdist's UTF-8 channel and takes the worker down, so they are
    # detached while the hostile line is logged
    pytest_handlers = [h for h in logger.handlers if type(h).__module__.startswith("_pytest")]
    for h in pytest_handlers:
        logger.removeHandler(h)
    try:
        logger.error("id %s", hostile, extra={"note": hostile})
    finally:
        for h in pytest_handlers:
            logger.addHandler(h)
    text = raw.getvalue().decode("utf-8")
    assert len(text.splitlines()) == 1  # str.splitlines also splits on U+2028, U+2029, U+0085
    for ch in ("\u2028", "\u2029", "\x85", "\x9b", "\u202e"):
        assert ch not in text
    (line,) = _lines(raw)
    assert line["message"] == f"id {hostile}"  # escaped in the line, the same text once parsed
    assert line["note"] == hostile


def test_a_broken_format_with_inline_ids_does_not_raise_into_the_caller() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    install_filters([handler], inline=True)
    logger = logging.getLogger("cfp.test.edges.inline")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with bind(order_number="FP-1"):
            logger.warning("50%% done for %s and %s", "only-one")  # a bug in a log call
    finally:
        logger.removeHandler(handler)
    assert "order_number=FP-1" in stream.getvalue()


def test_an_extra_whose_str_raises_does_not_raise_into_the_caller(capture) -> None:
    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("no")

    logger, raw = capture
    logger.info("with a bad extra", extra={"thing": Hostile()})
    (line,) = _lines(raw)
    assert line["message"].startswith("with a bad extra")


def test_an_id_passed_as_extra_is_kept_and_a_bound_one_wins(capture) -> None:
    logger, raw = capture
    logger.info("one", extra={"payment_id": "pay_extra"})
    with bind(payment_id="pay_bound"):
        logger.info("two", extra={"payment_id": "pay_extra"})
    one, two = _lines(raw)
    assert one["payment_id"] == "pay_extra"
    assert two["payment_id"] == "pay_bound"


@pytest.mark.parametrize(
    ("text", "leak", "kept"),
    [
        ("from _jan.devries@example.com", "jan.", "***@example.com"),
        ("from jöns.berg@example.se", "jöns", "j***@example.se"),
        ("from jan+shop@mail.example.co.uk", "jan+shop", "j***@mail.example.co.uk"),
    ],
)
def test_email_addresses_are_masked_whatever_their_local_part(capture, text, leak, kept) -> None:
    logger, raw = capture
    logger.info(text)
    (line,) = _lines(raw)
    assert leak not in line["message"]
    assert kept in line["message"]


@pytest.mark.parametrize(
    "text",
    [
        'duplicate key value violates unique constraint "pk_sync_money_intents"',
        'duplicate key value violates unique constraint "pk_recon_runs"',
        "pay_mbabizu24mvu3mela5njyhpit4 act_6ke4wgbx5zaqnpkk7vvzzwyyqu evt_az5sblvku4ge3dwpztvyizgcau",
    ],
)
def test_names_that_only_look_like_keys_stay(capture, text: str) -> None:
    logger, raw = capture
    logger.info(text)
    (line,) = _lines(raw)
    assert line["message"] == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("sk_sbox_m73dzbpy7cf3gfd46xr4yj5xo4e", "pbpy7cf3gfd46xr4yj5xo4e"),
        ("pk_sbox_m73dzbpy7cf3gfd46xr4yj5xo4e", "pbpy7cf3gfd46xr4yj5xo4e"),
        ("sk_test_0b9b5db6-8223-4efb-8e2d-0c8a2b5c0d8a", "8223-4efb-8e2d"),
        ("Authorization: sk_m73dzbpy7cf3gfd46xr4yj5xo4e", "gfd46xr4yj5xo4e"),
    ],
)
def test_checkout_keys_of_each_format_are_masked(capture, text: str, secret: str) -> None:
    logger, raw = capture
    logger.info("used %s", text)
    (line,) = _lines(raw)
    assert secret not in line["message"]


def test_a_long_run_of_digit_groups_is_masked_in_linear_work() -> None:
    """Every span of groups was tried and joined (cubic: 800 groups took 15 s); spans longer
    than 19 digits can never be a card and are not built."""
    run = " ".join(["1"] * 20_000) + " 4242 4242 4242 4242 " + " ".join(["7"] * 20_000)
    out = Masker().text(run)
    assert "************4242" in out
    assert "4242 4242" not in out
    assert out.startswith("1 1 1 ")
    assert out.endswith(" 7 7 7")


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "POST /connect/token client_id=ack_1&client_secret=Zk8pQ2vX9rLm&grant_type=client_credentials",
            "Zk8pQ2vX9rLm",
            "grant_type=client_credentials",
        ),
        ("GET https://api.example/v1/orders?api_key=abcDEF123456&page=2", "abcDEF123456", "page=2"),
        ('{"password": "hunter2hunter2", "login": "cfp"}', "hunter2hunter2", '"login": "cfp"'),
        ("refresh_token=rt.8c1f0b9a2d token_count=5", "rt.8c1f0b9a2d", "token_count=5"),
    ],
)
def test_secrets_named_in_a_query_string_or_a_document_are_masked(capture, text, secret, kept) -> None:
    """A connection's password or an OAuth client secret is not among the CFP_* values inside
    Airflow (it comes from a connection): its name next to it is what gives it away."""
    logger, raw = capture
    logger.info(text)
    (line,) = _lines(raw)
    assert secret not in line["message"]
    assert kept in line["message"]


def test_fields_named_as_secrets_are_masked_whole(capture) -> None:
    logger, raw = capture
    logger.info(
        "connection",
        extra={"password": "short", "conn": {"login": "cfp", "client_secret": "s", "port": 5432}},
    )
    (line,) = _lines(raw)
    assert line["password"] == "***"
    assert line["conn"] == {"login": "cfp", "client_secret": "***", "port": 5432}


@pytest.mark.parametrize(
    "text",
    [
        "sidecar on http://127.0.0.1:8080 (workers=1, keys=2, authorization=on, trigger=off)",
        "actions by type {'Authorization': 3, 'Capture': 1}",
    ],
)
def test_the_word_authorization_alone_does_not_mask_a_flag_or_a_count(capture, text: str) -> None:
    """Checkout.com's action type is "Authorization"; a header value is never 1-5 characters."""
    logger, raw = capture
    logger.info(text)
    (line,) = _lines(raw)
    assert line["message"] == text


def test_a_long_hyphenated_run_next_to_a_secret_name_is_linear() -> None:
    """Each hyphen is a word start: a name pattern that began at every one rescanned the run
    (8,000 pairs took 13 s)."""
    text = "key= " + "a-" * 200_000 + " client_secret=Zk8pQ2vX9rLm"
    out = Masker().text(text)
    assert out.endswith(" client_secret=***")
