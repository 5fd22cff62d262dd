# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.go_install: args -> probe -> plan -> apply -> result."""

from __future__ import annotations

import os
import re
import secrets
from datetime import datetime, timezone

from ansible.errors import AnsibleConnectionFailure, AnsibleError

from ansible_collections.gowin.server.plugins.plugin_utils import _goversion as gv
from ansible_collections.gowin.server.plugins.plugin_utils import _install_plan as ip
from ansible_collections.gowin.server.plugins.plugin_utils import _sources as src
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
from ansible_collections.gowin.server.plugins.plugin_utils._channel import Channel, OpError

MAX_KEEP = 1000
MAX_TIMEOUT = 86400


def _short(number: int) -> str:
    """The number, or its size (Python refuses str() of an int of more than 4,300 digits)."""
    bits = abs(number).bit_length()
    return str(number) if bits <= 100 else "a number of about %d digits" % (int(bits * 0.30103) + 1)


# Characters Windows refuses in account names, plus the backtick.
_ACCOUNT_INVALID = set('"/[]:;|=,+*?<>`')


class _Conflict(Exception):
    """The host changed between this run's probe and its changes (another run installed meanwhile)."""


class ActionModule(GowinAction):
    MODULE = "go_install"
    REQUIRED_IF = [
        ("source", "url", ("url", "checksum")),
        ("source", "controller", ("src", "checksum")),
    ]

    # ------------------------------------------------------------ arguments

    def _check(self, p: dict) -> dict:
        try:
            p["request"] = gv.parse_request("version", p["version"])
            if p["request"].kind != "exact" and (p["state"] == "absent" or p["source"] != "index"):
                raise gv.VersionError(
                    "version must be an exact version such as 1.22.5 when %s, got %r"
                    % ("state=absent" if p["state"] == "absent" else "source=%s" % p["source"], p["version"])
                )
            p["install_root"] = wp.check_absolute("install_root", p["install_root"], strict=True)
            if not wp.components(p["install_root"]):
                raise wp.PathError("install_root must be a folder, not the root of a drive, got %r" % p["install_root"])
            p["sha256"] = src.parse_checksum("checksum", p.get("checksum"))
            self._credentials(p)
            plain = p["allow_plain_http"]
            if p["source"] == "index":
                p["index_url"] = src.check_url("index_url", p["index_url"], plain, allow_file=True)
                base = src.check_url("base_url", p["base_url"], plain, allow_unc=True)
                p["base_url"] = base if base.endswith(("/", "\\")) else base + ("\\" if base.startswith("\\\\") else "/")
            if p["source"] == "url":
                p["url"] = src.check_url("url", p["url"], plain, allow_unc=True)
            if p["download_on"] == "controller" and p["source"] != "controller":
                where = p["url"] if p["source"] == "url" else p["base_url"]
                if where.startswith("\\\\"):
                    raise src.SourceError("download_on=controller needs an http(s) source; %r is a UNC path the hosts read themselves" % where)
        except (gv.VersionError, wp.PathError, src.SourceError) as err:
            raise ModuleFailure(str(err)) from None
        for option, needs in (("url", "url"), ("src", "controller")):
            if p.get(option) is not None and p["source"] != needs:
                raise ModuleFailure("%s is given but source is %s: %s is used only with source=%s; set source: %s or drop %s"
                                    % (option, p["source"], option, needs, needs, option))
        if p.get("keep_versions") is not None and not 1 <= p["keep_versions"] <= MAX_KEEP:
            raise ModuleFailure("keep_versions must be a whole number from 1 to %d, got %s" % (MAX_KEEP, _short(p["keep_versions"])))
        if not 1 <= p["timeout"] <= MAX_TIMEOUT:
            raise ModuleFailure("timeout must be a number of seconds from 1 to %d (a day), got %s" % (MAX_TIMEOUT, _short(p["timeout"])))
        for name in p["read_groups"]:
            if not isinstance(name, str) or not name.strip() or set(name) & _ACCOUNT_INVALID or any(ord(c) < 32 for c in name):
                raise ModuleFailure(
                    "read_groups entries must be account or group names (DOMAIN\\name, name) or SIDs, without any of "
                    "\" / [ ] : ; | = , + * ? < > `; got %r" % name
                )
        user = p.get("url_username")
        if user is not None and (":" in user or any(ord(c) < 32 for c in user)):
            raise ModuleFailure("url_username must not contain ':' or control characters (HTTP basic authentication)")
        if user is not None and len(user) > 256:
            raise ModuleFailure("url_username must be at most 256 characters, got %d" % len(user))
        return p

    def _credentials(self, p: dict) -> None:
        """url_username/url_password, or a user name and password inside index_url, base_url or url
        (`https://user:pass@mirror/...`): p["credentials"] maps each URL option to the (user, password)
        its URL held, each sent only to that URL's origin. Every password is no_log for the whole task:
        the URLs are kept without user info, and messages are scrubbed of every form of it."""
        if p.get("url_password") is not None and p.get("url_username") is None:
            raise src.SourceError(
                "url_password needs url_username: HTTP basic authentication sends both; give url_username too, "
                "or put the credentials in the URL (https://user:password@mirror/...)"
            )
        self._no_log_values |= src.url_secrets(p.get("url_password"))
        p["credentials"] = {}
        given = []
        for option in ("index_url", "base_url", "url"):
            found = src.url_credentials(option, p.get(option))
            if found is None:
                continue
            p["credentials"][option] = found
            _user, _sep, raw_password = src.split_userinfo(p[option].strip())[1].partition(":")
            self._no_log_values |= src.url_secrets(found[1]) | src.url_secrets(raw_password)
            given.append(option)
        if given and p.get("url_username") is not None:
            raise src.SourceError(
                "%s holds a user name and password and url_username is given too: give the credentials one way, "
                "either in url_username and url_password or in the URL" % " and ".join(given)
            )

    # ------------------------------------------------------------ flow

    def execute(self, params: dict, channel: Channel, task_vars: dict) -> dict:
        p = self._check(params)
        req: gv.Request = p["request"]
        index = None
        if req.kind == "exact":
            version = req.exact_name()
        else:
            index = self._index(p)
            try:
                version = gv.resolve(req, index).name
            except gv.VersionError as err:
                raise ModuleFailure("version: %s" % err) from None

        # Another run that installed this version between our probe and our changes makes the first
        # change fail 'conflict' (nothing else ran): read the host again and plan again, once.
        for attempt in (1, 2):
            try:
                return self._converge(p, version, index, channel)
            except _Conflict:
                if attempt == 2:
                    raise ModuleFailure("another run kept changing Go %s on this host at the same time; run again" % version) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _converge(self, p: dict, version: str, index: list | None, channel: Channel) -> dict:
        root = p["install_root"]
        probe = ip.probe_ops(root, version, p["harden_acl"] and p["state"] == "present", p["read_groups"])
        obs = ip.observe(probe, channel.run_checked(probe))
        missing = [n for n, sid in obs.group_sids.items() if not sid]
        if missing:
            raise ModuleFailure("read_groups: no such account or group on the host: %s" % ", ".join(missing))
        arch = obs.facts.get("arch") if p["arch"] == "auto" else p["arch"]
        if arch not in ("amd64", "arm64", "386"):
            raise ModuleFailure("arch auto: the host reports an architecture Go has no Windows build for: %r" % arch)

        try:
            plan = ip.plan_present(p, obs, version, arch, secrets.token_hex(4)) if p["state"] == "present" else ip.plan_absent(p, obs, version)
        except ValueError as err:
            raise ModuleFailure(str(err)) from None

        source = None
        if plan.needs_install:
            source = self._source(p, version, arch, index)
            # a host download authenticates with the credentials of the option that named the file
            auth = src.open_url_args(p, "url" if p["source"] == "url" else "base_url")
            params = dict(p, url_username=auth["username"], url_password=auth["password"])
            plan.install_ops = ip.install_ops(params, plan, version, arch, source, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

        hardened_before = ip.acl_matches(obs.acl, ip.desired_aces(obs.group_sids)) if obs.acl is not None else None
        result = self._result(p, obs, plan, version, arch, source, hardened_before)
        if self.check_mode or not plan.changed:
            return result
        applied = self._apply(p, plan, version, source, channel)
        for op, data in applied:
            if op["op"] != "go.run":
                continue
            out = (data.get("stdout") or "").strip()
            if op["args"]["args"] == ["version"]:
                result["go_version"] = out
                result["modelled"] = bool(data.get("modelled"))
            elif not wp.same(out, result["goroot"]):
                # e.g. the install root sits behind a junction: go reports the resolved path
                result.setdefault("warnings", []).append("go env GOROOT reports %r, not %r" % (out, result["goroot"]))
        return result

    def _index(self, p: dict) -> list:
        try:
            return src.fetch_index(p["index_url"], **src.open_url_args(p, "index_url"))
        except src.SourceError as err:
            raise ModuleFailure("index_url: %s" % err) from None

    def _source(self, p: dict, version: str, arch: str, index: list | None) -> dict:
        if p["source"] == "index":
            index = index if index is not None else self._index(p)
            try:
                release = gv.resolve(p["request"], index)
            except gv.VersionError as err:
                raise ModuleFailure("version: %s" % err) from None
            entry = gv.find_file(index, release, "windows", arch)
            if not entry or not re.fullmatch(r"[0-9a-fA-F]{64}", str(entry.get("sha256", ""))):
                raise ModuleFailure("version: the download index has no verified windows-%s zip for Go %s" % (arch, version))
            sha = entry["sha256"].lower()
            if p["sha256"] and p["sha256"] != sha:
                raise ModuleFailure(
                    "checksum sha256:%s does not match the index's sha256:%s for %s" % (p["sha256"], sha, entry["filename"])
                )
            filename = entry["filename"]
            if not re.fullmatch(r"[A-Za-z0-9._-]+\.zip", filename):
                raise ModuleFailure("the download index names an unexpected file %r for Go %s" % (filename, version))
            url = p["base_url"] + filename
        elif p["source"] == "url":
            url, sha = p["url"], p["sha256"]
            filename = src.url_filename(url)
        else:
            url, sha = "controller:" + os.path.basename(p["src"]), p["sha256"]
            filename = os.path.basename(p["src"])
        if not re.fullmatch(r"[A-Za-z0-9._() -]+", filename) or wp.RESERVED_NAMES & {filename.split(".")[0].upper()}:
            filename = "go%s.windows-%s.zip" % (version, arch)
        source = {"mode": "host", "url": url, "sha256": sha, "filename": filename}
        if p["source"] == "controller":
            try:
                source.update(mode="controller", local=src.verify_local("src", p["src"], sha))
            except src.SourceError as err:
                raise ModuleFailure(str(err)) from None
        elif p["download_on"] == "controller":
            try:
                option = "url" if p["source"] == "url" else "base_url"
                source.update(mode="controller", local=src.controller_copy(url, sha, **src.open_url_args(p, option)))
            except src.SourceError as err:
                text = str(err)
                if not text.startswith("checksum:"):  # which option named the place it failed to fetch
                    text = "%s (download_on=controller): %s" % ("url" if p["source"] == "url" else "base_url", text)
                raise ModuleFailure(text) from None
        return source

    def _apply(self, p: dict, plan: ip.Plan, version: str, source: dict | None, channel: Channel) -> list:
        """Run the plan; after a refused op, roll back what the install staged, then fail."""
        batches: list[list[dict]] = []
        if source and source["mode"] == "controller":
            batches.append(plan.pre_ops + [{"op": "dir.ensure", "args": {"path": plan.staging}}])
            batches.append(plan.install_ops + plan.post_ops)
        else:
            batches.append(plan.ops())
        done: list = []
        for n, ops in enumerate(batches):
            if n == 1:
                try:
                    self._connection.put_file(source["local"], plan.zip_path)
                except AnsibleConnectionFailure:
                    raise
                except AnsibleError as err:
                    note = self._roll_back(p, plan, version, channel, [op for op, _data in done])
                    raise ModuleFailure("src: copying the zip to the host failed: %s.%s" % (err, note)) from None
            try:
                # under the host lock, which the last batch gives back in the same round trip
                done += list(zip(ops, self.run_locked(channel, ops, release=n == len(batches) - 1)))
            except OpError as err:
                # only what succeeded: the refused op did nothing (an op that fails undoes its own part)
                ran = [op for op, _data in done] + ops[: err.index]
                note = self._roll_back(p, plan, version, channel, ran)
                if err.kind == "conflict" and err.op["op"] == "registry.set":
                    raise _Conflict() from None
                # a failed download is about the option that named the place
                option = {"file.download": {"url": "url", "index": "base_url"}.get(p["source"], "src")}.get(err.op["op"])
                raise ModuleFailure(
                    ("%s: " % option if option else "") + "%s failed (%s): %s.%s" % (err.op["op"], err.kind, err, note),
                    error_kind=err.kind, changes=plan.changes,
                ) from None
        return done

    def _roll_back(self, p: dict, plan: ip.Plan, version: str, channel: Channel, ran: list[dict]) -> str:
        """Undo what this run did; the sentence saying how that went."""
        undo = ip.rollback_ops(plan, ran, version, p["install_root"])
        if not undo:
            return ""
        undone = channel.run(undo)
        if len(undone) == len(undo) and all(r.get("ok") for r in undone):
            return " The staged files were removed; the host is as it was."
        return " Cleaning up failed too; the next run will finish it."

    def _result(self, p: dict, obs: ip.Observed, plan: ip.Plan, version: str, arch: str, source: dict | None,
                hardened_before: bool | None) -> dict:
        root = p["install_root"]
        rec = obs.record(version)
        present = version in plan.after_installed
        result = {
            "changed": plan.changed,
            "version": version,
            "arch": arch,
            "goroot": wp.join(root, version),
            "active": plan.after_active,
            "active_goroot": wp.join(root, "current") if plan.after_active else None,
            "installed_versions": plan.after_installed,
            "changes": plan.changes,
        }
        if present:
            result["sha256"] = source["sha256"] if source else (rec.get("Sha256") if rec else None)
            # never with a user name or password (a record written by an older release may hold one)
            result["source_url"] = src.strip_userinfo(source["url"] if source else (rec.get("SourceUrl") if rec else None))
        hardened_after = None if hardened_before is None else (hardened_before or p["harden_acl"])
        diff = {
            "before": ip.state_view(obs.active, obs.installed(), root, hardened_before),
            "after": ip.state_view(plan.after_active, plan.after_installed, root, hardened_after),
            "before_header": "%s (Go toolchains)" % root,
            "after_header": "%s (Go toolchains)" % root,
        }
        result["diff"] = diff
        return result
