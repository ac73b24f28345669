"""Checkout.com-shaped identifiers from a seeded generator, so one seed gives one world.

Real ids are a prefix plus 26 base32 characters (``pay_gjulv7byhhwerb3jyx2547xlme``); payment
links use 12 URL-safe characters (``pl_irx_SMlY5RCA``). Drawing them from a ``random.Random``
instead of ``secrets`` is deliberate: determinism matters here, secrecy does not.
"""

from __future__ import annotations

import hashlib
import random

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]
_URLSAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def derived_digits(key: str, length: int) -> str:
    """Digits derived from a key (acquirer ids, ARNs, auth codes): stable without being stored."""
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=16).digest(), "big")
    return f"{h % 10**length:0{length}d}"


def arn_for(action_id: str) -> str:
    """Acquirer reference number of a capture/refund, shared by the action, its financial action
    and any dispute on it."""
    return derived_digits(action_id + ":arn", 23)


class IdFactory:
    """Prefix + 26 base32 chars, deterministic for a seed; thread safety is the caller's lock."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(f"ids:{seed}")

    def b32(self, length: int = 26) -> str:
        if length == 26:  # the hot path: 13 table lookups of 10 bits each
            n = self._rng.getrandbits(130)
            p = _PAIRS
            return (
                p[n & 1023]
                + p[(n >> 10) & 1023]
                + p[(n >> 20) & 1023]
                + p[(n >> 30) & 1023]
                + p[(n >> 40) & 1023]
                + p[(n >> 50) & 1023]
                + p[(n >> 60) & 1023]
                + p[(n >> 70) & 1023]
                + p[(n >> 80) & 1023]
                + p[(n >> 90) & 1023]
                + p[(n >> 100) & 1023]
                + p[(n >> 110) & 1023]
                + p[n >> 120]
            )
        return "".join(self._rng.choice(_B32) for _ in range(length))

    def new(self, prefix: str) -> str:
        return f"{prefix}_{self.b32()}"

    def link_id(self) -> str:
        return "pl_" + "".join(self._rng.choice(_URLSAFE) for _ in range(12))

    def digits(self, length: int) -> str:
        return f"{self._rng.getrandbits(4 * length) % 10**length:0{length}d}"

    def hex(self, length: int) -> str:
        return f"{self._rng.getrandbits(4 * length):0{length}X}"


def derived_id(prefix: str, key: str) -> str:
    """An id derived from a key, for objects that appear without a planned id (the action of an
    expiry, an increment chosen from a payment id) without drawing from the seeded factory, so
    adding them leaves every other id of the world unchanged."""
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=17).digest(), "big")
    return f"{prefix}_" + "".join(_B32[(h >> (5 * i)) & 31] for i in range(26))


def derived_share(key: str) -> float:
    """A number in [0, 1) derived from a key: deterministic choices that consume no RNG draw."""
    return int(derived_digits(key, 6)) / 1_000_000
