"""Airflow lists the ``checkout`` and ``freshportal`` connection types, with their form fields.

Run in a fresh interpreter: ProvidersManager is a process-wide singleton that caches what it
discovered, so a test must not depend on (or pollute) another test's view of the providers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from cfp_airflow import get_provider_info

PROBE = textwrap.dedent(
    """
    import json, warnings
    warnings.simplefilter("ignore")
    from airflow.providers_manager import ProvidersManager
    pm = ProvidersManager()
    out = {}
    for conn_type in ("checkout", "freshportal"):
        hook = pm.hooks.get(conn_type)
        out[conn_type] = {
            "provider": pm.providers["checkout-freshportal-airflow"].data["package-name"],
            "hook": None if hook is None else [hook.hook_class_name, hook.connection_id_attribute_name,
                                               hook.hook_name, hook.package_name],
            "widgets": sorted(k for k in pm.connection_form_widgets if k.startswith(f"extra__{conn_type}__")),
            "behaviour": pm.field_behaviours.get(conn_type),
        }
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def listed() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_provider_info_validates_against_airflows_schema() -> None:
    from airflow.providers_manager import _create_provider_info_schema_validator

    _create_provider_info_schema_validator().validate(get_provider_info())  # raises when invalid


@pytest.mark.parametrize(
    ("conn_type", "hook", "fields", "hidden", "relabelled"),
    [
        (
            "checkout",
            ["cfp_airflow.hooks.checkout.CheckoutHook", "checkout_conn_id", "Checkout.com"],
            ["account_prefix", "auth", "environment", "max_retries", "read_rps", "scopes", "write_rps"],
            ["schema", "port"],
            {"host", "login", "password"},
        ),
        (
            "freshportal",
            ["cfp_airflow.hooks.freshportal.FreshPortalHook", "freshportal_conn_id", "FreshPortal"],
            ["mapping_path", "max_retries", "page_size", "tenant"],
            ["login", "schema", "port"],
            {"host", "password"},
        ),
    ],
)
def test_airflow_lists_the_connection_type_with_its_fields(
    listed: dict, conn_type: str, hook: list[str], fields: list[str], hidden: list[str], relabelled: set[str]
) -> None:
    got = listed[conn_type]
    assert got["provider"] == "checkout-freshportal-airflow"
    assert got["hook"] == [*hook, "checkout-freshportal-airflow"]
    assert got["widgets"] == sorted(f"extra__{conn_type}__{f}" for f in fields)
    assert got["behaviour"]["hidden_fields"] == hidden
    assert set(got["behaviour"]["relabeling"]) == relabelled
    assert json.loads(got["behaviour"]["placeholders"]["extra"])


def test_hooks_declare_the_same_form_as_the_provider() -> None:
    from cfp_airflow.hooks.checkout import CheckoutHook
    from cfp_airflow.hooks.freshportal import FreshPortalHook

    by_type = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    for hook in (CheckoutHook, FreshPortalHook):
        declared = by_type[hook.conn_type]
        assert declared["hook-class-name"] == f"{hook.__module__}.{hook.__qualname__}"
        assert declared["ui-field-behaviour"]["relabeling"] == hook.get_ui_field_behaviour()["relabeling"]


def test_extras_written_by_the_connection_form_are_read_like_json_extras() -> None:
    from cfp_airflow.hooks.checkout import settings_kwargs_from_connection as checkout_kwargs
    from cfp_airflow.hooks.freshportal import settings_kwargs_from_connection as freshportal_kwargs

    key = "sk_sbox_" + "m" * 26 + "q"
    form = {
        "extra__checkout__environment": "sandbox",
        "extra__checkout__read_rps": "20",
        "scopes": "",
        "auth": None,
    }
    assert checkout_kwargs(None, None, key, form) == {
        "environment": "sandbox",
        "read_rps": 20,
        "secret_key": key,
    }
    kw = freshportal_kwargs(None, "k", {"extra__freshportal__tenant": 850255, "page_size": "50"})
    assert (kw["tenant"], kw["page_size"]) == ("850255", 50)
    with pytest.raises(ValueError, match=r"extra\.read_rps must be an int \(a whole number, not negative\)"):
        checkout_kwargs(None, None, key, {"read_rps": "fast"})
    with pytest.raises(ValueError, match="unknown extra"):
        freshportal_kwargs("http://h", "k", {"extra__freshportal__tenantt": "x"})
