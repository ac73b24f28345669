"""The one exactly-once mechanism for every call that moves money or creates something outside.

An outbound effect is an *intent* first: a row whose id and ``Cko-Idempotency-Key`` are derived
from what asked for it, written before the call, claimed (compare-and-set) before the request
leaves, and given Checkout.com's id the moment the answer arrives. Payment links
(:mod:`..payment_links`) and money movements -- refunds, voids, captures (:mod:`.store`) -- share
the claim rule (:mod:`.guarded`) and the reading of a failed call (:mod:`.disposition`).
docs/refunds.md "Exactly once" walks through every crash point.
"""
