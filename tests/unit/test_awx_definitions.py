"""extensions/awx/ checked as Automation Controller / AWX would check it when it is loaded, without a controller: every
option is one the awx.awx modules take (tests/fixtures/awx/argspecs.json, read from the awx.awx source), load.yml
passes on every key the definitions use, surveys and credential types pass AWX's own validation (transcribed from
ansible/awx 24.6.1: awx/api/views JobTemplateSurveySpec._validate_spec_data, awx/main/fields.py
CredentialTypeInputField and CredentialTypeInjectorField), and every variable they set is one the collection reads.
What the job templates do when they run is tests/integration/test_awx_job_templates.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jinja2
import jsonschema
import pytest
import yaml
from jinja2 import sandbox

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import awx_jobs  # noqa: E402


ARGSPECS = json.loads((REPO / "tests" / "fixtures" / "awx" / "argspecs.json").read_text())
TEMPLATES = awx_jobs.load("job_templates.yml")["controller_templates"]
CRED_TYPES = awx_jobs.load("credential_types.yml")["controller_credential_types"]
PROJECTS = awx_jobs.load("projects.yml")
LOAD = awx_jobs.load("load.yml")

# (definitions, the awx.awx module load.yml loads them with)
DEFINITIONS = [
    (TEMPLATES, "job_template"),
    (CRED_TYPES, "credential_type"),
    (PROJECTS["controller_projects"], "project"),
    (PROJECTS["controller_execution_environments"], "execution_environment"),
]

# AWX's survey question types and what a default must be (SURVEY_TYPE_MAPPING)
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": (str, list),
                "integer": int, "float": (float, int)}

INPUTS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "label"],
            "properties": {
                "type": {"enum": ["string", "boolean"]}, "format": {"enum": ["ssh_private_key", "url"]},
                "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                "id": {"type": "string", "pattern": "^[a-zA-Z_]+[a-zA-Z0-9_]*$"}, "label": {"type": "string"},
                "help_text": {"type": "string"}, "multiline": {"type": "boolean"}, "secret": {"type": "boolean"},
                "ask_at_runtime": {"type": "boolean"}, "default": {},
            }}},
    },
}
INJECTORS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "file": {"type": "object", "additionalProperties": False,
                 "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}}},
        "env": {"type": "object", "additionalProperties": False,
                "patternProperties": {"^[a-zA-Z_]+[a-zA-Z0-9_]*$": {"type": "string", "pattern": "^[\x00-\x7f]*$"}}},
        "extra_vars": {"type": "object", "additionalProperties": False,
                       "patternProperties": {r"^[a-zA-Z_\{\}]+[a-zA-Z0-9_\{\}]*$": {"type": "string"}}},
    },
}


def collection_variables() -> set[str]:
    """Every variable name the collection's playbooks and roles read or document."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "playbooks").glob("*.yml")))
    names = set(re.findall(r"\b([a-z][a-z0-9_]*)\b", text))
    for role in (REPO / "roles").iterdir():
        spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
        names |= set(spec["argument_specs"]["main"]["options"])
    return names


def test_the_definitions_are_in_the_collection_build():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert not [p for p in galaxy.get("build_ignore", []) if p.startswith("extensions")]


@pytest.mark.parametrize("items,module", DEFINITIONS, ids=[m for _i, m in DEFINITIONS])
def test_every_key_is_an_option_of_the_awx_module_and_load_passes_it_on(items, module):
    options = set(ARGSPECS[module])
    [task] = [t for t in LOAD[0]["tasks"] if "awx.awx." + module in t]
    passed = set(task["awx.awx." + module])
    assert passed <= options, "load.yml passes options awx.awx.%s does not have: %s" % (module, passed - options)
    assert items, module
    for item in items:
        assert set(item) <= options, "%s has keys awx.awx.%s does not take: %s" % (item["name"], module, set(item) - options)
        assert set(item) <= passed, "load.yml drops %s of %s" % (set(item) - passed, item["name"])
        for key, value in item.items():
            spec = ARGSPECS[module][key]
            if "choices" in spec:
                assert value in spec["choices"], (item["name"], key, value)
            kind = spec.get("type", "str")
            expected = {"str": str, "dict": dict, "list": list, "bool": bool, "int": int}[kind]
            assert isinstance(value, expected), (item["name"], key, value)


def test_the_job_templates_use_the_project_and_environment_defined_here_and_their_playbooks_exist():
    projects = {p["name"] for p in PROJECTS["controller_projects"]}
    environments = {e["name"] for e in PROJECTS["controller_execution_environments"]}
    names = [t["name"] for t in TEMPLATES]
    assert len(names) == len(set(names))
    for template in TEMPLATES:
        assert template["project"] in projects and template["execution_environment"] in environments
        assert (REPO / template["playbook"]).is_file(), template["playbook"]
    assert {t["playbook"] for t in TEMPLATES} == {"playbooks/%s.yml" % n for n in ("site", "toolchain", "deploy_service", "harden", "validate")}


def survey_errors(spec: dict) -> list[str]:
    """AWX's _validate_spec_data, what it refuses with 400."""
    errors = []
    for key, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(key), kind):
            errors.append("field %s missing or not a %s" % (key, kind.__name__))
    if errors or not spec["spec"]:
        return errors or ["'spec' doesn't contain any items"]
    seen = set()
    for idx, item in enumerate(spec["spec"]):
        for key in ("type", "question_name", "variable", "required"):
            if key not in item:
                errors.append("%r missing from survey question %d" % (key, idx))
        if errors:
            continue
        if not isinstance(item["required"], bool) or not all(isinstance(item[k], str) for k in ("type", "question_name", "variable")):
            errors.append("question %d: wrong types" % idx)
        if item["variable"] in seen:
            errors.append("'variable' %r duplicated in survey question %d" % (item["variable"], idx))
        seen.add(item["variable"])
        qtype = item["type"]
        if qtype not in SURVEY_TYPES:
            errors.append("%r in survey question %d is not a question type" % (qtype, idx))
            continue
        if "default" in item and item["default"] != "" and not isinstance(item["default"], SURVEY_TYPES[qtype]):
            errors.append("default of question %d is not a %s" % (idx, qtype))
        for key in ("min", "max"):
            if item.get(key) is not None and not isinstance(item[key], int):
                errors.append("%s of question %d is not an integer" % (key, idx))
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                errors.append("question %d of type %s must specify choices" % (idx, qtype))
            elif "default" in item:
                defaults = item["default"].splitlines() if isinstance(item["default"], str) else item["default"]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append("question %d: one default only" % idx)
                if any(d not in item["choices"] for d in defaults):
                    errors.append("question %d: a default is not a choice" % idx)
    return errors


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_every_survey_passes_awx_validation_and_sets_variables_the_collection_reads(template):
    known = collection_variables()
    assert set(template.get("extra_vars") or {}) <= known
    if not template.get("survey_enabled"):
        assert "survey_spec" not in template
        return
    spec = template["survey_spec"]
    assert survey_errors(spec) == []
    for item in spec["spec"]:
        assert item["variable"] in known, "%s: the survey sets %s, which nothing in the collection reads" % (template["name"], item["variable"])
        # every default passes its own question's validation, so AWX passes it on at launch
        if "default" in item:
            assert awx_jobs._element_errors(item, {item["variable"]: item["default"]}) == [], item


def test_the_survey_validator_here_refuses_what_awx_refuses():
    good = {"name": "n", "description": "", "spec": [{"type": "text", "question_name": "q", "variable": "v", "required": True}]}
    assert survey_errors(good) == []
    assert survey_errors(dict(good, spec=[])) == ["'spec' doesn't contain any items"]
    twice = dict(good, spec=good["spec"] * 2)
    assert "duplicated" in survey_errors(twice)[0]
    choice = {"type": "multiplechoice", "question_name": "q", "variable": "v", "required": True, "choices": ["a"], "default": "b"}
    assert "not a choice" in survey_errors(dict(good, spec=[choice]))[0]
    assert "not an integer" in survey_errors(dict(good, spec=[dict(good["spec"][0], max="9")]))[0]


@pytest.mark.parametrize("cred_type", CRED_TYPES, ids=[c["name"] for c in CRED_TYPES])
def test_every_credential_type_passes_awx_validation_and_injects_what_the_collection_reads(cred_type, tmp_path):
    assert cred_type["kind"] in ("cloud", "net")  # what a custom credential type may be
    jsonschema.Draft7Validator(INPUTS_SCHEMA).validate(cred_type["inputs"])
    jsonschema.Draft7Validator(INJECTORS_SCHEMA).validate(cred_type["injectors"])
    fields = cred_type["inputs"]["fields"]
    ids = [f["id"] for f in fields]
    assert len(ids) == len(set(ids)) and "tower" not in ids
    assert set(cred_type["inputs"].get("required", [])) <= set(ids)
    for f in fields:
        if "default" in f:
            assert isinstance(f["default"], str if f.get("type", "string") == "string" else bool)
            if "choices" in f:
                assert f["default"] in f["choices"]
    # the templates reference only the inputs (AWX renders them with every field set when it saves the type)
    env = sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)

    class Tower:
        filename = "/runner/env/tmpfile"

    namespace = {i: "EXAMPLE" for i in ids}
    namespace["tower"] = Tower()
    injectors = cred_type["injectors"]
    for template in list((injectors.get("file") or {}).values()) + list((injectors.get("env") or {}).values()):
        env.from_string(template).render(**namespace)
    for name, template in (injectors.get("extra_vars") or {}).items():
        env.from_string(template).render(**namespace)
        assert name.startswith("ansible_") or name in collection_variables(), name
    assert not [n for n in injectors.get("env") or {} if n.startswith("ANSIBLE_")]
    # secrets go to extra vars files, never into the job's environment (AWX keeps a copy of that, masked, with the job)
    secrets = {f["id"] for f in fields if f.get("secret")}
    for template in (injectors.get("env") or {}).values():
        assert not [s for s in secrets if s in template]
    # with only the required inputs, every optional one renders as a working default (no "None", no empty connection)
    required = {i: "value-%s" % i for i in cred_type["inputs"].get("required", [])}
    _env, files = awx_jobs.inject(cred_type, required, tmp_path)
    rendered = yaml.safe_load(Path(files[0]).read_text())
    assert all(isinstance(v, str) and "None" not in v for v in rendered.values()), rendered
    assert all(v != "" for k, v in rendered.items() if k.startswith("ansible_")), rendered
