"""go_facts on each OS profile; the go_toolchain role and gowin.server.site; the modules' EXAMPLES."""

from __future__ import annotations

from conftest import reg

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

PROFILES = {
    "ws2016": (14393, "Microsoft Windows Server 2016 Datacenter", "4.6.2"),
    "ws2019": (17763, "Microsoft Windows Server 2019 Datacenter", "4.8"),
    "ws2022": (20348, "Microsoft Windows Server 2022 Datacenter", "4.8"),
}


def test_go_facts_in_one_round_trip(fleet, mirror):
    assert fleet.install(version="1.22.5").rc == 0
    run = fleet.play([{"name": "facts", "gowin.server.go_facts": {}}, {
        "name": "use", "ansible.builtin.assert": {"that": ["ansible_facts.gowin.active == '1.22.5'"]}}])
    assert run.rc == 0, run.stdout[-2000:]
    for name, (build, caption, dotnet) in PROFILES.items():
        res = run.one(name, "facts").result
        assert res["changed"] is False
        f = res["ansible_facts"]["gowin"]
        assert f["os_build"] == build and f["os_caption"] == caption
        assert f["dotnet_version"] == dotnet
        assert f["installation_type"] == "Server" and f["server_core"] is False
        assert f["arch"] == "amd64"
        assert f["powershell_version"].startswith("5.1.")
        assert f["powershell_language_mode"] == "FullLanguage"
        assert f["long_paths_enabled"] is False
        assert f["install_drive"] == "C:" and f["install_drive_free_bytes"] > 0
        assert f["active"] == "1.22.5" and f["active_goroot"] == "C:\\opt\\go\\current"
        assert [t["version"] for t in f["toolchains"]] == ["1.22.5"]
        assert f["toolchains"][0]["sha256"] == mirror.sha("1.22.5") and f["toolchains"][0]["active"] is True
        assert fleet.host(name).counters()["round_trips"] == 1


def test_go_facts_active_is_what_the_junction_runs_after_an_interrupted_activation(host1):
    """go_install switches current first and records Active second: a run that stopped between the two
    leaves the registry naming the previous version. go_facts reports the junction's and says so."""
    assert host1.install(version="1.22.5").rc == 0
    assert host1.install(version="1.22.8").rc == 0
    h = host1.host("win1")
    # the state a stop between junction.set and registry.set leaves
    assert h.execute([{"op": "registry.set", "args": {"path": "HKLM\\SOFTWARE\\GoWin\\Toolchains", "name": "Active",
                                                      "type": "REG_SZ", "data": "1.22.5"}}])[0]["ok"]
    run = host1.play([{"name": "facts", "gowin.server.go_facts": {}}], allow_warnings=True)
    res = run.one("win1", "facts").result
    f = res["ansible_facts"]["gowin"]
    assert f["active"] == "1.22.8" and f["active_goroot"] == "C:\\opt\\go\\current"
    assert f["active_mismatch"] == {"registry": "1.22.5", "junction": "C:\\opt\\go\\1.22.8"}
    assert [t["version"] for t in f["toolchains"] if t["active"]] == ["1.22.8"]
    # the warning (ansible-core before 2.19 wraps warnings at the terminal width: compare without line breaks)
    assert "points to C:\\opt\\go\\1.22.8 but the registry records 1.22.5" in " ".join((run.stdout + run.stderr).split())
    # the next go_install run that activates the version sets both; then facts agree again, without a warning
    again = host1.install(version="1.22.8")
    assert again.rc == 0 and again.one("win1", "install").changed
    assert reg(h, "HKLM\\SOFTWARE\\GoWin\\Toolchains", "Active") == "1.22.8"
    f = host1.play([{"name": "facts", "gowin.server.go_facts": {}}]).one("win1", "facts").result["ansible_facts"]["gowin"]
    assert f["active"] == "1.22.8" and f["active_mismatch"] is None


def test_go_facts_in_check_mode_reads_and_changes_nothing(host1):
    h = host1.host("win1")
    h.execute([{"op": "host.facts", "args": {}}])  # the host exists before the snapshot
    before = h.snapshot()
    run = host1.play([{"name": "facts", "gowin.server.go_facts": {}}], check=True, diff=True)
    res = run.one("win1", "facts").result
    assert res["changed"] is False and res["ansible_facts"]["gowin"]["os_build"] == 20348
    assert h.snapshot() == before and h.counters()["round_trips"] == 1


def test_go_facts_server_core_and_empty_host(tmp_path, mirror):
    from conftest import Fleet

    fleet = Fleet(tmp_path, mirror, {"core": "ws2025-core"})
    f = fleet.play([{"name": "facts", "gowin.server.go_facts": {}}]).one("core", "facts").result["ansible_facts"]["gowin"]
    assert f["installation_type"] == "Server Core" and f["server_core"] is True
    assert f["os_build"] == 26100 and f["dotnet_version"] == "4.8.1"
    assert f["toolchains"] == [] and f["active"] is None and f["active_goroot"] is None


def role_vars(mirror) -> dict:
    return {"go_toolchain_index_url": mirror.index_url, "go_toolchain_base_url": mirror.dl,
            "go_toolchain_allow_plain_http": True, "go_toolchain_version": "1.22"}


def test_site_playbook_converges_then_changes_nothing(fleet, mirror, tmp_path):
    site_vars = dict(role_vars(mirror), gowin_report_dir=str(tmp_path / "report"))
    first = fleet.play(playbook="gowin.server.site", extra_vars=site_vars)
    assert first.rc == 0, first.stdout[-3000:]
    for name in fleet.hosts:
        assert first.one(name, "Install the Go toolchain").changed
        assert reg(fleet.host(name), "HKLM\\SOFTWARE\\GoWin\\Toolchains", "Active") == "1.22.8"
    second = fleet.play(playbook="gowin.server.site", extra_vars=site_vars)
    assert second.rc == 0
    for name in fleet.hosts:
        assert not any(r.changed for r in second.of(name))
        # one per module (go_install, go_env, go_facts), one for go_env's check-mode run that checks the
        # environment settings before anything changes, two for go_verify (read, then run the checks), and
        # one for the baseline's audit (site.yml runs gowin.server.harden, audit by default), then validate:
        # go_facts 1, go_verify 2 and the baseline's audit 1 (no services here)
        assert fleet.host(name).counters()["round_trips"] == 11
        audit = second.one(name, "Test the host against the baseline, or enforce it").result
        assert audit["mode"] == "audit" and audit["baseline"]["name"] == "go_server" and audit["changed"] is False
        assert second.one(name, "Verify Go the way a person would after installing it").result["passed"] is True
        assert reg(fleet.host(name), "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment",
                   "GOROOT") == "C:\\opt\\go\\current"
    # the site ends with the fleet report of every host
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [h["name"] for h in report["hosts"]] == list(fleet.hosts)
    assert all(report["summary"]["matrix"][n]["toolchain"]["status"] == "pass" for n in fleet.hosts)


def test_role_rejects_bad_variables_before_touching_hosts(host1, mirror):
    before = host1.host("win1").snapshot()
    run = host1.play(roles=[{"role": "gowin.server.go_toolchain"}],
                     extra_vars=dict(role_vars(mirror), go_toolchain_arch="sparc"))
    assert run.rc != 0
    assert "go_toolchain_arch" in run.stdout and "sparc" in run.stdout
    assert host1.host("win1").snapshot() == before


def _examples(module: str) -> list[dict]:
    tree = ast.parse((REPO / "plugins" / "modules" / (module + ".py")).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXAMPLES":
            return yaml.safe_load(ast.literal_eval(node.value))
    raise AssertionError("no EXAMPLES in " + module)


def test_module_examples_run(host1, mirror):
    """Every EXAMPLES task runs against winsim, its URLs pointed at the loopback mirror."""
    share = Path(host1.state_dir) / "_shares" / "fileserver" / "software" / "go"
    share.mkdir(parents=True)
    shutil.copy(mirror.files["go1.23.2.windows-amd64.zip"]["path"], share)
    tasks = []
    for module in ("go_facts", "go_install"):
        for task in _examples(module):
            text = yaml.safe_dump(task).replace("https://artifactory.example.com/go", mirror.base)
            task = yaml.safe_load(text)
            key = "gowin.server." + module
            if isinstance(task.get(key), dict):
                args = task[key]
                if args.get("checksum") and args.get("source") == "url":
                    args["checksum"] = "sha256:" + mirror.sha("1.23.2")
            tasks.append(task)
    play = {
        "name": "examples", "hosts": "all", "gather_facts": False,
        "vars": {"mirror_user": "", "mirror_password": ""},
        "module_defaults": {"gowin.server.go_install": dict(mirror.module_args())},
        "tasks": tasks,
    }
    path = host1.root / "examples.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    run = host1.play(playbook=str(path))
    assert run.rc == 0, run.stdout[-4000:]
    assert not any(r.failed for r in run.results)


def test_role_passes_go_env_options_one_by_one_without_warnings(host1, mirror):
    # Fleet.play fails on any [WARNING]: a task whose arguments were one templated dict made Ansible
    # warn on every run ("Using a template for task args is unsafe").
    run = host1.play(roles=[{"role": "gowin.server.go_toolchain"}],
                     extra_vars=dict(role_vars(mirror), go_toolchain_verify=False,
                                     go_toolchain_env={"goproxy": "https://proxy.example.com,direct", "path": ["C:\\tools"]}))
    assert run.rc == 0, run.stdout[-4000:]
    env_key = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
    assert reg(host1.host("win1"), env_key, "GOPROXY") == "https://proxy.example.com,direct"
    assert "C:\\tools" in reg(host1.host("win1"), env_key, "Path").split(";")


def test_role_refuses_an_unknown_go_env_option_before_touching_hosts(host1, mirror):
    before = host1.host("win1").snapshot()
    run = host1.play(roles=[{"role": "gowin.server.go_toolchain"}],
                     extra_vars=dict(role_vars(mirror), go_toolchain_env={"gopathh": "C:\\gp", "goproxy": "off"}))
    assert run.rc != 0
    assert "gopathh" in run.stdout and "accepted: goroot, gopath" in run.stdout
    assert host1.host("win1").snapshot() == before


@pytest.mark.parametrize("bad, words", [
    ({"go_toolchain_keep_versions": -1}, "go_toolchain_keep_versions must be a whole number from 0 (keep all) to 1000, got -1"),
    ({"go_toolchain_keep_versions": 5000}, "go_toolchain_keep_versions must be a whole number from 0 (keep all) to 1000, got 5000"),
    ({"go_toolchain_timeout": 0}, "go_toolchain_timeout must be a number of seconds from 1 to 86400, got 0"),
    # a value go_env refuses fails the role before go_install has installed anything
    ({"go_toolchain_env": {"gopath": "relative\\gp"}}, "gopath: "),
    ({"go_toolchain_env": {"goproxy": "htps://proxy.example.com"}}, "goproxy: "),
])
def test_role_checks_every_part_before_changing_anything(host1, mirror, bad, words):
    before = host1.host("win1").snapshot()
    run = host1.play(roles=[{"role": "gowin.server.go_toolchain"}], extra_vars=dict(role_vars(mirror), **bad))
    assert run.rc != 0
    assert words in run.stdout, run.stdout[-3000:]
    assert not run.of("win1", "Install the Go toolchain")
    assert host1.host("win1").snapshot() == before
