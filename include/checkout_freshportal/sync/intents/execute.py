"""One money movement from its claimed row to Checkout.com's 202, crash point by crash point.

The order of commits is the safety argument (docs/refunds.md "Exactly once"): ``sending`` is
committed before the POST, the action id the moment the 202 arrives. A crash in between leaves
the intent ``sending``; :func:`recover` then looks for the action by the reference we sent and
only sends again -- under the same idempotency key -- when it is not there.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.logsafe import safe, safe_masked
from checkout_freshportal.sync.intents import outcomes, store
from checkout_freshportal.sync.intents.disposition import ITEM_REFUSALS, Disposition, classify
from checkout_freshportal.sync.intents.errors import OutboundDeferred, OutboundRefused
from checkout_freshportal.sync.intents.store import MoneyIntent

log = logging.getLogger(__name__)

#: Named points where tests inject a crash (``checkpoint(point, intent_id)``).
CHECKPOINTS = ("before_post", "after_post", "after_record", "before_writeback")
Checkpoint = Callable[[str, str], None]


def _no_checkpoint(point: str, intent_id: str) -> None:
    return None


@dataclass
class Context:
    """What one run shares: the warehouse, the clock, and where per-intent outcomes are counted.

    Worker threads share it: :meth:`count` and the two lists are safe to use from any thread.
    ``answered_refusals`` maps a Checkout.com error code to our reason code for refusals that
    are an ordinary answer (a balance another request used up in the meantime), not a fault.
    """

    engine: Engine
    clock: Callable[[], datetime]
    run_id: str | None
    checkpoint: Checkpoint = _no_checkpoint
    counts: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    answered_refusals: Mapping[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def finish(
        self,
        label: str,
        step: str,
        *,
        kinds: Sequence[str],
        refused: type[OutboundRefused],
        deferred: type[OutboundDeferred],
        raise_on_failures: bool,
    ) -> dict[str, Any]:
        """The step's result (its XCom: counts, failure lines, the intents by state); then, after
        the whole batch had its chance, the loud failure: refused first (no retry), else
        deferred (a retry resumes them)."""
        with self.engine.connect() as conn:
            summary = store.summary(conn, kinds=kinds)
        log.info("%s %s: %s; intents %s", label, step, dict(self.counts), summary)
        result = {
            "step": step,
            "counts": dict(self.counts),
            "refused": list(self.refused),
            "deferred": list(self.deferred),
            "intents": summary,
        }
        if raise_on_failures and self.refused:
            raise refused(
                f"{label} {step}: {len(self.refused)} refused by Checkout.com or FreshPortal (see the lines)",
                self.refused + self.deferred,
            )
        if raise_on_failures and self.deferred:
            raise deferred(
                f"{label} {step}: {len(self.deferred)} deferred (transient); a retry resumes them",
                self.deferred,
            )
        return result


Post = Callable[[], Mapping[str, Any]]


def describe(exc: BaseException) -> str:
    """Class and message (method, path, status, codes, request id; never a body), masked and
    escaped: the codes and ids come from the other side, which may echo a card number or an
    e-mail address in them, and the text is stored and written back to FreshPortal."""
    return safe_masked(f"{type(exc).__name__}: {exc}", limit=store.MAX_TEXT)


def send(ctx: Context, intent: MoneyIntent, *, kind: str, payment_id: str, post: Post) -> str:
    """Claim (``sending`` committed), POST, record the action id. A lost claim sends nothing."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        if not store.claim(conn, intent, kind=kind, payment_id=payment_id, now=now, run_id=ctx.run_id):
            return "raced"
        claimed = store.get(conn, intent.intent_id)
    assert claimed is not None
    return _post_and_record(ctx, claimed, post)


def recover(ctx: Context, intent: MoneyIntent, *, actions: Iterable[Mapping[str, Any]], post: Post) -> str:
    """An intent left ``sending`` (crash, 5xx, timeout): does its action exist? Record it if so;
    otherwise send again under the same idempotency key (within Checkout.com's window the key
    alone would make this safe; the lookup also covers a window that has passed)."""
    assert intent.state == store.SENDING
    assert intent.payment_id is not None
    found = outcomes.find_action_id(actions, intent)
    if found is not None:
        with ctx.engine.begin() as conn:
            store.record_accepted(conn, intent, action_id=found, now=ctx.clock())
        log.warning("intent %s: in doubt, found its action %s; recorded", intent.intent_id, safe(found))
        ctx.count("recovered")
        return "recovered"
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        if not store.claim(
            conn, intent, kind=intent.kind, payment_id=intent.payment_id, now=now, run_id=ctx.run_id
        ):
            return "raced"
        claimed = store.get(conn, intent.intent_id)
    assert claimed is not None
    ctx.count("resent")
    return _post_and_record(ctx, claimed, post)


def _post_and_record(ctx: Context, intent: MoneyIntent, post: Post) -> str:
    ctx.checkpoint("before_post", intent.intent_id)
    try:
        answer = post()
    except cko_errors.CheckoutError as exc:
        return _post_failed(ctx, intent, exc)
    ctx.checkpoint("after_post", intent.intent_id)
    action_id = answer.get("action_id")
    if not isinstance(action_id, str) or not action_id:
        with ctx.engine.begin() as conn:
            store.record_in_doubt(conn, intent, "202 without an action id", now=ctx.clock())
        ctx.deferred.append(f"{intent.kind} {intent.request_key}: 202 without an action id")
        return "in_doubt"
    with ctx.engine.begin() as conn:
        recorded = store.record_accepted(conn, intent, action_id=action_id, now=ctx.clock())
    ctx.checkpoint("after_record", intent.intent_id)
    if not recorded:  # another runner resolved it first (necessarily with the same action)
        return "raced"
    log.info("%s %s accepted: action %s", intent.kind, intent.intent_id, safe(action_id))
    return "accepted"


def _post_failed(ctx: Context, intent: MoneyIntent, exc: cko_errors.CheckoutError) -> str:
    """A 4xx refusal: failed with its codes, nothing exists. Anything else stays in doubt.

    The client retries inside one call, so the error seen here is the *last* attempt's: a 429
    or a refused connection after a first attempt that Checkout.com processed (its answer lost
    to a 5xx or a timeout) would read as "never sent". For money that reading is not safe, so
    no failure except a refusal releases a claimed intent: it stays ``sending``, and
    :func:`recover` looks for its action before anything is sent again. A refusal cannot follow
    a processed attempt: under the same key Checkout.com replays the stored 2xx. A failure
    every request would hit (401) is recorded the same way, then stops the run.
    """
    now = ctx.clock()
    what = describe(exc)
    disposition = classify(exc, item_refusals=ITEM_REFUSALS)
    line = f"{intent.kind} {intent.request_key} ({intent.intent_id}): {what}"
    answered = next((ctx.answered_refusals[c] for c in exc.error_codes if c in ctx.answered_refusals), None)
    with ctx.engine.begin() as conn:
        if disposition is Disposition.REFUSED:
            code = answered or "refused_by_checkout"
            store.record_failed(conn, intent, code=code, error=what, now=now)
        else:
            store.record_in_doubt(conn, intent, f"{disposition}: {what}", now=now)
    if disposition is Disposition.FATAL:
        raise exc
    if disposition is Disposition.REFUSED and answered is not None:
        return f"refused_{answered}"  # answered like a validation failure; not a fault
    if disposition is Disposition.REFUSED:
        ctx.refused.append(line)
        return "refused"
    ctx.deferred.append(line)
    log.warning("intent %s is in doubt after %s", intent.intent_id, what)
    return "in_doubt"
