#!/usr/bin/env python
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`: run gowin.server's site playbook against three SIMULATED Windows hosts.

Nothing here touches Windows. The hosts are `gowin.server.winsim` models kept on disk under
.tmp/demo/state, and the Go distributions come from a local mirror of STAND-INS
(tools/gomirror.py), not real Go. Run it after the venv and the collection symlink exist
(`make demo` sees to that); it uses the ansible-playbook next to the Python running it.

Steps: build the mirror under .tmp/demo/mirror, serve it on 127.0.0.1, write
.tmp/demo/inventory.yml (ws2016, ws2019, ws2022), run `ansible-playbook gowin.server.site`, then
ask every host what it now has with the gowin.server.go_facts module and print a table.
Exits non-zero if the playbook or the fact query fails.
"""

from __future__ import annotations

import argparse
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


def run(cmd: list[str], env: dict[str, str], capture: bool = False) -> subprocess.CompletedProcess:
    print("$ " + " ".join(cmd), flush=True)
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
            WinSimHost(state_dir, host).reset_counters()
    except Exception:  # only the round-trip line after the table depends on it
        pass


def read_counters(state_dir: str, hosts: t.Iterable[str]) -> dict[str, dict] | None:
    try:
        WinSimHost = import_winsim()
        return {h: dict(WinSimHost(state_dir, h).counters()) for h in hosts}
    except Exception:  # the table above is the point; counters are a bonus
        return None


# ------------------------------------------------------------------------------------ main


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

    print(BANNER + "\n", flush=True)
    try:
        check_collection()
        playbook_bin = ansible_bin("ansible-playbook")
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
            write_inventory(inventory, hosts, base_group_vars(state_dir, base))
            print("inventory: %s\n" % os.path.relpath(inventory, REPO), flush=True)

            env = ansible_env()
            proc = run([playbook_bin, args.playbook, "-i", inventory], env, capture=True)
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
            print("\n" + BANNER)
            downloads = [r for r in server.requests if r["path"].endswith(".zip") and r["status"] == 200]
            print("The mirror served %d download(s) to the simulated hosts." % len(downloads))
        finally:
            server.shutdown()
    except DemoError as err:
        print("demo: %s" % err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
