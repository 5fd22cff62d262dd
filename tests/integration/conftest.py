"""Integration harness: real ansible-playbook runs against winsim hosts and a loopback Go mirror."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import gomirror  # noqa: E402  (tools/ is not a package)

from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost  # noqa: E402

BIN = Path(sys.executable).parent


@dataclass
class Mirror:
    dir: str
    base: str  # http://127.0.0.1:PORT
    index: list
    files: dict
    server: object

    @property
    def index_url(self) -> str:
        return self.base + "/dl/?mode=json&include=all"

    @property
    def dl(self) -> str:
        return self.base + "/dl/"

    def sha(self, version: str, arch: str = "amd64") -> str:
        return self.files["go%s.windows-%s.zip" % (version, arch)]["sha256"]

    def file_url(self, version: str, arch: str = "amd64") -> str:
        return self.dl + "go%s.windows-%s.zip" % (version, arch)

    def module_args(self) -> dict:
        """What every go_install task here needs to use the mirror."""
        return {"index_url": self.index_url, "base_url": self.dl, "allow_plain_http": True}


@pytest.fixture(scope="session")
def mirror(tmp_path_factory):
    # the controller's index and download caches, private to this test session
    os.environ["GOWIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("controller-cache"))
    built = gomirror.build(tmp_path_factory.mktemp("mirror"))
    server, base = gomirror.serve(built["dir"])
    yield Mirror(built["dir"], base.rstrip("/"), built["index"], built["files"], server)
    server.shutdown()


@dataclass
class TaskResult:
    host: str
    task: str
    status: str
    result: dict

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class PlayRun:
    rc: int
    stdout: str
    stderr: str
    results: list[TaskResult] = field(default_factory=list)

    def of(self, host: str, task: str | None = None) -> list[TaskResult]:
        """Results of a host, for a task by name (a role's tasks match with or without 'role : ')."""
        return [r for r in self.results
                if r.host == host and (task is None or r.task == task or r.task.endswith(" : " + task))]

    @property
    def warnings(self) -> list[str]:
        """The [WARNING] lines Ansible printed (stdout and stderr)."""
        return [line for line in (self.stdout + "\n" + self.stderr).splitlines() if "[WARNING]" in line]

    def one(self, host: str, task: str | None = None) -> TaskResult:
        found = [r for r in self.of(host, task) if not r.task.startswith("Validating arguments")]
        assert len(found) == 1, "expected one result for %s/%s, got %s\n%s" % (host, task, found, self.stdout[-3000:])
        return found[0]


class Fleet:
    """A set of winsim hosts in one state folder, and a way to run plays on them."""

    def __init__(self, root: Path, mirror: Mirror, hosts: dict[str, str], arch: dict[str, str] | None = None):
        self.root = root
        self.state_dir = root / "state"
        self.mirror = mirror
        self.hosts = hosts
        self.arch = arch or {}
        self.inventory = root / "inventory.yml"
        inv_hosts = {name: {"ansible_winsim_os_profile": profile} for name, profile in hosts.items()}
        for name, arch_name in self.arch.items():
            inv_hosts[name]["ansible_winsim_arch"] = arch_name
        self.inventory.write_text(yaml.safe_dump({"all": {
            "hosts": inv_hosts,
            "vars": {"ansible_connection": "gowin.server.winsim", "ansible_winsim_state_dir": str(self.state_dir)},
        }}))
        self._n = 0

    def host(self, name: str) -> WinSimHost:
        return WinSimHost(str(self.state_dir), name, profile=self.hosts[name], arch=self.arch.get(name, "amd64"))

    def snapshot(self) -> dict[str, str]:
        return {n: self.host(n).snapshot() for n in self.hosts}

    def round_trips(self) -> dict[str, int]:
        return {n: self.host(n).counters()["round_trips"] for n in self.hosts}

    def play(self, tasks: list[dict] | None = None, *, roles: list | None = None, check: bool = False,
             diff: bool = False, extra_vars: dict | None = None, playbook: str | None = None,
             verbosity: int = 0, env: dict | None = None, allow_warnings: bool = False,
             extra_vars_file: str | None = None) -> PlayRun:
        """Run a play; its output must hold no [WARNING] unless allow_warnings (a test that expects one
        says so and checks it)."""
        self._n += 1
        record = self.root / ("record-%d.jsonl" % self._n)
        if playbook is None:
            play = {"name": "gowin integration", "hosts": "all", "gather_facts": False}
            if tasks is not None:
                play["tasks"] = tasks
            if roles is not None:
                play["roles"] = roles
            path = self.root / ("play-%d.yml" % self._n)
            path.write_text(yaml.safe_dump([play], sort_keys=False))
            playbook = str(path)
        cmd = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), playbook]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if extra_vars_file:
            cmd += ["-e", "@" + extra_vars_file]
        for n in self.hosts:  # each play's round trips are counted from zero
            self.host(n).reset_counters()
        run_env = ansible_env(record)
        run_env.update(env or {})
        proc = subprocess.run(cmd, cwd=str(REPO), env=run_env, capture_output=True, text=True, timeout=600, check=False)
        results = []
        if record.exists():
            for line in record.read_text().splitlines():
                d = json.loads(line)
                results.append(TaskResult(d["host"], d["task"], d["status"], d["result"]))
        run = PlayRun(proc.returncode, proc.stdout, proc.stderr, results)
        if not allow_warnings:
            assert not run.warnings, "unexpected warnings in the ansible output:\n" + "\n".join(run.warnings)
        return run

    def install(self, check: bool = False, diff: bool = False, allow_warnings: bool = False, **args) -> PlayRun:
        task_args = dict(self.mirror.module_args())
        task_args.update(args)
        return self.play([{"name": "install", "gowin.server.go_install": task_args}], check=check, diff=diff,
                         allow_warnings=allow_warnings)


def ansible_env(record: Path | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".tmp" / "collections"),
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "gowin_record",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": str(BIN) + os.pathsep + env.get("PATH", ""),
    })
    if record is not None:
        env["GOWIN_RECORD_FILE"] = str(record)
    return env


def reg(host: WinSimHost, path: str, name: str):
    """The data of a registry value on a winsim host, or None."""
    value = host.registry_value(path, name)
    return value["data"] if value else None


@pytest.fixture
def fleet(tmp_path, mirror) -> Fleet:
    return Fleet(tmp_path, mirror, {"ws2016": "ws2016", "ws2019": "ws2019", "ws2022": "ws2022"})


@pytest.fixture
def host1(tmp_path, mirror) -> Fleet:
    """One ws2022 host: for tests about a module's behaviour rather than fleet variety."""
    return Fleet(tmp_path, mirror, {"win1": "ws2022"})
