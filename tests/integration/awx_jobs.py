"""Launch the job templates of extensions/awx/ the way Automation Controller and AWX launch a job, with ansible-runner.

What AWX does, and what this does in its place (read from ansible/awx 24.6.1: awx/main/models/mixins.py
SurveyJobTemplateMixin._update_unified_job_kwargs and _survey_element_validation, awx/main/models/credential.py
CredentialType.inject_credential):

- extra vars: the template's extra_vars, then the survey's defaults (each one that passes its own question's
  validation), then the answers given at launch (validated; a required question without an answer or default fails
  the launch, before any job runs);
- credentials: each credential type's injectors rendered in a sandboxed Jinja environment with the credential's
  inputs (missing inputs undefined, ``tower.filename`` the file injector's file under the private data dir's env/),
  ``env`` injectors into the job's environment, ``extra_vars`` injectors into a YAML file passed as ``-e @file``;
- the job: ``ansible_runner.run`` with the project (this repository, as AWX syncs it), the inventory, the limit and
  the job tags; the result is read back from the runner's artifacts (status, rc, job events, host summaries).

The collection comes from the work tree's collection link, as it comes from the execution environment under AWX.
"""

from __future__ import annotations

import os
import stat
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
AWX_DIR = REPO / "extensions" / "awx"


class _Loader(yaml.SafeLoader):
    """The definitions' YAML: !unsafe (Ansible's "never template this") is a plain string to AWX."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(name: str) -> t.Any:
    with open(AWX_DIR / name, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def job_templates() -> dict[str, dict]:
    return {jt["name"]: jt for jt in load("job_templates.yml")["controller_templates"]}


def credential_types() -> dict[str, dict]:
    return {ct["name"]: ct for ct in load("credential_types.yml")["controller_credential_types"]}


class SurveyError(ValueError):
    """The launch is refused (AWX answers 400), no job runs."""


def _element_errors(element: dict, data: dict) -> list[str]:
    """AWX's _survey_element_validation for the question types the templates use."""
    var = element["variable"]
    if var not in data:
        return ["'%s' value missing" % var] if element["required"] else []
    value = data[var]
    qtype = element["type"]
    if qtype in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["Value %s for '%s' expected to be a string." % (value, var)]
        if element.get("min") not in ("", None) and len(value) < int(element["min"]):
            return ["'%s' value %s is too small" % (var, value)]
        if element.get("max") not in ("", None) and len(value) > int(element["max"]):
            return ["'%s' value %s is too large" % (var, value)]
    elif qtype == "integer":
        if not isinstance(value, int) or isinstance(value, bool):  # AWX: type(value) != int
            return ["Value %s for '%s' expected to be an integer." % (value, var)]
        if element.get("min") not in ("", None) and value < int(element["min"]):
            return ["'%s' value %s is too small" % (var, value)]
        if element.get("max") not in ("", None) and value > int(element["max"]):
            return ["'%s' value %s is too large" % (var, value)]
    elif qtype == "multiplechoice":
        if value not in element["choices"]:
            return ["Value %s for '%s' expected to be one of %s." % (value, var, element["choices"])]
    elif qtype == "multiselect":
        if not isinstance(value, list):
            return ["'%s' value is expected to be a list." % var]
        bad = [v for v in value if v not in element["choices"]]
        if bad:
            return ["Value %s for '%s' expected to be one of %s." % (bad, var, element["choices"])]
    else:
        raise AssertionError("question type %s is not modelled here" % qtype)
    return []


def extra_vars(template: dict, answers: dict | None = None) -> dict:
    """JT extra_vars -> JT survey defaults -> launch answers, as AWX combines them."""
    result = dict(template.get("extra_vars") or {})
    answers = dict(answers or {})
    spec = (template.get("survey_spec") or {}).get("spec", []) if template.get("survey_enabled") else []
    for element in spec:
        default = element.get("default")
        if default is not None and not _element_errors(element, {element["variable"]: default}):
            result[element["variable"]] = default
    errors = []
    for element in spec:
        if element["variable"] in answers or element["variable"] not in result:
            errors += _element_errors(element, answers)
    if errors:
        raise SurveyError("; ".join(errors))
    result.update(answers)
    return result


def inject(cred_type: dict, inputs: dict, private_data_dir: Path) -> tuple[dict[str, str], list[str]]:
    """(environment, extra vars files) of one credential, as AWX's inject_credential builds them."""
    from jinja2 import sandbox

    env_dir = private_data_dir / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    sandbox_env = sandbox.ImmutableSandboxedEnvironment()

    class Namespace:
        pass

    tower = Namespace()
    namespace: dict[str, t.Any] = {"tower": tower}
    for key, value in inputs.items():
        if isinstance(value, bool) or len(value):
            namespace[key] = value
    for spec in cred_type["inputs"].get("fields", []):
        if spec.get("type") == "boolean" and spec["id"] not in inputs:
            namespace[spec["id"]] = False
    injectors = cred_type.get("injectors") or {}
    for label, template in (injectors.get("file") or {}).items():
        fd, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(fd, "w") as handle:
            handle.write(sandbox_env.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = Namespace()
            setattr(tower.filename, label.split(".", 1)[1], path)
    env = {}
    for name, template in (injectors.get("env") or {}).items():
        assert not name.startswith("ANSIBLE_"), "AWX ignores credential env injectors named ANSIBLE_*: %s" % name
        env[name] = sandbox_env.from_string(template).render(**namespace)

    def build(node: t.Any) -> t.Any:
        if isinstance(node, dict):
            return {build(k): build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(x) for x in node]
        return sandbox_env.from_string(node).render(**namespace)

    files = []
    rendered = build(injectors.get("extra_vars") or {})
    if rendered:
        fd, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(fd, "w") as handle:
            handle.write(yaml.safe_dump(rendered))
        os.chmod(path, stat.S_IRUSR)
        files.append(path)
    return env, files


@dataclass
class Job:
    status: str
    rc: int
    stats: dict
    events: list[dict]
    artifact_dir: Path
    stdout: str
    extra_vars: dict = field(default_factory=dict)

    def host_summary(self, host: str) -> dict[str, int]:
        """ok/changed/failures/dark/skipped of a host, from the runner's stats (the job's host summaries)."""
        return {key: (self.stats.get(key) or {}).get(host, 0) for key in ("ok", "changed", "failures", "dark", "skipped")}

    def results(self, action: str, host: str | None = None) -> list[dict]:
        """The module results of runner_on_ok / runner_on_failed events of one action."""
        return [e["event_data"]["res"] for e in self.events
                if e.get("event") in ("runner_on_ok", "runner_on_failed")
                and e["event_data"].get("task_action") == action
                and (host is None or e["event_data"].get("host") == host)]

    @property
    def plays(self) -> list[str]:
        return [e["event_data"]["play"] for e in self.events if e.get("event") == "playbook_on_play_start"]

    @property
    def artifact_data(self) -> dict:
        """What set_stats left: the job's artifacts in AWX."""
        stats = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, "expected one playbook_on_stats event, got %d" % len(stats)
        return stats[0]["event_data"].get("artifact_data") or {}

    def all_text(self) -> str:
        """Every file the job left in its artifacts folder (events, stdout, command, the report), as text."""
        parts = []
        for path in sorted(self.artifact_dir.rglob("*")):
            if path.is_file():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(parts)


def launch(template: dict, private_data_dir: Path, inventory: Path, *, answers: dict | None = None,
           credentials: list[tuple[str, dict]] = (), limit: str | None = None, job_tags: str | None = None,
           envvars: dict | None = None) -> Job:
    """Run a job of the template; credentials are (credential type name, inputs)."""
    import ansible_runner

    variables = extra_vars(template, answers)
    types = credential_types()
    env = dict(envvars or {})
    files: list[str] = []
    for type_name, inputs in credentials:
        cred_env, cred_files = inject(types[type_name], inputs, private_data_dir)
        env.update(cred_env)
        files += cred_files
    private_data_dir.mkdir(parents=True, exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=str(private_data_dir),
        project_dir=str(REPO),
        playbook=template["playbook"],
        inventory=str(inventory),
        extravars=variables,
        envvars=env,
        cmdline=" ".join("-e @%s" % f for f in files) or None,
        limit=limit,
        tags=job_tags,
        forks=template.get("forks"),
        quiet=True,
        timeout=900,
    )
    stdout_path = Path(runner.config.artifact_dir) / "stdout"
    return Job(
        status=runner.status,
        rc=runner.rc,
        stats=runner.stats or {},
        events=list(runner.events),
        artifact_dir=Path(runner.config.artifact_dir),
        stdout=stdout_path.read_text(encoding="utf-8", errors="replace") if stdout_path.exists() else "",
        extra_vars=variables,
    )
