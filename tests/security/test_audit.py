"""The dependency audit (dev/cfp_dev/audit.py): OSV ranges, the committed snapshot, exceptions.

The online half (pip-audit) cannot be proven here (the PyPI reachable from this machine has no
vulnerability data), so what is tested is that it is never taken for a pass when it checked
nothing, and that the offline half finds what the snapshot says on versions it covers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from packaging.version import Version

from cfp_dev import audit
from cfp_dev.audit import Exception_, Finding, affects, in_range, judge, offline_findings, read_lock

SNAPSHOT = json.loads(audit.SNAPSHOT.read_text())
TODAY = dt.date(2026, 12, 6)


@pytest.mark.parametrize(
    ("events", "version", "hit"),
    [
        ([{"introduced": "0"}, {"fixed": "2.3.0"}], "2.2.1", True),
        ([{"introduced": "0"}, {"fixed": "2.3.0"}], "2.3.0", False),
        ([{"introduced": "0"}, {"fixed": "2.3.0"}], "2.10.0", False),  # versions, not strings
        ([{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.1.3"}], "1.7", False),
        ([{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.1.3"}], "2.1.2", True),
        ([{"introduced": "1.0"}, {"fixed": "1.5"}, {"introduced": "2.0"}, {"fixed": "2.1.3"}], "0.9", False),
        ([{"introduced": "3.0"}, {"last_affected": "3.4"}], "3.4", True),
        ([{"introduced": "3.0"}, {"last_affected": "3.4"}], "3.4.1", False),
        ([{"introduced": "0"}], "99.0", True),  # no fix yet
        ([{"introduced": "0"}, {"fixed": "1.0rc1"}], "1.0b2", True),  # pre-releases ordered
    ],
)
def test_osv_ranges(events: list[dict[str, str]], version: str, hit: bool) -> None:
    assert in_range(Version(version), events) is hit


def test_explicit_versions_withdrawn_and_other_packages() -> None:
    adv = {
        "id": "X-1",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "Some_Pkg"}, "versions": ["1.0.post1"]}],
    }
    assert affects(adv, "some-pkg", "1.0.post1")
    assert not affects(adv, "some-pkg", "1.0")
    assert not affects(adv, "other", "1.0.post1")
    assert not affects({**adv, "withdrawn": "2024-01-01T00:00:00Z"}, "some-pkg", "1.0.post1")


def test_the_snapshot_is_dated_and_holds_only_locked_packages() -> None:
    pins = read_lock()
    assert SNAPSHOT["source"] == "https://github.com/pypa/advisory-database"
    assert len(SNAPSHOT["source_commit"]) == 40
    dt.date.fromisoformat(SNAPSHOT["snapshot_date"])
    names = {a["affected"][0]["package"]["name"] for a in SNAPSHOT["advisories"]}
    assert {audit.canonicalize_name(n) for n in names} <= set(pins)
    assert len(SNAPSHOT["advisories"]) > 100


def test_the_lock_is_read_whole() -> None:
    pins = read_lock()
    text = audit.LOCK.read_text()
    assert len(pins) == len({line.split("==")[0].lower() for line in text.splitlines() if "==" in line[:80]})
    assert pins["pip-audit"] == "2.10.1"
    assert pins["packaging"]


def test_the_snapshot_finds_known_advisories_on_old_pins() -> None:
    """Evaluation on the real data: versions the snapshot covers are found, with their fix."""
    old = {"requests": "2.2.1", "jinja2": "2.10", "urllib3": "1.24.1"}
    found = offline_findings(old, SNAPSHOT)
    by_pkg = {f.package for f in found}
    assert by_pkg == {"requests", "jinja2", "urllib3"}
    req = [f for f in found if f.package == "requests"]
    assert any(f.id == "PYSEC-2014-13" and "2.3.0" in f.fixed for f in req)
    assert "CVE-2014-1829" in {a for f in req for a in f.aliases}


def test_the_pins_of_the_lock_against_the_snapshot() -> None:
    assert offline_findings(read_lock(), SNAPSHOT) == []
    assert audit.uncovered(read_lock(), SNAPSHOT) == []


def test_a_package_the_snapshot_was_not_made_for_fails(tmp_path: Path, capsys) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("requests==2.32.0 \\\n    --hash=sha256:00\nbrand-new-pkg==1.0 \\\n")
    exc = tmp_path / "exc.toml"
    exc.write_text("")
    assert audit.main(["--lock", str(lock), "check", "--online", "never", "--exceptions", str(exc)]) == 1
    assert "NOT IN THE SNAPSHOT brand-new-pkg: refresh it" in capsys.readouterr().out


def _finding(id_: str = "PYSEC-1", package: str = "pkg") -> Finding:
    return Finding(package, "1.0", id_, ("CVE-2026-1",), ("1.1",), "bad", "snapshot")


def _exc(id_: str, expires: dt.date, package: str = "pkg") -> Exception_:
    return Exception_(id_, package, "waiting for the upgrade", TODAY, expires)


def test_exceptions_accept_until_they_expire() -> None:
    assert judge([_finding()], [], TODAY)[0][0].startswith("VULNERABLE pkg 1.0: PYSEC-1")
    failures, notes = judge([_finding()], [_exc("CVE-2026-1", TODAY)], TODAY)  # by alias, last day
    assert failures == []
    assert notes[0].startswith("accepted until 2026-12-06")
    failures, _ = judge([_finding()], [_exc("PYSEC-1", TODAY - dt.timedelta(days=1))], TODAY)
    assert failures[0].startswith("EXPIRED EXCEPTION")
    failures, _ = judge([_finding()], [_exc("PYSEC-1", TODAY, package="other")], TODAY)
    assert failures[0].startswith("VULNERABLE")
    _, notes = judge([], [_exc("PYSEC-9", TODAY)], TODAY)
    assert notes == ["exception PYSEC-9 (pkg) matches no finding: remove it"]


def test_the_exceptions_file_parses_and_refuses_incomplete_entries(tmp_path: Path) -> None:
    audit.read_exceptions(audit.EXCEPTIONS)
    bad = tmp_path / "x.toml"
    bad.write_text('[[exception]]\nid = "A"\npackage = "b"\nreason = "r"\ndate = 2026-01-01\n')
    with pytest.raises(ValueError, match="needs id, package, reason, date, expires"):
        audit.read_exceptions(bad)


@pytest.mark.slow
def test_the_online_audit_is_a_pass_only_when_it_checked(tmp_path: Path) -> None:
    """Real pip-audit on one old pin. Where its service has no data (this machine's PyPI mirror)
    it skips the pin yet prints 'No known vulnerabilities found' and exits 0: that must come
    back as 'checked nothing' and fail ``--online require``; where it answers, it must find the
    advisory the snapshot knows."""
    lock = tmp_path / "lock.txt"
    lock.write_text("requests==2.2.1 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    found, said = audit.online_findings(lock, 120)
    if found is None:
        assert "none of" in said or "did not answer" in said
        assert audit.main(["--lock", str(lock), "check", "--online", "require"]) == 1
    else:
        assert "PYSEC-2014-13" in {f.id for f in found} | {a for f in found for a in f.aliases}


def test_check_fails_on_a_finding_and_an_expired_exception(tmp_path: Path, capsys) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("requests==2.2.1 \\\n    --hash=sha256:00\n")
    exc = tmp_path / "exc.toml"
    exc.write_text("")
    assert audit.main(["--lock", str(lock), "check", "--online", "never", "--exceptions", str(exc)]) == 1
    assert "VULNERABLE requests 2.2.1: PYSEC-2014-13" in capsys.readouterr().out
    ids = {f.id for f in offline_findings({"requests": "2.2.1"}, SNAPSHOT)}
    entries = "".join(
        f'[[exception]]\nid = "{i}"\npackage = "requests"\nreason = "test"\ndate = 2026-01-01\n'
        f"expires = 2999-01-01\n"
        for i in sorted(ids)
    )
    exc.write_text(entries)
    assert audit.main(["--lock", str(lock), "check", "--online", "never", "--exceptions", str(exc)]) == 0
    exc.write_text(entries.replace("2999-01-01", "2026-01-02", 1))
    assert audit.main(["--lock", str(lock), "check", "--online", "never", "--exceptions", str(exc)]) == 1
    assert "EXPIRED EXCEPTION (expired 2026-01-02)" in capsys.readouterr().out


def test_refresh_keeps_only_the_locked_packages(tmp_path: Path) -> None:
    for pkg, text in {
        "Requests": "id: PYSEC-1\naffected:\n- package: {name: requests, ecosystem: PyPI}\n",
        "other": "id: PYSEC-2\naffected:\n- package: {name: other, ecosystem: PyPI}\n",
    }.items():
        (tmp_path / "vulns" / pkg).mkdir(parents=True)
        (tmp_path / "vulns" / pkg / "a.yaml").write_text(text)
    snap = audit.build_snapshot(tmp_path, {"requests": "2.0"}, "c" * 40, "2026-12-06")
    assert [a["id"] for a in snap["advisories"]] == ["PYSEC-1"]
    assert snap["snapshot_date"] == "2026-12-06"
    assert snap["source_commit"] == "c" * 40
