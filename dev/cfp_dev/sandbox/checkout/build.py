"""``build_world``: a deterministic account with history, from a seed or a scenario file.

History and live activity share one mechanism: payment plans are put on the world's step
heap and played up to "now", then settlement (payouts, reports) runs for every day boundary
passed. ``advance`` generates more plans and moves the clock, which is how the steady-state
benchmark gets realistic new activity (including late captures/refunds/disputes of older
payments that were already planned).
"""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from checkout_freshportal.timeutil import parse_ts

from .clock import SimClock, day_start, quantize
from .config import SandboxConfig
from .generator import PlanGenerator, make_customers
from .ids import IdFactory
from .model import Account
from .scenario_file import read_scenario
from .scenario_plans import scenario_plans
from .settlement import start_settlement
from .world import World


def _resolve_now(value: datetime | str | None) -> datetime:
    if value is None:
        return quantize(datetime.now(UTC), 6)
    if isinstance(value, str):
        parsed = parse_ts(value)
        assert parsed is not None
        return parsed
    if value.tzinfo is None:
        raise ValueError("SandboxConfig.now must be timezone-aware")
    return value.astimezone(UTC)


def build_world(config: SandboxConfig) -> World:
    """The simulated account at "now", with ``days`` of history (or a scenario file's content).

    Same config (seed, now, sizes or scenario) -> identical world, ids included.
    """
    # Building allocates ~20 objects per payment; the cyclic GC would rescan them again and
    # again (a third of the build time at 50k payments) although none of them forms a cycle.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(config)
    finally:
        if gc_was_enabled:
            gc.enable()


def _build(config: SandboxConfig) -> World:
    scenario = read_scenario(config.scenario_path) if config.scenario_path else None
    seed = config.seed
    now_value: Any = config.now
    days, per_day = config.days, config.payments_per_day
    if scenario is not None:
        seed = scenario.seed if scenario.seed is not None else seed
        now_value = scenario.now or config.now
        days, per_day = scenario.background_days, scenario.background_payments_per_day
    now = _resolve_now(now_value)
    if seed != config.seed:
        config = replace(config, seed=seed)
    ids = IdFactory(seed)
    account = Account(
        client_id=ids.new("cli"),
        client_entity_id=ids.new("ent"),
        sub_entity_id=ids.new("ent"),
        processing_channel_id=ids.new("pc"),
        currency_accounts={c: ids.new("ca") for c in ("EUR", "GBP", "USD")},
    )
    history_start = now - timedelta(days=days)
    plans = []
    if scenario is not None:
        plans = scenario_plans(scenario, now, ids, config.action_delay_seconds)
    earliest = min([history_start, *(p.requested_on for p in plans)])
    world = World(config, earliest, account, ids)
    total = days * per_day
    customers = make_customers(world.gen_rng, ids, max(40, total // 12))
    generator = PlanGenerator(world.gen_rng, ids, customers, world.stamp, config.action_delay_seconds)
    world.generator = generator
    world.now_from_wall_clock = now_value is None
    world.customers = [c.info for c in customers]
    for plan in generator.plans(history_start, now, total, world.next_reference):
        world.add_plan(plan)
    for plan in plans:
        world.add_plan(plan)
    start_settlement(world, day_start(earliest) + timedelta(days=1))
    world.run_until(now)
    return world


def advance(
    world: World, clock: SimClock, hours: float, payments_per_hour: float | None = None
) -> dict[str, Any]:
    """Generate ``hours`` of new activity ending at the new simulated now; returns what happened."""
    if hours <= 0:
        raise ValueError("hours must be positive")
    if payments_per_hour is None:
        payments_per_hour = world.config.payments_per_day / 24
    if payments_per_hour < 0:
        raise ValueError("payments_per_hour must not be negative")
    delta = timedelta(seconds=round(hours * 3600))
    with world.lock:
        world.run_until(clock.now())
        old_now = world.now
        before = (
            len(world.payments),
            world.steps_run,
            len(world.financial_actions),
            len(world.disputes),
            len(world.reports),
        )
        count = round(payments_per_hour * hours)
        generator: PlanGenerator = world.generator
        for plan in generator.plans(old_now, old_now + delta, count, world.next_reference):
            world.add_plan(plan)
        new_now = clock.advance(delta)
        world.run_until(new_now)
        return {
            "from": old_now,
            "now": world.now,
            "payments_created": len(world.payments) - before[0],
            "steps_applied": world.steps_run - before[1],
            "financial_actions_created": len(world.financial_actions) - before[2],
            "disputes_created": len(world.disputes) - before[3],
            "reports_created": len(world.reports) - before[4],
        }
