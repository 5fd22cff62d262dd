"""Every job template of extensions/awx/ launched as Automation Controller / AWX launch it: its extra vars, its survey's
defaults and answers, and the credentials of extensions/awx/credential_types.yml injected as AWX injects them, run by
ansible-runner (the engine of AWX jobs) against simulated hosts. The tests read what AWX reads back: the job's status
and rc, its job events, the host summaries, set_stats artifacts and the files in the artifacts folder (the report)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import gomirror
from awx_jobs import SurveyError, job_templates, launch
from conftest import REPO
# exe is a fixture: imported to be used by name
from test_win_service_go import exe, sha  # noqa: F401  pylint: disable=unused-import

from ansible_collections.gowin.server.plugins.plugin_utils._winsim import WinSimHost

pytest.importorskip("ansible_runner")

TEMPLATES = job_templates()
ACCOUNT = "gowin.server Windows Server account"
MIRROR_CRED = "gowin.server Go download mirror"
REPO_CRED = "gowin.server service release repository"
PASSWORD = "Adm1n-Awx-Passw0rd"
MIRROR_PASSWORD = "m1rror-Token-Value"
REPO_PASSWORD = "rel3ase-Repo-Token"
DB_SECRET = "s3cr3t-Awx-Db-Value"
ENV = {"ANSIBLE_COLLECTIONS_PATH": str(REPO / ".tmp" / "collections"), "ANSIBLE_NOCOLOR": "1"}


class Site:
    """A runner private data dir, an inventory of winsim hosts with the fleet's variables, and the hosts."""

    def __init__(self, root: Path, mirror, hosts: dict[str, str], group_vars: dict | None = None):
        self.root = root
        self.state_dir = root / "state"
        self.hosts = hosts
        self.mirror = mirror
        self.inventory = root / "inventory" / "hosts.yml"
        self.inventory.parent.mkdir(parents=True)
        self.write_inventory(group_vars)
        self._n = 0

    def write_inventory(self, group_vars: dict | None = None) -> None:
        variables = {
            "ansible_connection": "gowin.server.winsim", "ansible_winsim_state_dir": str(self.state_dir),
            "go_toolchain_index_url": self.mirror.index_url, "go_toolchain_base_url": self.mirror.dl,
            "go_toolchain_allow_plain_http": True,
        }
        variables.update(group_vars or {})
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"windows": {
            "hosts": {name: {"ansible_winsim_os_profile": profile} for name, profile in self.hosts.items()},
            "vars": variables}}}}))

    def host(self, name: str) -> WinSimHost:
        return WinSimHost(str(self.state_dir), name, profile=self.hosts[name])

    def launch(self, name: str, **kwargs):
        self._n += 1
        return launch(TEMPLATES[name], self.root / ("job-%d" % self._n), self.inventory, envvars=ENV, **kwargs)


def account(password: str = PASSWORD) -> tuple[str, dict]:
    return (ACCOUNT, {"username": "EXAMPLE\\ansible", "password": password})


def assert_successful(job, hosts):
    assert job.status == "successful" and job.rc == 0, job.stdout[-4000:]
    for host in hosts:
        summary = job.host_summary(host)
        assert summary["ok"] > 0 and summary["failures"] == 0 and summary["dark"] == 0, (host, summary)


def report_files(job) -> dict:
    folder = job.artifact_dir / "gowin-report"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.junit.xml"]
    return json.loads((folder / "report.json").read_text())


# every job template of extensions/awx/job_templates.yml and the test that launches it
EXERCISED = {
    "gowin.server site": "test_site_job_converges_then_changes_nothing_and_leaves_the_report_in_the_artifacts",
    "gowin.server toolchain": "test_toolchain_job_installs_from_a_mirror_that_needs_the_injected_login",
    "gowin.server deploy service": "test_deploy_job_rolls_out_only_the_service_and_release_the_survey_names",
    "gowin.server harden (audit)": "test_harden_jobs_audit_enforce_audit_with_the_survey_leaving_areas_out",
    "gowin.server harden (enforce)": "test_harden_jobs_audit_enforce_audit_with_the_survey_leaving_areas_out",
    "gowin.server validate": "test_validate_job_changes_nothing_and_its_report_carries_the_survey_title",
}


def test_every_job_template_is_launched_by_a_test():
    assert sorted(EXERCISED) == sorted(TEMPLATES)
    for test in EXERCISED.values():
        assert callable(globals().get(test)), test


@pytest.fixture
def service_entry(exe):
    return {"name": "orders-api", "src": exe("svcnative-healthy-amd64"), "health": {"http": {"url": "http://127.0.0.1:47931/healthz"}},
            "secret_environment": {"DB_PASSWORD": DB_SECRET}}


def test_site_job_converges_then_changes_nothing_and_leaves_the_report_in_the_artifacts(tmp_path, mirror, service_entry):
    site = Site(tmp_path, mirror, {"ws2019": "ws2019", "ws2022": "ws2022"},
                {"go_service_services": [service_entry], "baseline_include": ["fs.long_paths", "tls"]})
    job = site.launch("gowin.server site", credentials=[account()])
    assert_successful(job, site.hosts)
    # the survey's defaults reached the run: latest Go, the baseline in audit mode
    assert job.extra_vars["go_toolchain_version"] == "latest" and job.extra_vars["gowin_baseline_mode"] == "audit"
    # deploy_service rolls out in batches (serial [1, 25%, 100%]): one play start per batch, the canary first
    assert job.plays.count("Roll Go services out across the fleet") == 2
    assert list(dict.fromkeys(job.plays)) == [
        "Go toolchain on Windows Server", "Roll Go services out across the fleet", "Hold Windows Server to the hardening baseline",
        "Validate Windows Servers running Go (changes nothing)", "Write the fleet report"]
    newest = next(r["version"] for r in mirror.index if r["stable"])[2:]
    for host in site.hosts:
        assert job.host_summary(host)["changed"] > 0
        [install] = job.results("gowin.server.go_install", host)
        assert install["version"] == newest and install["changed"]
        # harden (the survey's audit default) and validate both test the baseline, neither changes it
        baselines = job.results("gowin.server.dsc_baseline", host)
        assert len(baselines) == 2 and all(b["mode"] == "audit" and not b["changed"] for b in baselines)
    # the report: in the job's artifacts folder (AWX_ISOLATED_DATA_DIR), its summary in the job's artifacts (set_stats)
    doc = report_files(job)
    assert sorted(h["name"] for h in doc["hosts"]) == sorted(site.hosts)
    stats = job.artifact_data["gowin_report"]
    assert stats["summary"]["hosts"] == 2 and stats["simulated"] is True and "matrix" not in stats["summary"]
    assert stats["files"]["html"] == str(job.artifact_dir / "gowin-report" / "report.html")
    assert stats["run_id"] == doc["run_id"]
    # the injected account reached the run as the connection's user; no secret reached any event or file
    text = job.all_text()
    assert PASSWORD not in text and DB_SECRET not in text
    again = site.launch("gowin.server site", credentials=[account()])
    assert_successful(again, site.hosts)
    assert [again.host_summary(h)["changed"] for h in site.hosts] == [0, 0], again.stdout[-3000:]


def test_toolchain_job_installs_from_a_mirror_that_needs_the_injected_login(tmp_path, mirror):
    server, base = gomirror.serve(mirror.dir, auth=("mirror-reader", MIRROR_PASSWORD))
    try:
        site = Site(tmp_path, mirror, {"win1": "ws2022"})
        login = (MIRROR_CRED, {"index_url": base.rstrip("/") + "/dl/?mode=json&include=all", "base_url": base.rstrip("/") + "/dl/",
                               "username": "mirror-reader", "password": MIRROR_PASSWORD})
        # without the login the mirror answers 401: the job fails and the host is left as it was
        before = site.host("win1").snapshot()
        denied = site.launch("gowin.server toolchain", credentials=[account(), (MIRROR_CRED, dict(login[1], password="wrong"))])
        assert denied.status == "failed" and denied.host_summary("win1")["failures"] == 1
        assert "401" in json.dumps(denied.results("gowin.server.go_install", "win1"))
        assert site.host("win1").snapshot() == before
        job = site.launch("gowin.server toolchain", answers={"go_toolchain_version": "1.22.5"}, credentials=[account(), login])
        assert_successful(job, ["win1"])
        [install] = job.results("gowin.server.go_install", "win1")
        assert install["version"] == "1.22.5" and install["changed"]
        served = [r for r in server.requests if r["status"] == 200]
        assert served and all(r["user"] == "mirror-reader" for r in served)
        assert any(r["path"].endswith("go1.22.5.windows-amd64.zip") for r in served)
        assert MIRROR_PASSWORD not in job.all_text() and MIRROR_PASSWORD not in denied.all_text()
    finally:
        server.shutdown()
    # a survey answer out of range is refused at launch, before any job runs
    with pytest.raises(SurveyError, match="go_toolchain_keep_versions"):
        site.launch("gowin.server toolchain", answers={"go_toolchain_keep_versions": 50})
    with pytest.raises(SurveyError, match="go_toolchain_version"):
        site.launch("gowin.server toolchain", answers={"go_toolchain_version": ""})


def service_image(host: WinSimHost, name: str) -> str | None:
    value = host.registry_value("HKLM\\SYSTEM\\CurrentControlSet\\Services\\" + name, "ImagePath")
    return value["data"] if value else None


def test_deploy_job_rolls_out_only_the_service_and_release_the_survey_names(tmp_path, mirror, exe):
    first, second, other = exe("svcnative-amd64"), exe("svcnative-stripped-amd64"), exe("svcnative-amd64", "billing-api.exe")
    services = [{"name": "orders-api", "src": first, "checksum": "sha256:" + sha(first)},
                {"name": "billing-api", "src": other}]
    site = Site(tmp_path, mirror, {"win1": "ws2022"}, {"go_service_services": services})
    h = site.host("win1")
    # the service is the one survey question without a default: a launch without it is refused
    with pytest.raises(SurveyError, match="gowin_deploy_service"):
        site.launch("gowin.server deploy service")
    job = site.launch("gowin.server deploy service", answers={"gowin_deploy_service": "orders-api"}, credentials=[account()])
    assert_successful(job, ["win1"])
    assert sha(first)[:12] in service_image(h, "orders-api")
    assert service_image(h, "billing-api") is None, "a service the survey did not name was deployed"
    # a new release from a repository that needs the injected login, by URL and checksum
    www = tmp_path / "www"
    www.mkdir()
    shutil.copyfile(second, www / "orders-api.exe")
    (www / "index.json").write_text("[]")  # the loopback server is the stand-in Go mirror, which needs an index
    server, base = gomirror.serve(str(www), auth=("deployer", REPO_PASSWORD))
    try:
        answers = {"gowin_deploy_service": "ORDERS-API", "gowin_deploy_url": base.rstrip("/") + "/files/orders-api.exe",
                   "gowin_deploy_checksum": "sha256:" + sha(second)}
        # the loopback repository is plain http, which the entry allows
        site.write_inventory({"go_service_services": [dict(services[0], allow_plain_http=True), services[1]]})
        job = site.launch("gowin.server deploy service", answers=answers,
                          credentials=[account(), (REPO_CRED, {"username": "deployer", "password": REPO_PASSWORD})])
        assert_successful(job, ["win1"])
        [deploy] = job.results("gowin.server.win_service_go", "win1")[0]["results"]
        assert deploy["changed"] and deploy["release"]["sha256"] == sha(second)
        assert sha(second)[:12] in service_image(h, "orders-api") and service_image(h, "billing-api") is None
        assert [r["user"] for r in server.requests if r["status"] == 200] == ["deployer"]
        assert REPO_PASSWORD not in job.all_text()
    finally:
        server.shutdown()
    # a service the inventory does not have: the job fails naming the variable and the services it has, nothing changes
    before = h.snapshot()
    job = site.launch("gowin.server deploy service", answers={"gowin_deploy_service": "payments"}, credentials=[account()])
    assert job.status == "failed" and job.host_summary("win1")["failures"] == 1
    failed = [e["event_data"]["res"]["msg"] for e in job.events if e.get("event") == "runner_on_failed"]
    assert len(failed) == 1 and "go_service_only" in failed[0] and "orders-api, billing-api" in failed[0]
    assert h.snapshot() == before


def test_harden_jobs_audit_enforce_audit_with_the_survey_leaving_areas_out(tmp_path, mirror):
    site = Site(tmp_path, mirror, {"win1": "ws2022"})
    h = site.host("win1")
    answers = {"baseline_exclude": ["wdac", "network", "audit", "account"]}
    before = h.snapshot()
    audit = site.launch("gowin.server harden (audit)", answers=answers, credentials=[account()])
    assert_successful(audit, ["win1"])
    assert audit.host_summary("win1")["changed"] == 0 and h.snapshot() == before
    [first] = audit.results("gowin.server.dsc_baseline", "win1")
    assert first["mode"] == "audit" and first["totals"]["non_compliant"] > 0
    left_out = set(answers["baseline_exclude"])
    assert first["results"] and not [r["id"] for r in first["results"] if left_out & set(r["tags"])]
    enforce = site.launch("gowin.server harden (enforce)", answers=answers, credentials=[account()])
    assert_successful(enforce, ["win1"])
    [applied] = enforce.results("gowin.server.dsc_baseline", "win1")
    assert applied["mode"] == "enforce" and applied["changed"] and applied["totals"]["fixed"] == first["totals"]["non_compliant"]
    assert not [r["id"] for r in applied["results"] if left_out & set(r["tags"])]
    again = site.launch("gowin.server harden (audit)", answers=answers, credentials=[account()])
    [last] = again.results("gowin.server.dsc_baseline", "win1")
    assert last["totals"]["non_compliant"] == 0 and last["totals"]["error"] == 0
    assert sorted(r["id"] for r in last["results"]) == sorted(r["id"] for r in first["results"])
    # without an answer every area is tested
    full = site.launch("gowin.server harden (audit)", credentials=[account()])
    [everything] = full.results("gowin.server.dsc_baseline", "win1")
    assert len(everything["results"]) > len(last["results"])
    with pytest.raises(SurveyError, match="baseline_exclude"):
        site.launch("gowin.server harden (audit)", answers={"baseline_exclude": ["no-such-area"]})


def test_validate_job_changes_nothing_and_its_report_carries_the_survey_title(tmp_path, mirror, service_entry):
    site = Site(tmp_path, mirror, {"win1": "ws2022"}, {"go_service_services": [service_entry], "baseline_include": ["fs.long_paths"]})
    before = site.host("win1").snapshot()
    job = site.launch("gowin.server validate", answers={"gowin_report_title": "Quarterly audit, fleet A"}, credentials=[account()])
    assert_successful(job, ["win1"])
    # validate runs the services in check mode: "changed" there is what a deploy would change, and the host is untouched
    assert site.host("win1").snapshot() == before
    [check] = job.results("gowin.server.win_service_go", "win1")[0]["results"]
    assert check["changed"] and service_image(site.host("win1"), "orders-api") is None
    doc = report_files(job)
    assert doc["title"] == "Quarterly audit, fleet A"
    [host] = doc["hosts"]
    # nothing was installed: the toolchain and the service are findings of the report, not failures of the job
    assert host["name"] == "win1" and host["status"] == "fail"
    summary = job.artifact_data["gowin_report"]["summary"]
    assert summary["hosts_by_status"]["fail"] == 1 and summary["hosts"] == 1
    assert "Quarterly audit, fleet A" in (job.artifact_dir / "gowin-report" / "report.html").read_text()
    assert DB_SECRET not in job.all_text() and PASSWORD not in job.all_text()
