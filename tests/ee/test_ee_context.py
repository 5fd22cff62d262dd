"""The execution environment's build context, as `make ee` leaves it in .tmp/ee/context (`ansible-builder create -f
execution-environment.yml`): what a container engine would build from it, checked without one. The collection archive
in it is this checkout's collection and installs; ansible-builder's own introspect script (the one the image build runs)
finds the collection's Python and system dependencies in the installed collection; the install refs and the base
image are the definition's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONTEXT = REPO / ".tmp" / "ee" / "context"
DEFINITION = yaml.safe_load((REPO / "execution-environment.yml").read_text())
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
BIN = Path(sys.executable).parent

if not (CONTEXT / "Containerfile").is_file():
    pytest.skip("no build context: run `make ee` (ansible-builder create) first", allow_module_level=True)


def containerfile() -> str:
    return (CONTEXT / "Containerfile").read_text()


def archive() -> Path:
    [name] = [c["name"] for c in yaml.safe_load((CONTEXT / "_build" / "requirements.yml").read_text())["collections"]]
    return CONTEXT / "_build" / name


def test_the_containerfile_builds_on_the_base_image_with_the_supported_ansible_core_and_runner():
    text = containerfile()
    assert 'ARG EE_BASE_IMAGE="%s"' % DEFINITION["images"]["base_image"]["name"] in text
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', text, re.M).group(1).split(" ")
    core = next(r for r in refs if r.startswith("ansible-core"))
    assert core == "ansible-core>=2.16,<2.20", "the EE must get an ansible-core the collection supports"
    assert any(r.startswith("ansible-runner") for r in refs)
    assert re.search(r"^RUN .*ansible-galaxy collection install .*-r requirements.yml", text, re.M)
    # every stage ends in the image: the final stage copies the collections the galaxy stage installed
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in text


def test_the_context_holds_this_checkouts_collection_without_build_leftovers():
    path = archive()
    assert path.is_file(), path
    with tarfile.open(path) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])
    for needed in ("plugins/modules/go_install.py", "plugins/action/fleet_report.py", "plugins/plugin_utils/_agent/core.ps1",
                   "roles/validate/tasks/main.yml", "playbooks/site.yml", "meta/execution-environment.yml",
                   "meta/runtime.yml", "requirements.txt", "bindep.txt", "extensions/awx/job_templates.yml"):
        assert needed in names, needed
    leftovers = [n for n in names if n.split("/")[0] in (".tmp", ".venv", "gowin-reports", ".git", "ansible_collections")
                 or "/__pycache__/" in "/" + n or n.startswith("tests/output")]
    assert leftovers == []
    # the archive is the work tree's: the agent in it is byte for byte the one here
    with tarfile.open(path) as tar:
        assert tar.extractfile("plugins/plugin_utils/_agent/core.ps1").read() == (REPO / "plugins/plugin_utils/_agent/core.ps1").read_bytes()


def clean_env() -> dict[str, str]:
    """No collections but the installed one: no ANSIBLE_* settings, and no PYTHONPATH (Ansible also finds collections on
    sys.path, where make puts the work tree's link)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The archive installed as the galaxy stage installs it (offline: no Galaxy server)."""
    dest = tmp_path_factory.mktemp("ee-collections")
    env = clean_env()
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", str(dest), str(archive())],
                   check=True, capture_output=True, text=True, cwd=str(dest), env=env)
    return dest


def test_ansible_builders_introspect_finds_the_collections_python_and_system_dependencies(installed):
    out = subprocess.run([sys.executable, str(CONTEXT / "_build" / "scripts" / "introspect.py"), "introspect", str(installed)],
                         check=True, capture_output=True, text=True).stdout
    found = yaml.safe_load(out[out.index("---"):])
    python = [line.split("#")[0].strip() for line in found["python"]]
    wanted = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert python == wanted and {"pypsrp>=0.8.1", "pywinrm>=0.4.3"} <= set(python)
    system = [line.split("#")[0].strip() for line in found["system"]]
    assert "krb5-workstation [platform:rpm]" in system and len(system) == len(
        [line for line in (REPO / "bindep.txt").read_text().splitlines() if line.strip() and not line.startswith("#")])
    assert all(line.endswith("# from collection gowin.server") for line in found["python"] + found["system"])


def test_the_installed_collection_loads_its_plugins_and_playbooks(installed):
    env = clean_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    doc = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", "--json", "gowin.server.go_install", "gowin.server.fleet_report"],
                         check=True, capture_output=True, text=True, cwd=str(installed), env=env)
    assert set(json.loads(doc.stdout)) == {"gowin.server.go_install", "gowin.server.fleet_report"}
    check = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", "gowin.server.site"],
                           capture_output=True, text=True, cwd=str(installed), env=env, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
