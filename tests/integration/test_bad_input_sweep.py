"""Every option of every module, given huge, nested, non-string and malformed values, through real
ansible-playbook runs on one winsim host: never a traceback, a message naming the option when the value
is refused, and the host untouched by every refused value.

The values come from each module's argument spec (the DOCUMENTATION stub), so an option added later is
swept too. A value a module accepts is allowed only where ACCEPTED says why it is a good value.
"""

from __future__ import annotations

import importlib
import json

import pytest
import yaml

from ansible_collections.gowin.server.plugins.plugin_utils._action import spec_from_documentation

MODULES = ("go_install", "go_env", "go_facts", "go_verify")

# What a task needs besides the swept option, so that the option under test is what decides.
BASE = {
    "go_install": {"version": "1.22.5", "allow_plain_http": True},
    "go_env": {"gopath": "C:\\go-work"},
    "go_facts": {},
    "go_verify": {"build": False},
}


def _nested(depth: int):
    value: object = "leaf"
    for n in range(depth):
        value = {"k": value} if n % 2 else [value]
    return value


SURROGATE_TEMPLATE = "{{ 'C:\\\\a' ~ ('%c' | format(55296)) ~ 'b' }}"

# (kind, value): huge, nested, non-string and malformed, for every option.
VALUES = [
    ("huge-text", "A" * 100_000),
    ("huge-digits", "9" * 5_000),
    ("huge-path", "C:\\" + "\\".join(["d" * 200] * 170)),
    ("nested", _nested(60)),
    ("dict", {"a": {"b": [1, 2]}}),
    ("list", [["x"], {"y": 1}]),
    ("float", 1.2),
    ("negative", -7),
    ("nul", "C:\\a\x00b"),
    # a lone surrogate: ansible-core 2.19 refuses one in YAML and JSON files, a template still makes one
    ("surrogate", SURROGATE_TEMPLATE),
    ("device-path", "\\\\?\\C:\\go"),
    ("device-ns", "\\\\.\\PhysicalDrive0"),
    ("ipv6-malformed", "https://[::1/dl/"),
    ("quote-typographic", "C:\\opt\\\u201cgo\u201d"),
    ("meta", "$(Remove-Item C:\\ -Recurse); `whoami` & calc | iex"),
]

# Values a module takes, each with the reason it is right to take them: {(module, option, kind): why}.
_FOLDERS = ("gopath", "gobin", "gomodcache", "gocache", "goroot")
_PATTERNS = ("goprivate", "gonoproxy", "gonosumdb", "goinsecure")
ACCEPTED = {
    **{("go_env", o, "quote-typographic"): "Windows and the go command take typographic quotes in folder names; "
       "values are data to the agent, never code (only install_root, which becomes GOROOT, is held to an allowlist)"
       for o in _FOLDERS + ("path", "session_script")},
    **{("go_env", o, k): "a path.Match pattern the go command accepts (it matches no module path, which is not an error to Go)"
       for o in _PATTERNS for k in ("huge-digits", "device-path", "device-ns", "quote-typographic")},
    ("go_install", "url_username", "negative"): "'-7' is a user name HTTP basic authentication can send",
    ("go_install", "url_username", "device-ns"): "a DOMAIN\\user-like name with backslashes is a user name HTTP can send",
}
# go_verify compares expected values with the host: a value go_env would set is a fair expectation, and
# on this host (no Go installed) the verdict is a failed check naming the variable, not a refusal.
VERDICT = {("go_verify", o, k) for (_m, o, k) in ACCEPTED if _m == "go_env" and o not in ("path", "session_script")}


def _spec(module: str) -> dict:
    stub = importlib.import_module("ansible_collections.gowin.server.plugins.modules." + module)
    return spec_from_documentation(stub.DOCUMENTATION)


def _cases(module: str) -> list[tuple[str, str, object]]:
    # a typographic-quote folder per option: an accepted one must not be another's existing folder
    return [(option, kind, "C:\\opt\\\u201c%s\u201d" % option if kind == "quote-typographic" else value)
            for option in sorted(_spec(module)) for kind, value in VALUES]


def _task_name(n: int, case: tuple) -> str:
    return "sweep %d %s %s" % (n, case[0], case[1])


def _run(host1, module: str, cases: list, label: str):
    tasks = []
    for n, (option, _kind, value) in enumerate(cases):
        args = dict(BASE[module])
        if module == "go_install":
            args.update(host1.mirror.module_args())
        # typed values are written into the task (through a template, ansible-core before 2.19 would make
        # every value a string); a NUL goes in through a variable (JSON carries it), a lone surrogate
        # through a template (no playbook or vars file can hold one)
        if value is SURROGATE_TEMPLATE:
            args[option] = value
        elif isinstance(value, str) and "\x00" in value:
            args[option] = "{{ sweep_values[%d] }}" % n
        else:
            args[option] = value
        tasks.append({"name": _task_name(n, cases[n]), "gowin.server.%s" % module: args, "ignore_errors": True})
    values = host1.root / ("sweep-%s-%s.json" % (module, label))
    values.write_text(json.dumps({"sweep_values": [None if v is SURROGATE_TEMPLATE else v for _o, _k, v in cases]}))
    path = host1.root / ("sweep-%s-%s.yml" % (module, label))
    play = [{"name": "sweep", "hosts": "all", "gather_facts": False, "tasks": tasks}]
    path.write_text(yaml.safe_dump(play, sort_keys=False, allow_unicode=False, width=160))
    run = host1.play(playbook=str(path), extra_vars_file=str(values), allow_warnings=True)
    assert "Traceback" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-5000:]
    assert run.results, "the play did not run:\n" + (run.stdout + run.stderr)[-3000:]
    return {r.task: r for r in run.of("win1")}


def _problem(module: str, case: tuple, got) -> str | None:
    option, kind, _value = case
    if got is None:
        return "no result (the play stopped?)"
    res = got.result
    msg = str(res.get("msg", ""))
    # ansible-core 2.19 puts exception: '(traceback unavailable)' on every failed result; a real one holds a traceback
    if "Traceback" in str(res.get("exception", "")) + msg or "Unexpected failure" in msg:
        return "traceback: %s" % (str(res.get("exception")) + msg)[-600:]
    if len(msg) > 2000:
        return "a %d-character message (a value quoted whole?): %s..." % (len(msg), msg[:200])
    if (module, option, kind) in ACCEPTED:
        return None if not got.failed else "refused, but ACCEPTED says it is good: %s" % msg[:300]
    if not got.failed:
        return "accepted (changed=%s)" % res.get("changed")
    named = option.upper() if (module, option, kind) in VERDICT else option
    if named not in msg:
        return "message does not name %s: %s" % (named, msg[:300])
    return None


@pytest.mark.parametrize("module", MODULES)
def test_every_option_refuses_bad_values_cleanly(host1, module):
    cases = _cases(module)
    refused = [c for c in cases if (module, c[0], c[1]) not in ACCEPTED]
    accepted = [c for c in cases if (module, c[0], c[1]) in ACCEPTED]
    before = host1.snapshot()
    problems = []
    results = _run(host1, module, refused, "refused")
    for n, case in enumerate(refused):
        problem = _problem(module, case, results.get(_task_name(n, case)))
        if problem:
            problems.append("%s: %s" % (_task_name(n, case), problem))
    assert not problems, "%d of %d cases:\n%s" % (len(problems), len(refused), "\n".join(problems))
    # every value above was refused: not one of them changed anything on the host
    assert host1.snapshot() == before
    if accepted:
        results = _run(host1, module, accepted, "accepted")
        problems = ["%s: %s" % (_task_name(n, c), p) for n, c in enumerate(accepted)
                    if (p := _problem(module, c, results.get(_task_name(n, c))))]
        assert not problems, "\n".join(problems)
