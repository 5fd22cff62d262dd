# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tools/bench.py's fleet-scale helpers: /proc parsing, the process tree, the per-task CPU segments, the CPU per
host-task arithmetic, the section's tables and its splice into docs/benchmarks.md. No ansible-playbook run."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools"))

import bench  # noqa: E402


def _segment(kind="task", name="t", action="ansible.builtin.assert", cpu=1.0, **statuses):
    out = {"kind": kind, "name": name, "action": action, "cpu": cpu, "wall": cpu, "changed": 0}
    out.update({status: statuses.get(status, 0) for status in bench.RESULT_STATUSES})
    return out


def test_parse_stat_reads_ppid_cpu_and_rss_past_a_command_name_with_spaces_and_brackets():
    # fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
    line = "4242 (ansible-play (x) y) S 17 4242 4242 0 -1 4194304 10 0 0 0 300 40 7 3 20 0 1 0 123 456789 2048 rest"
    assert bench.parse_stat(line) == (17, 350, 2048)


def test_parse_stat_of_this_process_is_the_real_parent():
    with open("/proc/self/stat", encoding="utf-8") as handle:
        ppid, ticks, rss = bench.parse_stat(handle.read())
    assert ppid == os.getppid()
    assert ticks >= 0 and rss > 0


def test_parse_proc_stat_cpu_counts_every_state_but_idle_and_iowait():
    text = "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\n"
    assert bench.parse_proc_stat_cpu(text) == 100 + 5 + 50 + 3 + 2 + 7
    with open("/proc/stat", encoding="utf-8") as handle:
        assert 0 < bench.parse_proc_stat_cpu(handle.read()) / os.sysconf("SC_CLK_TCK") == pytest.approx(bench.machine_cpu(), abs=60)


def test_descendants_walks_the_whole_tree_and_nothing_else():
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert sorted(bench.descendants(parents, 10)) == [10, 11, 12, 13]
    assert bench.descendants(parents, 13) == [13]
    assert bench.descendants(parents, 99) == [99]  # gone: only itself


def test_tree_cpu_counts_a_busy_child_in_its_parents_tree():
    # /proc counts CPU in clock ticks (utime and stime each rounded down), process_time in nanoseconds: 0.3 s spent
    # reads as at least 0.3 s less two ticks
    busy = "import sys, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nsys.stdin.read()"
    least = 0.3 - 2.0 / os.sysconf("SC_CLK_TCK")
    child = subprocess.Popen([sys.executable, "-c", busy], stdin=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while bench.tree_cpu(child.pid) < least and time.monotonic() < deadline:
            time.sleep(0.05)
        spent = bench.tree_cpu(child.pid)
        assert spent >= least
        assert bench.tree_cpu(os.getpid()) >= spent  # the live child is counted in this process's tree
    finally:
        child.communicate("")


def test_segment_log_gives_each_segment_the_cpu_and_results_until_the_next_event(tmp_path):
    path = str(tmp_path / "cpu.jsonl")
    cpu, clock = itertools.count(0, 2), itertools.count(100, 1)  # cpu 0, 2, 4 ...; clock 100, 101, ...
    log = bench.SegmentLog(path, lambda: float(next(cpu)), lambda: float(next(clock)))
    log.result("ok")  # before any segment: ignored
    log.boundary("play", "p")
    log.boundary("task", "install", "gowin.server.go_install")
    log.result("ok", changed=True)
    log.result("ok")
    log.result("skipped")
    log.result("failed")
    log.boundary("end")
    log.result("ok")  # after the end: ignored
    with open(path, encoding="utf-8") as handle:
        segments = [json.loads(line) for line in handle]
    assert [(s["kind"], s["name"], s["cpu"], s["wall"]) for s in segments] == [("play", "p", 2.0, 1.0), ("task", "install", 2.0, 1.0)]
    task = segments[1]
    assert (task["action"], task["ok"], task["changed"], task["skipped"], task["failed"], task["unreachable"]) == (
        "gowin.server.go_install", 2, 1, 1, 1, 0)
    assert bench.host_tasks(task) == 4
    assert not any(key.startswith("_") for key in task)


@pytest.mark.parametrize("segment, kind", [
    (_segment(action="gowin.server.go_install"), "gowin"),
    (_segment(kind="handler", action="gowin.server.win_service_go"), "gowin"),
    (_segment(action="gowin.server.fleet_report"), "report"),
    (_segment(name=bench.FLEET_TRUE_TASK, action="ansible.builtin.command"), "true"),
    (_segment(name="some other command", action="ansible.builtin.command"), "other"),
    (_segment(action="ansible.builtin.set_fact"), "other"),
    (_segment(kind="play", action=""), "between"),
    (_segment(kind="load", action=""), "between"),
])
def test_segment_kind(segment, kind):
    assert bench.segment_kind(segment) == kind


def test_cpu_per_host_task_by_kind_and_by_module():
    segments = [
        _segment(kind="play", cpu=0.5),
        _segment(action="gowin.server.go_env", cpu=2.0, ok=10),
        _segment(action="gowin.server.go_env", cpu=1.0, ok=5, skipped=5),
        _segment(action="gowin.server.go_facts", cpu=3.0, ok=10),
        _segment(name=bench.FLEET_TRUE_TASK, action="ansible.builtin.command", cpu=4.0, ok=10),
        _segment(action="ansible.builtin.assert", cpu=1.0, ok=8, failed=2),
    ]
    kinds = bench.cpu_by_kind(segments)
    assert set(kinds) == {key for key, _label in bench.FLEET_KINDS}
    assert kinds["gowin"] == {"host_tasks": 30, "skipped": 5, "cpu": 6.0}
    assert bench.ms_per_host_task(kinds["gowin"]) == pytest.approx(200.0)
    assert bench.ms_per_host_task(kinds["true"]) == pytest.approx(400.0)
    assert bench.ms_per_host_task(kinds["other"]) == pytest.approx(100.0)
    assert kinds["between"]["cpu"] == 0.5 and bench.ms_per_host_task(kinds["report"]) is None
    modules = bench.cpu_by_module(segments)
    assert modules == {"go_env": {"host_tasks": 20, "skipped": 5, "cpu": 3.0}, "go_facts": {"host_tasks": 10, "skipped": 0, "cpu": 3.0}}


def _run(key, gowin_ms, true_ms, changed=0):
    kinds = {k: {"host_tasks": 0, "skipped": 0, "cpu": 0.0} for k, _label in bench.FLEET_KINDS}
    kinds["gowin"] = {"host_tasks": 100, "skipped": 0, "cpu": gowin_ms / 10.0}
    kinds["true"] = {"host_tasks": 10, "skipped": 0, "cpu": true_ms / 100.0}
    stat = {"mean": 12, "min": 12, "max": 12}
    return {"key": key, "wall": 61.25, "hosts": 10, "round_trips": stat, "bytes_sent": {"mean": 2048}, "bytes_received": {"mean": 1024},
            "changed_hosts": changed, "machine_cpu": 37.25, "cpu_user": 20.0, "cpu_sys": 5.0, "segments_cpu": 24.0, "maxrss": 80 * 2 ** 20,
            "peak_pss": 300 * 2 ** 20, "peak_rss": 900 * 2 ** 20, "peak_processes": 12, "warnings": 0, "kinds": kinds,
            "modules": {"go_env": {"host_tasks": 100, "skipped": 0, "cpu": gowin_ms / 10.0}}}


def test_fleet_section_renders_the_measurements_and_the_ratio():
    fleet = {"hosts": 10, "forks": 5, "latency_ms": 200, "date": "2026-01-02",
             "runs": [_run("first", 300.0, 150.0), _run("again", 200.0, 100.0)]}
    text = "\n".join(bench.fleet_section(fleet, "2.19.0"))
    assert text.startswith("## Fleet scale (10 simulated hosts)\n")
    assert "| first converge | 61.2 s | 12 | 2.0 KiB | 1.0 KiB | 0 of 10 | 20.0 s + 5.0 s | 80 MiB | 300 MiB (900 MiB), 12 processes |" in text
    assert "| gowin.server modules on the simulated hosts | 100 | 30.0 s (300.0 ms) | 100 | 20.0 s (200.0 ms) |" in text
    assert "a gowin.server host-task cost 300.0 ms of controller CPU, 2.0x the 150.0 ms" in text
    assert "| outside the callback's view (interpreter start-up, inventory, exit) | - | 1.0 s | - | 1.0 s |" in text
    assert "| `gowin.server.go_env` | 100 | 300.0 ms | 100 | 200.0 ms |" in text
    assert "used, during the runs: first converge 12 CPU s" in text
    assert "not idempotent" not in text
    fleet["runs"][1]["changed_hosts"] = 3
    assert "**The no-change converge changed 3 host(s)" in "\n".join(bench.fleet_section(fleet, "2.19.0"))


def test_other_load_is_the_machines_busy_time_less_the_runs_own():
    runs = [_run("first", 300.0, 150.0), _run("again", 200.0, 100.0)]
    runs[1]["machine_cpu"] = 20.0  # less than the tree's 25 s (tick rounding): none
    text = bench.other_load_text(runs, cores=2)
    assert "first converge 12 CPU s (10 % of 2 cores), no-change converge 0 CPU s (0 % of 2 cores)" in text


def test_splice_section_replaces_only_the_fleet_section_or_adds_it_before_the_controller_section():
    section = "## Fleet scale (5 simulated hosts)\n\nnew\n"
    document = "# Benchmarks\n\n## A\n\na\n\n## Controller-side work\n\nc\n"
    added = bench.splice_section(document, section)
    assert added == "# Benchmarks\n\n## A\n\na\n\n## Fleet scale (5 simulated hosts)\n\nnew\n\n## Controller-side work\n\nc\n"
    replaced = bench.splice_section(added.replace("new", "old"), section.replace("5", "200"))
    assert replaced == added.replace("5 simulated", "200 simulated")
    assert bench.splice_section("# Benchmarks\n", section) == "# Benchmarks\n\n" + section
    last = bench.splice_section("# B\n\n## Fleet scale (9 simulated hosts)\n\nold\n", section)
    assert last == "# B\n\n" + section
