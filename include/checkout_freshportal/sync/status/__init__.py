"""The payment status state machine: facts in, one derived status out, whatever the order.

Read it in the order the data flows (docs/status-machine.md):

* :mod:`.facts` -- one webhook event or ``GET /payments/{id}`` answer as a :class:`~.facts.Fact`
  (balances, flags, identity), tolerant of the shapes real deliveries take;
* :mod:`.disputes` -- which dispute status an event announces, ranks, lost/open/won;
* :mod:`.derivation` -- a payment's state (a set of facts, joined) and the status, balances and
  problems derived from it by precedence;
* :mod:`.declines` -- declined and lapsed actions for the declines log;
* :mod:`.mapping` -- the FreshPortal status of a derivation and the payment that speaks for an
  order.

Checkout.com's words (statuses, balance names, event types) live in
:mod:`checkout_freshportal.checkout.statuses`. Nothing here does I/O.
"""
