"""Knobs of the chargeback signal (``checkout_events``). Environment: ``CFP_CHARGEBACKS_<FIELD>``."""

from __future__ import annotations

from typing import ClassVar

from checkout_freshportal.settings_base import NonNegativeInt, TypedSettings


class ChargebackSettings(TypedSettings):
    settings_group: ClassVar[str] = "chargebacks"
    env_prefix: ClassVar[str] = "CFP_CHARGEBACKS_"

    # An open dispute whose evidence is due within this many days gets a note on the order and
    # a WARNING in the task log. Three days leave a working day or two to gather evidence after
    # the note is read; 0 turns the notes off.
    evidence_deadline_warning_days: NonNegativeInt = 3
