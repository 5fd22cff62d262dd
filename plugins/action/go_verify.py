# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.go_verify: read (1 round trip), run the checks (1 round trip), judge."""

from __future__ import annotations

import json
import secrets

from ansible_collections.gowin.server.plugins.plugin_utils import _env_plan as ep
from ansible_collections.gowin.server.plugins.plugin_utils import _goenv as ge
from ansible_collections.gowin.server.plugins.plugin_utils import _goversion as gv
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
from ansible_collections.gowin.server.plugins.plugin_utils._channel import Channel

HELLO = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hello from gowin.server")\n}\n'
# option -> go env name, for expectations compared as text
EXPECT_VARS = {
    "gopath": "GOPATH", "gobin": "GOBIN", "gomodcache": "GOMODCACHE", "gocache": "GOCACHE", "goproxy": "GOPROXY",
    "gosumdb": "GOSUMDB", "goprivate": "GOPRIVATE", "gonoproxy": "GONOPROXY", "gonosumdb": "GONOSUMDB",
    "goinsecure": "GOINSECURE", "goflags": "GOFLAGS", "gotoolchain": "GOTOOLCHAIN",
}
PATH_VARS = {"GOROOT", "GOPATH", "GOBIN", "GOMODCACHE", "GOCACHE"}


def _joined(value, sep: str) -> str:
    return sep.join(str(v).strip() for v in value) if isinstance(value, list) else str(value)


def expectations(p: dict) -> dict[str, str]:
    want: dict[str, str] = {}
    if p.get("goroot") is not None:
        want["GOROOT"] = wp.normalize(p["goroot"])
    for option, name in EXPECT_VARS.items():
        if p.get(option) is not None:
            want[name] = _joined(p[option], " " if option == "goflags" else ",")
    if p.get("cgo_enabled") is not None:
        want["CGO_ENABLED"] = "1" if p["cgo_enabled"] else "0"
    for name, value in (p.get("env") or {}).items():
        want[str(name).upper()] = "1" if value is True else "0" if value is False else str(value)
    return want


def same_value(name: str, expected: str, actual: str | None) -> bool:
    if actual is None:
        return False
    if name in PATH_VARS:
        return [wp.normalize(x).lower() for x in expected.split(";") if x] == [wp.normalize(x).lower() for x in actual.split(";") if x]
    return expected == actual


class ActionModule(GowinAction):
    MODULE = "go_verify"

    def execute(self, params: dict, channel: Channel, task_vars: dict) -> dict:
        p = dict(params)
        try:
            p["install_root"] = wp.check_absolute("install_root", p["install_root"], strict=True)
            if p.get("go_exe") is not None:
                p["go_exe"] = wp.check_absolute("go_exe", p["go_exe"])
            request = gv.parse_request("version", p["version"]) if p.get("version") is not None else None
            if request is not None and request.kind == "latest":
                raise gv.VersionError("version must be an exact version (1.22.5) or a minor series (1.22), not latest")
            # expected values are held to the rules go_env sets them by: a value go_env would refuse can
            # never be what a host has, and the message should say so, naming the option
            checked = {option: p.get(option) for option in EXPECT_VARS}
            checked["goroot"] = p.get("goroot")
            ep.desired_values(dict(checked, allow_plain_http=True, allow_unknown_goflags=True))
            for name, value in (p.get("env") or {}).items():
                if not isinstance(value, (str, int, float, bool)):
                    raise ModuleFailure("env: the expected value of %s must be a string, number or boolean, got %s"
                                        % (str(name)[:80], type(value).__name__))
            want = expectations(p)
        except (wp.PathError, gv.VersionError, ge.GoEnvError) as err:
            raise ModuleFailure(str(err)) from None

        # the probe of go_env, without what only go_env uses (its goroot is an expectation here, not a root)
        ops, tags = ep.probe_ops(dict(p, goroot=None, state="absent", session_script=None), read_go_env=False)
        obs = ep.observe(tags, channel.run_checked(ops))
        env = ge.effective_windows_env(obs.machine, obs.user)
        lower = {k.upper(): v for k, v in env.items()}
        goroot = lower.get("GOROOT") or (ep.default_goroot(p, obs) or wp.join(p["install_root"], "current"))
        exe = p.get("go_exe") or wp.join(goroot, "bin", "go.exe")

        # go.run starts go.exe with the environment a new process gets from the registry now (the
        # agent builds it), so what go_env just set is seen without sending it along.
        run_ops = [
            {"op": "go.run", "args": {"exe": exe, "args": ["version"]}},
            {"op": "go.run", "args": {"exe": exe, "args": ["env", "-json"]}},
        ]
        build = p["build"] and not self.check_mode
        work = None
        if build:
            work = wp.join(obs.facts.get("temp") or "C:\\Windows\\Temp", "gowin-verify-" + secrets.token_hex(4))
            # the smoke test needs no network and must test this toolchain with no user flags
            build_env = {"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOPROXY": "off"}
            run_ops += [
                {"op": "dir.ensure", "args": {"path": work}},
                {"op": "go.run", "args": {"exe": exe, "args": ["mod", "init", "example.com/hello"], "cwd": work, "env": build_env}},
                {"op": "file.write", "args": {"path": wp.join(work, "main.go"), "content": HELLO}},
                {"op": "go.run", "args": {"exe": exe, "args": ["build", "-o", "hello.exe", "."], "cwd": work, "env": build_env}},
                {"op": "file.stat", "args": {"path": wp.join(work, "hello.exe"), "pe": True}},
                {"op": "path.remove", "args": {"path": work, "recurse": True}},
            ]
        results = channel.run(run_ops)
        data = [r.get("data") or {} for r in results]
        errors = {i: (r.get("error") or {}) for i, r in enumerate(results) if not r.get("ok")}
        if work and len(results) < len(run_ops):  # stopped early: never leave the temp folder behind
            channel.run([{"op": "path.remove", "args": {"path": work, "recurse": True}}])

        checks: list[dict] = []
        modelled = any(d.get("modelled") for d in data)

        def check(name: str, ok: bool, expected, actual, **evidence) -> None:
            entry = {"name": name, "pass": bool(ok), "expected": expected, "actual": actual, "modelled": modelled}
            entry.update(evidence)
            checks.append(entry)

        version_out = (data[0].get("stdout") or "").strip() if 0 not in errors else ""
        ran = 0 not in errors and data[0].get("rc") == 0
        if request is None:
            check("go version", ran, "go runs", version_out or errors.get(0, {}).get("message"))
        else:
            found = version_out.split()[2] if ran and len(version_out.split()) > 2 else ""
            ok = found == "go" + request.exact_name() if request.kind == "exact" else found.startswith("go%d.%d" % (request.major, request.minor))
            if request.kind == "series" and ok:
                try:
                    ok = gv.parse_release(found).series == (request.major, request.minor)
                except gv.VersionError:
                    ok = False
            check("go version", ok, "go" + (request.exact_name() if request.kind == "exact" else request.text + ".x"),
                  version_out or errors.get(0, {}).get("message"))

        go_env: dict = {}
        if 1 in errors or len(data) < 2:
            check("go env -json", False, "valid JSON", errors.get(1, {}).get("message"))
        else:
            try:
                go_env = json.loads(data[1].get("stdout") or "")
            except (ValueError, RecursionError):
                go_env = {}
            check("go env -json", isinstance(go_env, dict) and bool(go_env), "valid JSON", (data[1].get("stdout") or "")[:200])
        for name, expected in want.items():
            actual = go_env.get(name)
            check("go env %s" % name, same_value(name, expected, actual), ge.redact_url(expected),
                  ge.redact_url(actual) if isinstance(actual, str) else actual)
        path_entries = [ep.path_key(e, env) for e in (lower.get("PATH") or "").split(";") if e.strip()]
        bin_dir = wp.join(wp.parent(wp.parent(exe)), "bin")
        check("GOROOT\\bin on PATH", ep.path_key(bin_dir) in path_entries, bin_dir, "PATH of a new process (%d entries)" % len(path_entries))

        if build:
            names = ["go mod init", "write main.go", "go build", "hello.exe"]
            for offset, name in enumerate(names, start=3):
                if offset in errors:
                    check(name, False, "succeeds", errors[offset].get("message"))
                elif offset >= len(data):
                    check(name, False, "succeeds", "not run: an earlier step failed")
                elif name.startswith("go "):
                    d = data[offset]
                    check(name, d.get("rc") == 0, "exit code 0", "exit code %s" % d.get("rc"),
                          stdout=(d.get("stdout") or "")[-500:], stderr=(d.get("stderr") or "")[-500:])
                elif name == "hello.exe":
                    d = data[offset]
                    # go build makes a program for the toolchain's GOARCH (a 386 toolchain on an amd64 host
                    # builds 386 programs, which WOW64 runs); the host's own arch only when go env said nothing
                    goarch = go_env.get("GOARCH")
                    want_arch = goarch if isinstance(goarch, str) and goarch else obs.facts.get("arch")
                    check(name, bool(d.get("exists")) and d.get("pe_machine") == want_arch,
                          "a PE image for %s" % want_arch, d.get("pe_machine") if d.get("exists") else "missing")
        passed = all(c["pass"] for c in checks)
        result = {
            "changed": False,
            "passed": passed,
            "checks": checks,
            "go_exe": exe,
            "go_version": version_out,
            "go_env": {k: ge.redact_url(v) if isinstance(v, str) else v for k, v in go_env.items()},
            "modelled": modelled,
        }
        if not build and p["build"]:
            result["skipped_build"] = "check mode writes nothing"
        if not passed and p["fail_on_mismatch"]:
            failed = [c["name"] for c in checks if not c["pass"]]
            what = " (go_exe %s)" % p["go_exe"] if p.get("go_exe") else ""
            result.update(failed=True, msg="Go verification failed%s: %s" % (what, ", ".join(failed)))
        return result
