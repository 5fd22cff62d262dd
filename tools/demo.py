#!/usr/bin/env python
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: run gowin.server's site playbook against three SIMULATED Windows hosts.

Nothing here touches Windows. The hosts are `gowin.server.winsim` models kept on disk under
.tmp/demo/state, and the Go distributions come from a local mirror of STAND-INS
(tools/gomirror.py), not real Go. Run it after the venv and the collection symlink exist
(`make demo` sees to that); it uses the ansible-playbook next to the Python running it.

Steps: build the example service examples/orders-api for windows/amd64 with the Go toolchain on
PATH (tests/fixtures/build.py's builder, into .tmp/demo/build), build the mirror under
.tmp/demo/mirror, serve it on 127.0.0.1, write .tmp/demo/inventory.yml (ws2016, ws2019, ws2022, with
orders-api in go_service_services), run `ansible-playbook gowin.server.site` (the toolchain, then
the services), then ask every host what it now has with the gowin.server.go_facts module, and what
orders-api is with gowin.server.win_service_go in check mode, and print two tables. Exits non-zero
if Go is missing, or the build, the playbook or a read-back fails.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import typing as t

# The variables that point the go_toolchain role at the local mirror. `{base}` is the mirror's
# base URL (http://127.0.0.1:<port>). The one place these names live: bench.py uses them too.
ROLE_VARS: dict[str, t.Any] = {
    "go_toolchain_index_url": "{base}/dl/?mode=json&include=all",
    "go_toolchain_base_url": "{base}/dl/",
    "go_toolchain_allow_plain_http": True,
}

DEMO_HOSTS: dict[str, str] = {"ws2016": "ws2016", "ws2019": "ws2019", "ws2022": "ws2022"}  # host -> os profile
CONNECTION = "gowin.server.winsim"
OS_PROFILE_VAR = "ansible_winsim_os_profile"
STATE_DIR_VAR = "ansible_winsim_state_dir"
LATENCY_VAR = "ansible_winsim_latency_ms"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `make collection` links the work tree in as gowin.server here (see the Makefile).
COLLECTIONS_ROOT = os.path.join(REPO, ".tmp", "collections")
TOOLS = os.path.join(REPO, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import gomirror  # noqa: E402

BANNER = (
    "SIMULATED: the hosts above are gowin.server.winsim models on disk, not Windows machines, and the\n"
    "Go distributions are stand-ins served by tools/gomirror.py, not real Go toolchains."
)


# The example service (examples/orders-api) as the demo deploys it. The address it listens on is in its
# build (the winsim behaviour marker, which the program also takes as its default address, so the marker
# tells the truth about it) and in its environment (ORDERS_ADDR); the health check asks /healthz there.
SERVICE_NAME = "orders-api"
SERVICE_SOURCE = os.path.join(REPO, "examples", "orders-api")
SERVICE_PORT = 8080
SERVICE_ADDR = "0.0.0.0:%d" % SERVICE_PORT
SERVICE_MARKER = "gowin-winsim-behaviour:" + json.dumps({"listen": SERVICE_ADDR}, separators=(",", ":"))
SERVICE_HEALTH_URL = "http://127.0.0.1:%d/healthz" % SERVICE_PORT
DEPLOY_TASK = "Deploy the Go service"  # the go_service role's task (roles/go_service/tasks/main.yml)
RECORDER = os.path.join(REPO, "tests", "integration", "callback_plugins")  # gowin_record: task results as JSON lines

SERVICE_BANNER = (
    "SIMULATED: orders-api is a real Go program built for windows/amd64 from examples/orders-api, but on\n"
    "these hosts nothing runs it: winsim models its service from the binary (it dispatches to the SCM,\n"
    "and its behaviour marker says it answers GET /healthz on %s), and the health checks are modelled." % SERVICE_ADDR
)


class DemoError(Exception):
    pass


# ------------------------------------------------------------------------------------ helpers


def role_vars(base_url: str) -> dict[str, t.Any]:
    return {k: (v.format(base=base_url) if isinstance(v, str) else v) for k, v in ROLE_VARS.items()}


def ansible_bin(name: str) -> str:
    """The venv's ansible entry point next to sys.executable (no symlink resolving: that is the venv)."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found:
        return found
    raise DemoError("%s not found next to %s nor on PATH: create the venv first (make venv)" % (name, sys.executable))


def check_collection() -> None:
    link = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "gowin", "server")
    if not os.path.isfile(os.path.join(link, "galaxy.yml")):
        raise DemoError("%s is missing: the collection link must exist first (make collection)" % link)


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    cfg = os.path.join(REPO, "ansible.cfg")
    if os.path.isfile(cfg):
        env["ANSIBLE_CONFIG"] = cfg
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS_ROOT)
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    env.update(extra)
    return env


def _dump_yaml(data: t.Any) -> str:
    try:
        import yaml  # ansible-core depends on PyYAML, so the venv has it
    except ImportError:  # JSON is YAML too
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def write_inventory(path: str, hosts: dict[str, dict[str, t.Any]], group_vars: dict[str, t.Any]) -> str:
    """An inventory with every host in group `windows` (and so in `all`)."""
    inventory = {
        "all": {
            "vars": group_vars,
            "children": {"windows": {"hosts": hosts}},
        }
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("# Written by tools/%s: SIMULATED hosts (gowin.server.winsim), stand-in Go mirror.\n"
                     % os.path.basename(sys.argv[0] or "demo.py"))
        handle.write(_dump_yaml(inventory))
    return path


def base_group_vars(state_dir: str, base_url: str) -> dict[str, t.Any]:
    group_vars: dict[str, t.Any] = {"ansible_connection": CONNECTION, STATE_DIR_VAR: state_dir}
    group_vars.update(role_vars(base_url))
    return group_vars


_ADHOC_LINE = re.compile(r"^(?P<host>\S+) \| (?P<status>[A-Z!]+)(?: \| rc=-?\d+)? => ", re.M)
_RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)",
    re.M,
)


def parse_adhoc(stdout: str) -> dict[str, dict]:
    """{host: result} from an ad-hoc run's output (minimal callback: `host | SUCCESS => {json}`).

    Parsed from text because ansible-core's json stdout callback now lives in ansible.posix, which
    this project does not install, and the tree callback is deprecated.
    """
    decoder = json.JSONDecoder()
    out: dict[str, dict] = {}
    for match in _ADHOC_LINE.finditer(stdout):
        try:
            result, _end = decoder.raw_decode(stdout, match.end())
        except ValueError:
            result = {"failed": True, "msg": stdout[match.end():match.end() + 400]}
        if not isinstance(result, dict):
            result = {"msg": result}
        result.setdefault("_status", match.group("status"))
        out[match.group("host")] = result
    return out


def parse_recap(stdout: str) -> dict[str, dict[str, int]]:
    """{host: {ok, changed, unreachable, failed}} from the PLAY RECAP of ansible-playbook."""
    return {
        m.group("host"): {k: int(m.group(k)) for k in ("ok", "changed", "unreachable", "failed")}
        for m in _RECAP_LINE.finditer(stdout)
    }


def import_winsim():
    """WinSimHost from the collection (the link makes it importable under ansible_collections)."""
    if COLLECTIONS_ROOT not in sys.path:
        sys.path.insert(0, COLLECTIONS_ROOT)
    from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost  # noqa: E402

    return WinSimHost


def run(cmd: list[str], env: dict[str, str], capture: bool = False, shown: str | None = None) -> subprocess.CompletedProcess:
    print("$ " + (shown or " ".join(cmd)), flush=True)
    return subprocess.run(cmd, env=env, cwd=REPO, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, check=False)


# ------------------------------------------------------------------------------------ facts


def query_facts(inventory: str) -> dict[str, dict]:
    """Run gowin.server.go_facts on every host; {host: result}."""
    facts_env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_NOCOLOR="1")
    facts_env.pop("ANSIBLE_FORCE_COLOR", None)
    proc = run([ansible_bin("ansible"), "-i", inventory, "all", "-m", "gowin.server.go_facts"], facts_env, capture=True)
    results = parse_adhoc(proc.stdout or "")
    bad = {h: r for h, r in results.items() if r.get("failed") or r.get("unreachable") or r["_status"] not in ("SUCCESS", "CHANGED")}
    if proc.returncode != 0 or not results or bad:
        for host, res in sorted(bad.items()):
            sys.stderr.write("%s: %s\n" % (host, res.get("msg", res)))
        if not results:
            sys.stderr.write(proc.stdout or "")
        sys.stderr.write(proc.stderr or "")
        raise DemoError("gowin.server.go_facts failed (rc=%s)" % proc.returncode)
    return results


def _short(sha: str | None) -> str:
    return (sha or "")[:12]


def print_table(results: dict[str, dict], counters: dict[str, dict] | None = None) -> None:
    rows = []
    for host in sorted(results):
        gowin = (results[host].get("ansible_facts") or {}).get("gowin") or {}
        chains = gowin.get("toolchains") or []
        first = True
        for chain in chains or [{}]:
            active = chain.get("active")
            if active is None and chain:
                active = bool(gowin.get("active")) and gowin.get("active") in (chain.get("version"), chain.get("path"))
            rows.append((
                host if first else "",
                (gowin.get("os_caption") or "?") if first else "",
                str(chain.get("version", "(none)")),
                str(chain.get("arch", "")),
                str(chain.get("path", "")),
                _short(chain.get("sha256")),
                "yes" if active else "",
            ))
            first = False
    headers = ("host", "os (simulated)", "toolchain", "arch", "path", "sha256", "active")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)).rstrip())
    if counters:
        print()
        print("round trips used by the play (winsim counters): " + ", ".join(
            "%s %s" % (h, c.get("round_trips", "?")) for h, c in sorted(counters.items())))


def reset_counters(state_dir: str, hosts: t.Iterable[str]) -> None:
    try:
        WinSimHost = import_winsim()
        for host in hosts:
            WinSimHost(state_dir, host, profile=DEMO_HOSTS.get(host, host)).reset_counters()
    except Exception:  # only the round-trip line after the table depends on it
        pass


def read_counters(state_dir: str, hosts: t.Iterable[str]) -> dict[str, dict] | None:
    try:
        WinSimHost = import_winsim()
        return {h: dict(WinSimHost(state_dir, h, profile=DEMO_HOSTS.get(h, h)).counters()) for h in hosts}
    except Exception:  # the table above is the point; counters are a bonus
        return None


# ------------------------------------------------------------------------------------ the service


def _fixture_builder():
    """tests/fixtures/build.py, the one Go builder of the project (environment, cache, GoMissing)."""
    spec = importlib.util.spec_from_file_location("gowin_fixture_build", os.path.join(REPO, "tests", "fixtures", "build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_service(out_dir: str) -> dict[str, str]:
    """Build examples/orders-api for windows/amd64 into out_dir: {"path", "sha256"}. DemoError without Go."""
    builder = _fixture_builder()
    try:
        exe = builder.build_module(SERVICE_SOURCE, SERVICE_NAME, arch="amd64", out=out_dir,
                                   flags=("-trimpath", "-ldflags=-X main.behaviour=" + SERVICE_MARKER))
    except builder.GoMissing as err:
        raise DemoError("%s.\nThe demo builds its example service (examples/orders-api) for windows/amd64 with Go: "
                        "install it (Debian and Ubuntu: apt-get install golang-go; or `make go-toolchain`) and run "
                        "make demo again." % err) from None
    except (RuntimeError, OSError) as err:
        raise DemoError("building examples/orders-api failed: %s" % err) from None
    with open(exe, "rb") as handle:
        sha = hashlib.sha256(handle.read()).hexdigest()
    return {"path": exe, "sha256": sha}


def service_entry(binary: dict[str, str]) -> dict[str, t.Any]:
    """orders-api as an entry of go_service_services (the options of gowin.server.win_service_go)."""
    return {
        "name": SERVICE_NAME,
        "display_name": "Orders API (gowin.server example)",
        "description": "The example Go service of gowin.server (examples/orders-api).",
        "src": binary["path"],
        "checksum": "sha256:" + binary["sha256"],
        "args": ["-shutdown-timeout", "15s"],
        "environment": {"ORDERS_ADDR": SERVICE_ADDR, "GOMAXPROCS": "2"},
        "stop_timeout_s": 20,
        "firewall": {"port": SERVICE_PORT, "remote_addresses": ["LocalSubnet"]},
        "health": {"http": {"url": SERVICE_HEALTH_URL, "body_regex": "^ok$"}, "success_threshold": 2,
                   "period_s": 1, "startup_timeout_s": 30},
    }


def read_deploys(record: str) -> dict[str, dict]:
    """{host: the deploy result of orders-api} from the JSON lines gowin_record wrote during the site run (the first
    one: validate later runs the same role task in check mode)."""
    out: dict[str, dict] = {}
    if not os.path.isfile(record):
        return out
    with open(record, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            task = entry.get("task") or ""
            if task != DEPLOY_TASK and not task.endswith(" : " + DEPLOY_TASK):
                continue
            for item in (entry.get("result") or {}).get("results") or []:
                if ((item.get("service") or {}).get("name") or "").lower() == SERVICE_NAME:
                    out.setdefault(entry["host"], item)
    return out


def query_service(inventory: str, entry: dict[str, t.Any]) -> dict[str, dict]:
    """gowin.server.win_service_go in check mode with the deployed entry on every host: {host: result}.
    It reads the service, its release and firewall rule and reports what it would change (nothing)."""
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_FORCE_COLOR", None)
    proc = run([ansible_bin("ansible"), "-i", inventory, "all", "--check", "-m", "gowin.server.win_service_go",
                "-a", json.dumps(entry)], env, capture=True,
               shown="ansible -i %s all --check -m gowin.server.win_service_go -a '<the orders-api entry of go_service_services>'"
               % os.path.relpath(inventory, REPO))
    results = parse_adhoc(proc.stdout or "")
    bad = {h: r for h, r in results.items() if r.get("failed") or r.get("unreachable") or r["_status"] not in ("SUCCESS", "CHANGED")}
    if proc.returncode != 0 or set(results) != set(DEMO_HOSTS) or bad:
        for host, res in sorted(bad.items()):
            sys.stderr.write("%s: %s\n" % (host, res.get("msg", res)))
        if not results:
            sys.stderr.write(proc.stdout or "")
        sys.stderr.write(proc.stderr or "")
        raise DemoError("gowin.server.win_service_go (check mode) failed (rc=%s)" % proc.returncode)
    return results


def service_rows(readback: dict[str, dict], deploys: dict[str, dict]) -> list[dict[str, t.Any]]:
    """One row per host: what the check-mode read-back says of the service, and the health check the site
    run's deploy made when it started it (a service the run did not start was not probed)."""
    rows = []
    for host in sorted(readback):
        res = readback[host]
        service = res.get("service") or {}
        release = res.get("release") or {}
        deploy = deploys.get(host) or {}
        health = deploy.get("health")
        rows.append({
            "host": host,
            "service": service.get("name"),
            "state": service.get("state"),
            "release": _short(release.get("sha256")),
            "in_sync": not res.get("changed"),
            "deployed": "changed" if deploy.get("changed") else ("unchanged" if deploy else "?"),
            "healthy": deploy.get("healthy") if health is not None else None,
            "health": health,
        })
    return rows


def _health_text(health: dict | None) -> str:
    if health is None:
        return "not probed: this run did not start it (nothing changed)"
    probes = health.get("probes") or []
    last = probes[-1] if probes else {}
    text = "GET %s -> %s %r, %d probe(s)" % (health.get("target"), last.get("status"), last.get("body"), len(probes))
    if health.get("modelled"):
        text += ", modelled"
    return text


def print_service_table(rows: list[dict[str, t.Any]]) -> None:
    headers = ("host", "service", "state", "release", "deploy", "in sync", "healthy", "health check of the deploy")
    table = [(r["host"], str(r["service"]), str(r["state"]), r["release"], r["deployed"], "yes" if r["in_sync"] else "NO",
              {True: "yes", False: "NO", None: "-"}[r["healthy"]], _health_text(r["health"])) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(headers)]
    print("  ".join("%-*s" % (w, h) for w, h in zip(widths, headers)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)).rstrip())


# ------------------------------------------------------------------------------------ main


def print_report(report_dir: str) -> None:
    """Where the fleet report is, and one screen of it: each host by area, then the checks by status."""
    path = os.path.join(report_dir, "report.json")
    if not os.path.exists(path):
        print("\nNo fleet report was written (%s is missing)." % os.path.relpath(path, REPO))
        return
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    s = doc["summary"]
    print("\nFleet report (gowin.server.fleet_report): %s" % os.path.relpath(os.path.join(report_dir, "report.html"), REPO))
    print("  also report.json and report.junit.xml there; run %s%s\n" % (doc["run_id"], ", SIMULATED hosts" if doc["simulated"] else ""))
    headers = ["host", "status", "toolchain", "services", "baseline"]
    rows = [[h["name"], h["status"]] + ["%s %d/%d" % (c["status"], c["passed"], c["checks"])
                                        for c in (s["matrix"][h["name"]][a] for a in ("toolchain", "services", "baseline"))]
            for h in doc["hosts"]]
    widths = [max(len(x) for x in col) for col in zip(headers, *rows)]
    print("  ".join("%-*s" % (w, x) for w, x in zip(widths, headers)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join("%-*s" % (w, x) for w, x in zip(widths, row)).rstrip())
    print("\nchecks: " + ", ".join("%d %s" % (s["checks"][k], k) for k in ("pass", "fail", "error", "waived", "skipped")) +
          " (the baseline ran in audit mode: nothing was changed to make it pass)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--workdir", default=os.path.join(REPO, ".tmp", "demo"))
    parser.add_argument("--keep-state", action="store_true",
                        help="keep the simulated hosts from the last demo (shows an idempotent re-run)")
    parser.add_argument("--playbook", default="gowin.server.site")
    args = parser.parse_args(argv)

    workdir = os.path.abspath(args.workdir)
    state_dir = os.path.join(workdir, "state")
    mirror_dir = os.path.join(workdir, "mirror")
    inventory = os.path.join(workdir, "inventory.yml")
    record = os.path.join(workdir, "site-results.jsonl")

    print(BANNER + "\n", flush=True)
    try:
        check_collection()
        playbook_bin = ansible_bin("ansible-playbook")
        binary = build_service(os.path.join(workdir, "build"))
        print("orders-api: %s (windows/amd64, sha256 %s)" % (os.path.relpath(binary["path"], REPO), _short(binary["sha256"])))
        entry = service_entry(binary)
        if not args.keep_state and os.path.isdir(state_dir):
            shutil.rmtree(state_dir)
        elif os.path.isdir(state_dir) and os.listdir(state_dir):
            reset_counters(state_dir, DEMO_HOSTS)
        os.makedirs(state_dir, exist_ok=True)

        info = gomirror.build(mirror_dir)
        server, base = gomirror.serve(mirror_dir)
        try:
            print("stand-in Go mirror: %s/dl/ (%d zips, %d releases)" % (base, len(info["files"]), len(info["index"])))
            hosts = {name: {OS_PROFILE_VAR: profile} for name, profile in DEMO_HOSTS.items()}
            group_vars = base_group_vars(state_dir, base)
            group_vars["go_service_services"] = [entry]
            write_inventory(inventory, hosts, group_vars)
            print("inventory: %s\n" % os.path.relpath(inventory, REPO), flush=True)

            if os.path.exists(record):
                os.remove(record)
            enabled = [c for c in os.environ.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
            plugins = [p for p in os.environ.get("ANSIBLE_CALLBACK_PLUGINS", "").split(os.pathsep) if p]
            env = ansible_env(GOWIN_RECORD_FILE=record, ANSIBLE_CALLBACKS_ENABLED=",".join(enabled + ["gowin_record"]),
                              ANSIBLE_CALLBACK_PLUGINS=os.pathsep.join(plugins + [RECORDER]))
            report_dir = os.path.join(workdir, "report")
            proc = run([playbook_bin, args.playbook, "-i", inventory, "-e", json.dumps({"gowin_report_dir": report_dir})], env,
                       capture=True)
            sys.stdout.write(proc.stdout)
            sys.stderr.write(proc.stderr)
            warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "[WARNING]" in line]
            if warnings:
                print("\nThe playbook printed %d warning(s); the demo must run clean." % len(warnings), file=sys.stderr)
                return 3
            if proc.returncode != 0:
                print("\nThe playbook failed (rc=%d); the simulated hosts are left in %s for inspection."
                      % (proc.returncode, os.path.relpath(state_dir, REPO)), file=sys.stderr)
                return proc.returncode or 1
            counters = read_counters(state_dir, DEMO_HOSTS)

            print("\nWhat each simulated host has now (gowin.server.go_facts):\n", flush=True)
            results = query_facts(inventory)
            print()
            print_table(results, counters)

            print("\nThe example service on each simulated host (gowin.server.win_service_go, check mode):\n", flush=True)
            rows = service_rows(query_service(inventory, entry), read_deploys(record))
            print()
            print_service_table(rows)
            print("\n" + BANNER)
            print(SERVICE_BANNER)
            downloads = [r for r in server.requests if r["path"].endswith(".zip") and r["status"] == 200]
            print("The mirror served %d download(s) to the simulated hosts." % len(downloads))
            print_report(report_dir)
            wrong = [r["host"] for r in rows if r["state"] != "running" or not r["in_sync"] or r["healthy"] is False]
            if wrong:
                print("\norders-api is not running and in sync on %s." % ", ".join(wrong), file=sys.stderr)
                return 4
        finally:
            server.shutdown()
    except DemoError as err:
        print("demo: %s" % err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
