"""The simulators' start in the `sandbox` profile installs dev/ as docker-compose.yaml says.

The simulator services run the product image, which holds no dev/: their entrypoint copies the
read-only bind mount of ./dev, pip-installs it into a scratch folder and execs the command with
that folder on PYTHONPATH (docs/deployment.md). Run here as written in the compose file, with
the container's paths mapped to temporary folders. The image's Python is stood in for by the
system Python 3.11 (Debian's, with setuptools and wheel, as Python 3.11 base images carry), so
the offline build is what runs; .venv's setuptools cannot build a wheel, and its fallback would
need the package index. The proof is that the `cfp` entry points of the development package are
found in the scratch folder, where `cfp sandbox` looks for them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture
def image_python(tmp_path: Path) -> Path:
    """A bin folder whose `python` can build a wheel offline (setuptools with wheel, and pip)."""
    probe = "import setuptools, wheel, pip, sys; assert sys.version_info[:2] == (3, 11)"
    ok = SYSTEM_PYTHON.exists() and (
        subprocess.run([str(SYSTEM_PYTHON), "-c", probe], capture_output=True, check=False).returncode == 0
    )
    if not ok:
        msg = f"{SYSTEM_PYTHON} with pip, setuptools and wheel on Python 3.11 is needed (python3-pip)"
        if IN_CI:
            pytest.fail(msg + " (CI=true: the simulators' install must be tested)")
        pytest.skip(msg)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(SYSTEM_PYTHON)
    return bin_dir


def test_entrypoint_installs_the_dev_package_and_its_commands(tmp_path: Path, image_python: Path) -> None:
    service = yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]["sandbox-checkout"]
    bash, flag, script, argv0 = service["entrypoint"]
    assert (bash, flag) == ("bash", "-c")
    mounts = dict(v.split(":")[:2] for v in service["volumes"])
    src_in_container = mounts["./dev"]
    target = service["environment"]["PYTHONPATH"]
    # container paths -> temporary ones; `$$` is Compose's escape for the shell's `$`
    script = (
        script.replace("$$", "$")
        .replace(f"cp -r {src_in_container} ", f"cp -r {REPO / 'dev'} ")
        .replace("/tmp/cfp-dev-src", str(tmp_path / "src"))
        .replace(target, str(tmp_path / "site"))
    )
    probe = (
        "import importlib.metadata as m, sys; "
        "d = [x for x in m.distributions(path=[sys.argv[1]]) "
        "if x.metadata['Name'] == 'checkout-freshportal-dev']; "
        "print(sorted(e.name for e in d[0].entry_points if e.group == 'checkout_freshportal.cli'))"
    )
    env = {**os.environ, **service["environment"], "PYTHONPATH": str(tmp_path / "site")}
    env["PIP_NO_INDEX"] = "1"  # no package index: the offline build must succeed on its own
    env["PATH"] = os.pathsep.join([str(image_python), env.get("PATH", "")])
    assert shutil.which("python", path=env["PATH"]) == str(image_python / "python")
    done = subprocess.run(
        ["bash", "-c", script, argv0, "python", "-c", probe, str(tmp_path / "site")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['demo', 'sandbox']"
    assert (tmp_path / "site" / "cfp_dev" / "sandbox" / "cli.py").is_file()
    # the bind mount itself is never written to
    assert not (REPO / "dev" / "build").exists()
