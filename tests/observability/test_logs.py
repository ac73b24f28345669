"""JSON log lines: parseable, one per record, with correlation ids that end with their block, and
every secret, card number and e-mail masked wherever it hides in the record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from checkout_freshportal.observability import bind, configure_logging, current, install_filters
from checkout_freshportal.observability.context import set_ids
from checkout_freshportal.observability.logs import make_handler
from checkout_freshportal.observability.masking import Masker, luhn_ok, secrets_from_env

SIGNING_KEY = "whsec-0123456789abcdef"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = make_handler("json", stream=stream, masker=Masker([SIGNING_KEY]))
    logger = logging.getLogger("cfp.test.observability")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_fixed_fields(capture) -> None:
    logger, stream = capture
    logger.info("applied %d events", 3)
    (line,) = _lines(stream)
    assert line["message"] == "applied 3 events"
    assert line["level"] == "info"
    assert line["logger"] == "cfp.test.observability"
    assert line["ts"].endswith("+00:00")


def test_correlation_fields_appear_inside_the_block_and_are_reset_after_it(capture) -> None:
    logger, stream = capture
    with bind(run_id="recon-1"):
        with bind(order_number="FP-400001", payment_id="pay_abc"):
            logger.info("inner")
        logger.info("outer")
    logger.info("after")
    inner, outer, after = _lines(stream)
    assert inner["order_number"] == "FP-400001"
    assert inner["payment_id"] == "pay_abc"
    assert inner["run_id"] == "recon-1"
    assert "order_number" not in outer
    assert outer["run_id"] == "recon-1"
    assert "run_id" not in after
    assert current() == {}


def test_ids_are_reset_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), bind(event_id="evt_1"):
        raise RuntimeError("boom")
    assert current() == {}


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="order_id"), bind(order_id="x"):
        pass


def test_set_ids_replaces_everything_bound_before() -> None:
    with bind(order_number="FP-1"):
        set_ids(dag_id="d", task_id="t", run_id="r")
        assert dict(current()) == {"dag_id": "d", "task_id": "t", "run_id": "r"}
    assert current() == {}


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("key sk_sbox_abcdefghijklmnop used", "efghijklmnop", "sk_sbox_abcd***"),
        ("public pk_test_zyxwvutsrq12", "vutsrq12", "pk_test_zyxw***"),
        ("sk_live1234567890abcdef", "567890abcdef", "sk_live***"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi", "Authorization: ***"),
        ("sent bearer abc123token", "abc123token", "bearer ***"),
        ('{"authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz", '"authorization": "***"'),
        ("signed with whsec-0123456789abcdef", "whsec-0123456789abcdef", "signed with ***"),
        ("postgresql://cfp:hunter22@db/warehouse", "hunter22", "postgresql://cfp:***@db"),
        ("card 4242424242424242 declined", "4242424242424242", "************4242"),
        ("card 4111 1111 1111 1111", "4111 1111", "card ************1111"),
        ("card 5555-5555-5555-4444 ok", "5555-5555", "************4444"),
        ("amex 378282246310005", "378282246310005", "***********0005"),
        ("customer john.doe@example.com wrote", "john.doe", "j***@example.com"),
    ],
)
def test_each_class_is_masked(capture, text: str, secret: str, kept: str) -> None:
    logger, stream = capture
    logger.warning("%s", text)
    (line,) = _lines(stream)
    assert secret not in line["message"]
    assert kept in line["message"]


@pytest.mark.parametrize(
    "text",
    [
        "order FP-400001 for 12345 minor units",
        "amount 1000000000000 EUR",  # 13 digits, Luhn fails
        "payment pay_4242424242424242abc",  # inside an id: not a separate number
        "ts 1733500000000",  # 13 digits passing Luhn, but no card scheme starts with 1
        "invoice 2026-12-06 12:00",
        "order 4242424242424241",  # 16 digits, Luhn fails
    ],
)
def test_numbers_that_are_not_cards_stay(capture, text: str) -> None:
    logger, stream = capture
    logger.info(text)
    (line,) = _lines(stream)
    assert line["message"] == text


def test_luhn() -> None:
    assert luhn_ok("4242424242424242")
    assert not luhn_ok("4242424242424241")


def test_a_card_next_to_an_amount_is_found_inside_the_run(capture) -> None:
    logger, stream = capture
    logger.info("4242 4242 4242 4242 100")
    assert _lines(stream)[0]["message"] == "************4242 100"


def test_args_extra_fields_and_tracebacks_are_masked(capture) -> None:
    logger, stream = capture
    try:
        raise ValueError("refused card 4242424242424242 for a@b.example")
    except ValueError:
        logger.exception(
            "payload from %s", "x@example.org", extra={"payload": {"email": "jane@example.com", "n": 5}}
        )
    (line,) = _lines(stream)
    assert line["message"] == "payload from x***@example.org"
    assert line["payload"] == {"email": "j***@example.com", "n": 5}
    assert "4242424242424242" not in line["exc"]
    assert "************4242" in line["exc"]
    assert "ValueError" in line["exc"]


def test_hostile_text_stays_on_one_line(capture) -> None:
    logger, stream = capture
    logger.error("id %s", 'evt_1\n{"level": "info", "message": "forged"}\x1b[2J\r')
    raw = stream.getvalue()
    assert raw.count("\n") == 1
    assert "\x1b" not in raw
    assert "\r" not in raw
    (line,) = _lines(stream)
    assert "\n" in line["message"]  # kept, but escaped in the line


def test_text_format_escapes_control_characters() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("cfp.test.text")
    handler = make_handler("text", stream=stream, masker=Masker())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with bind(event_id="evt_9"):
            logger.warning("bad\nline\x1b[31m j@x.example")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert out.count("\n") == 1
    assert "\\x0a" in out
    assert "\\x1b" in out
    assert "j***@x.example" in out
    assert "[event_id=evt_9]" in out


def test_configure_logging_reads_the_format_and_replaces_the_root_handlers() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        # pytest's own handlers are on the root: left alone unless forced, like basicConfig
        assert configure_logging(stream=stream, env={"CFP_LOG_FORMAT": "text"}) is None
        configure_logging(
            stream=stream, env={"CFP_LOG_FORMAT": "text", "CFP_LOG_LEVEL": "warning"}, force=True
        )
        configure_logging(
            stream=stream,
            env={"CFP_LOG_FORMAT": "json", "CFP_SIDECAR_SIGNATURE_KEYS": "k-aaaaaaaa,k-bbbbbbbb"},
        )
        assert len(root.handlers) == 1
        logging.getLogger("cfp.test.configured").info("key k-bbbbbbbb rotated")
        (line,) = _lines(stream)
        assert line["message"] == "key *** rotated"
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved:
            root.addHandler(h)
        root.setLevel(level)


def test_an_unknown_log_setting_is_refused() -> None:
    from checkout_freshportal.settings_base import SettingsError

    with pytest.raises(SettingsError, match="CFP_LOG_FORMAT"):
        configure_logging(env={"CFP_LOG_FORMAT": "xml"})


def test_secret_values_come_from_secret_named_variables_only() -> None:
    found = secrets_from_env(
        {
            "CFP_CHECKOUT_SECRET_KEY": "sk_sbox_zzzzzzzz",
            "CFP_SIDECAR_SIGNATURE_KEYS": "one-key-1,two-key-2",
            "CFP_AIRFLOW_PASSWORD": "pw-123456",
            "CFP_HEALTH_BACKLOG_COUNT": "1000",
            "HOME": "/root",
        }
    )
    assert set(found) >= {"sk_sbox_zzzzzzzz", "one-key-1", "two-key-2", "pw-123456"}
    assert "1000" not in found


def test_inline_ids_for_airflow_task_logs_leave_out_what_the_task_log_states() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    assert install_filters([handler], inline=True) == 1
    assert install_filters([handler], inline=True) == 0  # idempotent
    logger = logging.getLogger("cfp.test.inline")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        set_ids(dag_id="d", task_id="t", run_id="r")
        with bind(order_number="FP-400001", payment_id="pay_1"):
            logger.warning("refund for %s", "jane@example.com")
        logger.warning("plain")
    finally:
        set_ids()
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "refund for j***@example.com [order_number=FP-400001 payment_id=pay_1]",
        "plain",
    ]
