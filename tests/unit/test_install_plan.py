"""Planning go_install from probe data: pure functions, no host."""

from __future__ import annotations

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _install_plan as ip

ROOT = "C:\\opt\\go"
HARDENED_ACL = {
    "exists": True, "protected": True, "owner": "S-1-5-32-544",
    "aces": [
        {"sid": ip.SID_ADMINS, "mask": ip.FULL_CONTROL, "type": "allow", "inherit": True, "inherited": False},
        {"sid": ip.SID_SYSTEM, "mask": ip.FULL_CONTROL, "type": "allow", "inherit": True, "inherited": False},
        {"sid": ip.SID_USERS, "mask": ip.READ_EXECUTE, "type": "allow", "inherit": True, "inherited": False},
    ],
}
DEFAULT_ACL = {
    "exists": True, "protected": False, "owner": "S-1-5-32-544",
    "aces": [
        {"sid": ip.SID_ADMINS, "mask": ip.FULL_CONTROL, "type": "allow", "inherit": True, "inherited": True},
        {"sid": ip.SID_USERS, "mask": 6, "type": "allow", "inherit": True, "inherited": True},
    ],
}


def params(**kw):
    base = {"install_root": ROOT, "harden_acl": True, "activate": True, "keep_versions": None, "force": False,
            "validate_certs": True, "timeout": 600, "url_username": None, "url_password": None}
    base.update(kw)
    return base


def record(version, status="installed"):
    return {"values": {
        "Path": {"type": "REG_SZ", "data": ROOT + "\\" + version},
        "Sha256": {"type": "REG_SZ", "data": "ab" * 32},
        "SourceUrl": {"type": "REG_SZ", "data": "https://m/go%s.zip" % version},
        "Status": {"type": "REG_SZ", "data": status},
    }, "keys": {}}


def observed(installed=(), active=None, entries=None, version_file=None, pe="amd64", acl=None,
             current_target=None, pending=()):
    keys = {v: record(v) for v in installed}
    keys.update({v: record(v, "pending") for v in pending})
    values = {"Active": {"type": "REG_SZ", "data": active}} if active else {}
    entries = list(installed) if entries is None else entries
    data = [
        {"arch": "amd64", "free_bytes": 10 ** 10},
        {"exists": bool(keys or values), "values": values, "keys": keys},
        {"exists": True, "entries": [{"name": n, "type": "directory"} for n in entries]},
        {"exists": current_target is not None, "type": "junction", "target": current_target} if current_target else {"exists": False},
        {"exists": version_file is not None, "type": "file", "content": version_file},
        {"exists": pe is not None, "type": "file", "pe_machine": pe},
        HARDENED_ACL if acl is None else acl,
    ]
    ops = ip.probe_ops(ROOT, "1.22.5", True, [])
    return ip.observe(ops, data)


def ops_named(plan):
    return [o["op"] for o in plan.ops()]


def test_probe_is_one_batch_of_reads():
    ops = ip.probe_ops(ROOT, "1.22.5", True, ["CORP\\GoDevs"])
    assert [o["op"] for o in ops] == ["host.facts", "registry.get", "dir.list", "file.stat", "file.stat", "file.stat",
                                      "acl.get", "identity.resolve"]
    assert ops[4]["args"] == {"path": ROOT + "\\1.22.5\\VERSION", "read": True}


def test_fresh_install_plans_everything():
    obs = ip.Observed(facts={"arch": "amd64"}, records={}, active=None, root_exists=False, entries={},
                      current={"exists": False}, version_file={"exists": False}, go_exe={"exists": False},
                      acl={"exists": False})
    plan = ip.plan_present(params(), obs, "1.22.5", "amd64", "t0k3n")
    assert plan.needs_install and plan.changed
    assert plan.staging == ROOT + "\\.staging-1.22.5-t0k3n"
    assert ops_named(plan)[:2] == ["dir.ensure", "acl.set"]
    assert plan.after_active == "1.22.5" and plan.after_installed == ["1.22.5"]
    ops = ip.install_ops(params(), plan, "1.22.5", "amd64",
                         {"mode": "host", "url": "https://m/go.zip", "sha256": "cd" * 32, "filename": "go.zip"},
                         "2026-11-21T00:00:00Z")
    names = [o["op"] for o in ops]
    # verify before the rename, record pending before it, installed only after go runs
    assert names.index("file.download") < names.index("zip.extract") < names.index("path.move") < names.index("go.run")
    pending = next(i for i, o in enumerate(ops) if o["op"] == "registry.set" and o["args"]["data"] == "pending")
    done = next(i for i, o in enumerate(ops) if o["op"] == "registry.set" and o["args"]["data"] == "installed")
    assert pending < names.index("path.move") < done
    dl = ops[names.index("file.download")]["args"]
    assert dl["sha256"] == "cd" * 32
    assert "password" not in dl
    # the first change says an install is under way, on condition that nobody recorded this version meanwhile
    pending = {"path": ip.record_key("1.22.5"), "name": "Status", "type": "REG_SZ", "data": "pending", "expect": {"exists": False}}
    assert ops[0] == {"op": "registry.set", "args": pending}
    assert ops[names.index("go.run")]["args"]["expect_stdout_prefix"] == "go version go1.22.5 "
    # GOROOT is the version folder itself: the zip's top go\ folder is left out
    tree = plan.staging + "\\tree"
    assert ops[names.index("zip.extract")]["args"] == {"src": plan.staging + "\\go.zip", "dest": tree, "strip": "go"}
    stats = [o["args"]["path"] for o in ops if o["op"] == "file.stat"]
    assert stats == [tree + "\\VERSION", tree + "\\bin\\go.exe"]
    assert ops[names.index("go.run")]["args"]["exe"] == ROOT + "\\1.22.5\\bin\\go.exe"


def test_acl_with_read_groups():
    aces = ip.desired_aces({"CORP\\GoDevs": "S-1-5-21-1-2-3-1111", "Users": ip.SID_USERS})
    assert [a["identity"] for a in aces] == [ip.SID_ADMINS, ip.SID_SYSTEM, ip.SID_USERS, "S-1-5-21-1-2-3-1111"]
    assert not any(a["type"] == "deny" for a in aces)
    assert ip.acl_matches(HARDENED_ACL, ip.desired_aces({}))
    assert not ip.acl_matches(HARDENED_ACL, aces)
    assert not ip.acl_matches(DEFAULT_ACL, ip.desired_aces({}))
    assert not ip.acl_matches(dict(HARDENED_ACL, protected=False), ip.desired_aces({}))


def test_installed_and_active_is_a_no_op():
    obs = observed(installed=["1.22.5"], active="1.22.5", version_file="go1.22.5\ntime x\n",
                   current_target=ROOT + "\\1.22.5")
    plan = ip.plan_present(params(), obs, "1.22.5", "amd64", "x")
    assert not plan.changed and plan.ops() == []
    # the junction compares case-insensitively and ignores a trailing backslash
    obs2 = observed(installed=["1.22.5"], active="1.22.5", version_file="go1.22.5",
                    current_target="c:\\OPT\\go\\1.22.5\\")
    assert not ip.plan_present(params(), obs2, "1.22.5", "amd64", "x").changed


@pytest.mark.parametrize("kw,reason", [
    (dict(version_file="go1.22.4\n"), "VERSION says 'go1.22.4'"),
    (dict(pe="arm64"), "bin\\go.exe is for arm64"),
    (dict(entries=[]), "its folder is missing"),
])
def test_a_damaged_install_is_reinstalled(kw, reason):
    args = dict(installed=["1.22.5"], active="1.22.5", version_file="go1.22.5", current_target=ROOT + "\\1.22.5")
    args.update(kw)
    plan = ip.plan_present(params(), observed(**args), "1.22.5", "amd64", "x")
    assert plan.needs_install
    assert any(reason in c for c in plan.changes)


def test_an_explicit_checksum_other_than_the_installed_one_reinstalls():
    obs = observed(installed=["1.22.5"], active="1.22.5", version_file="go1.22.5", current_target=ROOT + "\\1.22.5")
    assert not ip.plan_present(params(sha256="ab" * 32), obs, "1.22.5", "amd64", "x").changed
    plan = ip.plan_present(params(sha256="cd" * 32), obs, "1.22.5", "amd64", "x")
    assert plan.needs_install and "installed from a file with sha256:" + "ab" * 32 in plan.changes[0]


def test_pending_record_from_an_interrupted_run_is_redone():
    obs = observed(pending=["1.22.5"], entries=["1.22.5", ".staging-1.22.5-dead"], version_file="go1.22.5")
    plan = ip.plan_present(params(), obs, "1.22.5", "amd64", "x")
    assert plan.needs_install
    removed = [o["args"]["path"] for o in plan.pre_ops if o["op"] == "path.remove"]
    assert removed == [ROOT + "\\.staging-1.22.5-dead"]
    # the half-installed folder is replaced once the new tree is verified (moved aside, not deleted first)
    assert plan.replaces == "1.22.5"


def test_a_folder_we_did_not_install_is_never_touched():
    obs = observed(entries=["1.22.5"], version_file="go1.22.5")
    with pytest.raises(ValueError) as err:
        ip.plan_present(params(), obs, "1.22.5", "amd64", "x")
    assert "was not installed by gowin.server" in str(err.value)


def test_switch_active_version():
    obs = observed(installed=["1.22.5", "1.21.13"], active="1.21.13", version_file="go1.22.5",
                   current_target=ROOT + "\\1.21.13")
    plan = ip.plan_present(params(), obs, "1.22.5", "amd64", "x")
    assert not plan.needs_install
    assert ops_named(plan) == ["junction.set", "registry.set"]
    assert plan.after_active == "1.22.5"


def test_activate_false_leaves_the_active_version():
    obs = observed(installed=["1.21.13"], active="1.21.13", entries=["1.21.13"], version_file=None,
                   current_target=ROOT + "\\1.21.13")
    plan = ip.plan_present(params(activate=False), obs, "1.22.5", "amd64", "x")
    assert plan.needs_install and plan.after_active == "1.21.13"
    assert "junction.set" not in ops_named(plan)


def test_keep_versions_prunes_only_our_old_versions_and_keeps_active():
    installed = ["1.23.2", "1.22.8", "1.22.5", "1.21.13", "1.20.14"]
    obs = observed(installed=installed, active="1.20.14", entries=installed + ["mine"], version_file="go1.22.5",
                   current_target=ROOT + "\\1.20.14")
    plan = ip.plan_present(params(keep_versions=2, activate=False), obs, "1.22.5", "amd64", "x")
    # kept: the two newest (1.23.2, 1.22.8), the active one (1.20.14) and the one asked for (1.22.5)
    assert plan.removed == ["1.21.13"]
    assert plan.after_installed == ["1.23.2", "1.22.8", "1.22.5", "1.20.14"]
    plan = ip.plan_present(params(keep_versions=1), obs, "1.22.5", "amd64", "x")
    assert sorted(plan.removed) == ["1.20.14", "1.21.13", "1.22.8"]  # 1.22.5 becomes active
    removed_paths = [o["args"]["path"] for o in plan.post_ops if o["op"] == "path.remove"]
    assert all("mine" not in p for p in removed_paths)


def test_absent_refuses_the_active_version_unless_forced():
    obs = observed(installed=["1.22.5"], active="1.22.5", version_file="go1.22.5", current_target=ROOT + "\\1.22.5")
    with pytest.raises(ValueError) as err:
        ip.plan_absent(params(), obs, "1.22.5")
    assert "active version" in str(err.value) and "force" in str(err.value)
    plan = ip.plan_absent(params(force=True), obs, "1.22.5")
    assert ops_named(plan) == ["path.remove", "registry.remove", "path.remove", "registry.remove"]
    assert plan.post_ops[0]["args"] == {"path": ROOT + "\\current", "recurse": False}
    assert plan.after_active is None and plan.after_installed == []


def test_absent_of_something_not_installed_is_a_no_op():
    obs = observed(installed=["1.22.5"], active="1.22.5", entries=["1.22.5", "1.21.0"])
    plan = ip.plan_absent(params(), obs, "1.21.0")
    assert not plan.changed


def test_rollback_after_failed_verification_removes_moved_tree_and_record():
    plan = ip.Plan(staging=ROOT + "\\.staging-1.22.5-x")
    tree = plan.staging + "\\tree"
    ran = [{"op": "registry.set", "args": {"path": ip.record_key("1.22.5"), "name": "Status", "data": "pending"}},
           {"op": "path.move", "args": {"src": tree, "dest": ROOT + "\\1.22.5"}}, {"op": "go.run", "args": {}}]
    undo = ip.rollback_ops(plan, ran, "1.22.5", ROOT)
    assert [(o["op"], o["args"].get("path")) for o in undo] == [
        ("path.remove", ROOT + "\\1.22.5"), ("path.remove", plan.staging), ("registry.remove", ip.record_key("1.22.5"))]
    # a failure before anything was moved only drops the staging folder
    assert [o["op"] for o in ip.rollback_ops(plan, [{"op": "zip.extract", "args": {}}], "1.22.5", ROOT)] == ["path.remove"]


def test_a_reinstall_moves_the_old_folder_aside_only_after_verifying_and_puts_it_back_on_failure():
    # installed for another arch: reinstall
    obs = observed(installed=["1.22.5"], active="1.22.5", entries=["1.22.5"], version_file="go1.22.5\n", pe="arm64")
    plan = ip.plan_present(params(), obs, "1.22.5", "amd64", "t0k3n")
    assert plan.needs_install and plan.replaces == "1.22.5"
    assert not any(o["op"] == "path.remove" for o in plan.pre_ops)  # nothing is deleted up front
    ops = ip.install_ops(params(), plan, "1.22.5", "amd64",
                         {"mode": "host", "url": "https://m/go.zip", "sha256": "cd" * 32, "filename": "go.zip"}, "t")
    names = [o["op"] for o in ops]
    aside = names.index("path.move")
    assert ops[aside]["args"] == {"src": ROOT + "\\1.22.5", "dest": plan.staging + "\\old"}
    assert max(i for i, n in enumerate(names) if n == "file.stat") < aside < names.index("go.run")
    # the new tree failed go version: the new one goes, the old one comes back, the old record is restored
    ran = ops[:names.index("go.run")]
    undo = ip.rollback_ops(plan, ran, "1.22.5", ROOT)
    assert [(o["op"], o["args"].get("path") or o["args"].get("src")) for o in undo][:3] == [
        ("path.remove", ROOT + "\\1.22.5"), ("path.move", plan.staging + "\\old"), ("path.remove", plan.staging)]
    assert undo[1]["args"]["dest"] == ROOT + "\\1.22.5"
    restored = {o["args"]["name"]: o["args"]["data"] for o in undo if o["op"] == "registry.set"}
    assert restored.get("Status") == "installed" and undo[3]["op"] == "registry.remove"
    # a failure while moving the old folder aside (in use): it never left, only staging is dropped
    ran = ops[:aside]
    undo = ip.rollback_ops(plan, ran, "1.22.5", ROOT)
    assert ("path.move" not in [o["op"] for o in undo]) and undo[0] == {"op": "path.remove", "args": {"path": plan.staging, "recurse": True}}


def test_toolchains_view():
    obs = observed(installed=["1.21.13", "1.22.5"], active="1.22.5")
    view = ip.toolchains_from(obs)
    assert [t["version"] for t in view] == ["1.22.5", "1.21.13"]
    assert view[0]["active"] and not view[1]["active"]
    assert view[0]["sha256"] == "ab" * 32


# ---------------------------------------------------------------- ACLs: flags and SIDs (acl family)

import re  # noqa: E402

SID = re.compile(r"^S-1-\d+(-\d+)+$")


def test_acl_matches_compares_the_exact_flags():
    def hardened(flags_of_users):
        aces = [dict(a) for a in HARDENED_ACL["aces"]]
        aces[2]["flags"] = flags_of_users
        aces[2]["inherit"] = flags_of_users == ["OI", "CI"]
        return dict(HARDENED_ACL, canonical=True, aces=aces)

    assert ip.acl_matches(hardened(["OI", "CI"]), ip.desired_aces({}))
    for flags in (["OI", "CI", "IO"], ["OI", "CI", "NP"], ["OI"], ["CI"], []):
        assert not ip.acl_matches(hardened(flags), ip.desired_aces({})), flags


def test_acl_matches_wants_a_canonical_dacl_and_each_ace_once():
    assert not ip.acl_matches(dict(HARDENED_ACL, canonical=False), ip.desired_aces({}))
    doubled = dict(HARDENED_ACL, aces=HARDENED_ACL["aces"] + [HARDENED_ACL["aces"][2]])
    assert not ip.acl_matches(doubled, ip.desired_aces({}))
    other = dict(HARDENED_ACL, aces=HARDENED_ACL["aces"] + [
        {"sid": None, "mask": 0, "type": "other", "inherit": False, "flags": [], "inherited": False}])
    assert not ip.acl_matches(other, ip.desired_aces({}))


def test_the_controller_builds_acls_from_sids_and_resolves_only_read_groups():
    # English names of well-known groups do not resolve on localized Windows (Administratoren, ...)
    ops = ip.probe_ops(ROOT, "1.22.5", True, ["CORP\\GoDevs"])
    assert [o["args"]["names"] for o in ops if o["op"] == "identity.resolve"] == [["CORP\\GoDevs"]]
    assert [o for o in ip.probe_ops(ROOT, "1.22.5", True, []) if o["op"] == "identity.resolve"] == []
    obs = observed(acl=DEFAULT_ACL)
    obs.group_sids = {"CORP\\GoDevs": "S-1-5-21-1-2-3-1111"}
    plan = ip.plan_present(params(), obs, "1.22.5", "amd64", "x")
    sets = [o for o in plan.ops() if o["op"] == "acl.set"]
    assert sets, "a default ACL is hardened"
    identities = [a["identity"] for o in sets for a in o["args"]["aces"]]
    assert identities == ["S-1-5-32-544", "S-1-5-18", "S-1-5-32-545", "S-1-5-21-1-2-3-1111"]
    assert all(SID.match(i) for i in identities)
