# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.win_service_go: args -> binary read -> probe -> plan -> apply -> result.

Nothing on the host changes before the binary has been read and accepted on the controller. One read
round trip (a gMSA's or user's SID is resolved in it, beside the holders of its logon right); changes
go in at most two batches under the host lock, with the binary pushed between them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import tempfile
import typing as t

from ansible.errors import AnsibleConnectionFailure, AnsibleError

from ansible_collections.gowin.server.plugins.plugin_utils import _gobinary as gb
from ansible_collections.gowin.server.plugins.plugin_utils import _service_plan as sp
from ansible_collections.gowin.server.plugins.plugin_utils import _sources as src
from ansible_collections.gowin.server.plugins.plugin_utils import _winpath as wp
from ansible_collections.gowin.server.plugins.plugin_utils import _wrapper as wr
from ansible_collections.gowin.server.plugins.plugin_utils._winsvc import split_command_line
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
from ansible_collections.gowin.server.plugins.plugin_utils._channel import AGENT_DIR, Channel, OpError, load_agent_files

RECORD_KEY = "HKLM\\SOFTWARE\\GoWin\\Services"
LOGON_RIGHT = "SeServiceLogonRight"
# Fields whose change a running process sees only when it starts again.
_RESTART_FIELDS = ("image_path", "account", "password", "sid_type", "environment")
_MAX_SECONDS = 3600
_RELEASE_ID = re.compile(r"[0-9a-f]{12}")


class ActionModule(GowinAction):
    MODULE = "win_service_go"
    MUTUALLY_EXCLUSIVE = [("src", "url", "path", "release")]
    REQUIRED_IF = [("state", state, ("src", "url", "path", "release"), True) for state in ("started", "stopped", "restarted")]

    # ------------------------------------------------------------ arguments

    def _check(self, p: dict) -> dict:
        for value in (p.get("password"), p.get("url_password")):
            if value:
                self._no_log_values |= src.url_secrets(value)
        for value in (p.get("secret_environment") or {}).values():
            if isinstance(value, str) and value:
                self._no_log_values.add(value)
        try:
            sp.check_service_name(p["name"])
            p["install_root"] = wp.check_absolute("install_root", p["install_root"], strict=True)
            if not wp.components(p["install_root"]):
                raise wp.PathError("install_root must be a folder, not the root of a drive, got %r" % p["install_root"])
            base = wp.join("C:\\ProgramData", p["name"])
            for option, default in (("log_dir", wp.join(base, "logs")), ("data_dir", wp.join(base, "data"))):
                p[option] = wp.check_absolute(option, p[option] if p.get(option) is not None else default)
                if not wp.components(p[option]):
                    raise wp.PathError("%s must be a folder, not the root of a drive, got %r" % (option, p[option]))
            if p.get("path") is not None:
                p["path"] = wp.check_absolute("path", p["path"])
            if p.get("release") is not None:
                p["release"] = p["release"].strip().lower()
                if p["release"] != "previous" and not _RELEASE_ID.fullmatch(p["release"]):
                    raise sp.ServiceError("release must be 'previous' or a release id (the 12 hex digits of a release folder), got %r"
                                          % p["release"])
            p["sha256"] = src.parse_checksum("checksum", p.get("checksum"))
            if p.get("url") is not None:
                p["url"] = src.check_url("url", p["url"], p["allow_plain_http"])
                if p["sha256"] is None:
                    raise sp.ServiceError("url needs checksum (sha256:<64 hex digits>): a downloaded binary is run only when its SHA-256 is known")
            if p.get("url_password") is not None and p.get("url_username") is None:
                raise sp.ServiceError("url_password needs url_username (HTTP basic authentication sends both)")
            p["plan_account"] = sp.account_of(p["name"], p["account"], p.get("password"), p["allow_local_system"])
            p["plain_env"], p["secret_env"] = sp.environment_of(p["environment"], p["secret_environment"])
            p["plan_recovery"] = sp.recovery_of(p.get("recovery"), p["allow_reboot_action"])
            p["plan_health"] = sp.health_of(p.get("health"))
            p["plan_watchdog"] = sp.watchdog_of(p.get("watchdog"), p["plan_health"], p["name"])
            p["plan_wrapper"] = self._check_wrapper(p)
        except (sp.ServiceError, wp.PathError, src.SourceError, wr.WrapperError) as err:
            raise ModuleFailure(str(err)) from None
        for option, low, high in (("keep_releases", 0, 100), ("stop_timeout_s", 1, _MAX_SECONDS),
                                  ("start_timeout_s", 1, _MAX_SECONDS), ("timeout", 1, 86400)):
            if not low <= p[option] <= high:
                raise ModuleFailure("%s must be a whole number from %d to %d, got %d" % (option, low, high, p[option]))
        for option in ("display_name", "description"):
            value = p.get(option)
            if value is not None and (len(value) > (256 if option == "display_name" else 32767) or "\n" in value and option == "display_name"):
                raise ModuleFailure("%s must be one line of at most 256 characters" % option)
        for dep in p["dependencies"]:
            try:
                sp.check_service_name(dep)
            except sp.ServiceError as err:
                raise ModuleFailure("dependencies: %s" % str(err).replace("name must", "each entry must")) from None
            if dep.lower() == p["name"].lower():
                raise ModuleFailure("dependencies must not name the service itself (%s)" % dep)
        pins = []
        for thumb in p["signer_thumbprints"]:
            text = "".join(c for c in str(thumb) if c not in " :").upper()
            if len(text) != 40 or set(text) - set("0123456789ABCDEF"):
                raise ModuleFailure("signer_thumbprints entries must be SHA-1 thumbprints of 40 hex digits, got %r" % thumb)
            pins.append(text)
        p["signer_thumbprints"] = pins
        p["check_signature"] = bool(pins) or p["signature"] == "valid"
        source = p.get("event_source")
        p["event_source"] = p["name"] if source is None else source
        if not 1 <= len(p["event_source"]) <= 212 or set(p["event_source"]) & set("\\/") or \
                any(ord(c) < 32 for c in p["event_source"]) or p["event_source"].strip() != p["event_source"]:
            raise ModuleFailure("event_source must be 1 to 212 characters without '\\', '/', control characters or "
                                "leading or trailing spaces")
        if not p["event_log"] or set(p["event_log"]) & set("\\/") or any(ord(c) < 32 for c in p["event_log"]):
            raise ModuleFailure("event_log must be the name of an event log (Application, System, or one an application made)")
        return p

    @staticmethod
    def _check_wrapper(p: dict) -> dict | None:
        """The wrapper option checked (wrapper mode), or None."""
        plan = wr.wrapper_of(p.get("wrapper"), p["service_protocol"], p["stop_timeout_s"], release=p.get("release") is not None)
        if plan is None:
            return None
        plan["sha256"] = src.parse_checksum("wrapper checksum", plan.get("checksum"))
        if plan["source"] == "path":
            plan["path"] = wp.check_absolute("wrapper path", plan["path"])
        elif plan["source"] == "url":
            plan["url"] = src.check_url("wrapper url", plan["url"], p["allow_plain_http"])
            if plan["sha256"] is None:
                raise wr.WrapperError("wrapper url needs wrapper checksum (sha256:<64 hex digits>): a downloaded wrapper is run only "
                                      "when its SHA-256 is known")
        # the wrapper does not restart the program: the SCM's recovery actions do, for a non-zero exit too
        p["plan_recovery"]["on_non_crash_failure"] = True
        return plan

    def _wrapper_local(self, p: dict, plan: dict) -> tuple[str, dict]:
        """(option, inspection with the wrapper's kind) of a src or url wrapper, copied to the controller."""
        params = {"src": plan.get("src"), "url": plan.get("url"), "sha256": plan["sha256"], "validate_certs": p["validate_certs"],
                  "url_username": None, "url_password": None, "timeout": p["timeout"], "allow_plain_http": p["allow_plain_http"]}
        try:
            option, local = self._local_binary(params)
        except ModuleFailure as err:
            raise ModuleFailure("wrapper %s" % err) from None
        with open(local, "rb") as handle:
            data = handle.read()
        found = self._inspect("wrapper " + option, data)
        found["wrapper"] = wr.recognise(data)
        self._remember(found)
        return "wrapper " + option, dict(found, local=local)

    @staticmethod
    def _wrapper_release(p: dict, plan: dict, winfo: dict, info: dict, filename: str) -> dict:
        """Wrapper mode's release: the program, the wrapper and WinSW's configuration in one folder named by all three."""
        kind = plan["kind"]
        config = None
        if kind == "winsw":  # %BASE% is the folder of WinSW's executable and configuration: the text names no release
            config = wr.winsw_config("%BASE%\\" + filename, p["args"], p["name"], p.get("display_name") or p["name"], p.get("description"),
                                     plan, p["data_dir"], p["log_dir"])
        digest = hashlib.sha256(("%s\n%s\n%s" % (info["sha256"], winfo["sha256"], config or "")).encode("utf-8")).hexdigest()
        release = sp.release_folder(p["install_root"], p["name"], digest)
        wexe = wp.join(release, wr.exe_name(p["name"], kind))
        program = wp.join(release, filename)
        if kind == "shawl":
            image = wr.shawl_image_path(wexe, program, p["args"], p["name"], plan, winfo["wrapper"]["features"], p["data_dir"], p["log_dir"])
        else:
            image = sp.image_path(wexe, [])
        return {"id": digest[:12], "folder": release, "exe": wexe, "image_path": image, "config": config,
                "config_path": wr.config_file(wexe) if config is not None else None}

    def _binary_name(self, p: dict) -> str:
        if p.get("src") is not None:
            name = os.path.basename(p["src"])
        elif p.get("url") is not None:
            name = src.url_filename(p["url"])
        else:
            name = wp.normalize(p["path"]).rsplit("\\", 1)[-1]
        option = _source_option(p)
        try:
            wp.check_absolute(option, "C:\\" + name)
        except wp.PathError:
            raise ModuleFailure("%s: the file name %r cannot be a Windows file name" % (option, name)) from None
        return name

    # ------------------------------------------------------------ the binary, on the controller

    def _local_binary(self, p: dict) -> tuple[str, str]:
        """(option, local path) of a src or url binary, its checksum verified."""
        if p.get("src") is not None:
            try:
                local = self._find_needle("files", p["src"])
            except AnsibleError:
                raise ModuleFailure("src: %s was not found on the controller" % p["src"]) from None
            actual = src.sha256_file(local)
            if p["sha256"] and actual != p["sha256"]:
                raise ModuleFailure("checksum: %s does not match: expected sha256:%s, got sha256:%s (checksum mismatch)"
                                    % (p["src"], p["sha256"], actual))
            return "src", local
        try:
            cache = os.path.join(src._cache_root(), "binaries")  # pylint: disable=protected-access
            return "url", src.controller_copy(p["url"], p["sha256"], p["validate_certs"], p.get("url_username"),
                                              p.get("url_password"), p["timeout"], cache_dir=cache,
                                              allow_plain_http=p["allow_plain_http"])
        except src.SourceError as err:
            text = str(err)
            raise ModuleFailure(text if text.startswith("checksum:") else "url: " + text) from None

    @staticmethod
    def _inspect(option: str, data: bytes) -> dict:
        try:
            return gb.inspect(data)
        except gb.BinaryError as err:
            raise ModuleFailure("%s is not a Windows program: %s" % (option, err)) from None

    @staticmethod
    def _inspection_entry(sha256: str) -> str:
        """Where the controller keeps the inspection of the binary with this SHA-256 (read once, then reused)."""
        return os.path.join(src._cache_root(), "inspected", sha256 + ".json")  # pylint: disable=protected-access

    def _remember(self, found: dict) -> None:
        """Keep an inspection for a later task that names the same binary on the host (path, release)."""
        entry = self._inspection_entry(found["sha256"])
        try:
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            part = entry + ".%s.part" % secrets.token_hex(4)
            with open(part, "w", encoding="utf-8") as handle:
                json.dump(found, handle)
            os.replace(part, entry)
        except OSError:
            pass  # a cache: a later task reads the binary from the host instead

    def _host_binary(self, p: dict, sha256: str, option: str | None = None, wrapper: bool = False) -> dict:
        """The inspection of the binary at `path` on the host: from the controller's cache, else fetched once."""
        option = option or _source_option(p)
        try:
            with open(self._inspection_entry(sha256), encoding="utf-8") as handle:
                found = json.load(handle)
            if found.get("sha256") == sha256 and (not wrapper or "wrapper" in found):
                return found
        except (OSError, ValueError):
            pass
        with tempfile.TemporaryDirectory(prefix="gowin-svc-") as tmp:
            local = os.path.join(tmp, "binary")
            try:
                self._connection.fetch_file(p["path"], local)
            except AnsibleConnectionFailure:
                raise
            except AnsibleError as err:
                raise ModuleFailure("%s: reading %s from the host failed: %s" % (option, p["path"], err)) from None
            with open(local, "rb") as handle:
                data = handle.read()
        found = self._inspect(option, data)
        if wrapper:
            found["wrapper"] = wr.recognise(data)
        if found["sha256"] != sha256:
            raise ModuleFailure("%s: %s changed while it was read (its SHA-256 is now %s)" % (option, p["path"], found["sha256"]))
        self._remember(found)
        return found

    # ------------------------------------------------------------ the run

    def execute(self, params: dict, channel: Channel, task_vars: dict) -> dict:
        p = self._check(dict(params))
        if p["state"] == "absent":
            return self._absent(p, channel)
        # release: reads the record and the releases folder in a round trip of its own; the first batch reuses them
        known = self._resolve_release(p, channel) if p.get("release") is not None else None
        option = _source_option(p)
        account: sp.Account = p["plan_account"]
        filename = self._binary_name(p)
        local, info = None, None
        if p.get("path") is None:
            option, local = self._local_binary(p)
            with open(local, "rb") as handle:
                info = self._inspect(option, handle.read())
            self._remember(info)
        wplan = p["plan_wrapper"]
        wopt, winfo = None, None
        if wplan and wplan["source"] in ("src", "url"):
            wopt, winfo = self._wrapper_local(p, wplan)
        key = secrets.token_bytes(32)
        folder = wp.join(p["install_root"], p["name"])
        parents = [wp.join(p["install_root"][:3], *wp.components(p["install_root"])[:n]) if n else p["install_root"][:3]
                   for n in range(len(wp.components(p["install_root"])) + 1)]
        ops = [
            {"op": "host.facts", "args": {}},
            {"op": "service.get", "args": {"name": p["name"], "digest_key": key.hex()}},
            {"op": "firewall.get", "args": {"name": "gowin-" + p["name"]}},
            {"op": "eventlog.get", "args": {"source": p["event_source"]}},
        ] + ([] if known else [
            {"op": "registry.get", "args": {"path": RECORD_KEY + "\\" + p["name"]}},
            {"op": "dir.list", "args": {"path": wp.join(folder, "releases")}},
        ]) + [
            {"op": "acl.get", "args": {"path": folder}},
            {"op": "acl.get", "args": {"path": p["log_dir"]}},
            {"op": "acl.get", "args": {"path": p["data_dir"]}},
        ] + [{"op": "acl.get", "args": {"path": path}} for path in parents]
        if info is not None:
            exe = wp.join(sp.release_folder(p["install_root"], p["name"], info["sha256"]), filename)
            ops.append({"op": "file.stat", "args": {"path": exe, "checksum": True}})
        else:
            ops.append({"op": "file.stat", "args": {"path": p["path"], "checksum": True}})
        ops.append({"op": "signature.get", "args": {"path": ops[-1]["args"]["path"]}})
        if account.needs_logon_right:
            ops.append({"op": "policy.user_right", "args": {"right": LOGON_RIGHT}})
        if account.sid is None:
            ops.append({"op": "identity.resolve", "args": {"names": [account.scm_name]}})
        first_dep = len(ops) + (len(known) if known else 0)
        ops += [{"op": "service.get", "args": {"name": dep}} for dep in p["dependencies"]]
        ops.append({"op": "journal.get", "args": {"name": p["name"]}})
        wd_paths = sp.watchdog_paths(p["name"])
        wd_reads = _watchdog_reads(wd_paths, p["plan_watchdog"] is not None)
        w_reads = [{"op": "file.stat", "args": {"path": wplan["path"], "checksum": True}}] if wplan and wplan["source"] == "path" else []
        # release: what its folder holds besides the program (which wrapper, WinSW's configuration), in the same batch
        r_reads = [{"op": "file.stat", "args": {"path": path, "checksum": True}} for path in p["release_wrapper_files"].values()] \
            if known else []
        ops += wd_reads + w_reads + r_reads
        data = channel.run_checked(ops)
        if known:
            data[4:4] = known
        r_now, data = dict(zip(p["release_wrapper_files"] if known else (), data[len(data) - len(r_reads):])), data[:len(data) - len(r_reads)]
        w_now, data = data[len(data) - len(w_reads):], data[:len(data) - len(w_reads)]
        wd_now, data = data[len(data) - len(wd_reads):], data[:len(data) - len(wd_reads)]
        journal, data = data[-1], data[:-1]
        missing = [dep for dep, found in zip(p["dependencies"], data[first_dep:]) if not found.get("exists")]
        if missing:
            raise ModuleFailure("dependencies: %s %s not a service on this host (Windows would refuse every start with error 1075)"
                                % (", ".join(missing), "is" if len(missing) == 1 else "are"))
        data = data[:first_dep]
        facts, current, rule_now, source_now, record, listing, acl_folder, acl_log, acl_data = data[:9]
        parent_acls = list(zip(parents, data[9:9 + len(parents)]))
        stat, signature = data[9 + len(parents)], data[10 + len(parents)]
        warnings: list[str] = []

        if known:
            self._release_wrapper(p, wplan, r_now)
        if info is None:
            if not stat.get("exists") or stat.get("type") != "file":
                raise ModuleFailure("%s: %s is not a file on the host" % (option, p["path"]))
            if p.get("release_id") and not wplan and not stat["sha256"].startswith(p["release_id"]):
                raise ModuleFailure("release: the binary of release %s (%s) does not match its id: its SHA-256 is %s. It was changed "
                                    "on the host; deploy the release again with src, url or path" % (p["release_id"], p["path"], stat["sha256"]))
            if p["sha256"] and stat["sha256"] != p["sha256"]:
                raise ModuleFailure("checksum: %s does not match: expected sha256:%s, got sha256:%s (checksum mismatch)"
                                    % (p["path"], p["sha256"], stat["sha256"]))
            self._judge_signature(p, _signature_view(signature) or {}, option)  # before the binary is fetched to be read
            info = self._host_binary(p, stat["sha256"])
            exe = wp.join(sp.release_folder(p["install_root"], p["name"], info["sha256"]), filename)
            exe_stat = None
        else:
            exe_stat = stat
        try:
            # in wrapper mode the wrapper talks to the SCM: the program is not asked to
            warnings += sp.check_binary(info, option, facts["arch"], p["allow_wow64"],
                                        "native" if wplan else p["service_protocol"], account)
        except sp.ServiceError as err:
            raise ModuleFailure(str(err), binary=sp.binary_view(info)) from None
        wrap = None
        if wplan:
            if winfo is None:
                wopt = "wrapper path" if wplan["source"] == "path" else "the wrapper of release %s" % p["release_id"]
                wstat = w_now[0] if wplan["source"] == "path" else r_now[wplan["kind"]]
                if not wstat.get("exists") or wstat.get("type") != "file":
                    raise ModuleFailure("wrapper path: %s is not a file on the host" % wplan["path"])
                if wplan["sha256"] and wstat["sha256"] != wplan["sha256"]:
                    raise ModuleFailure("wrapper checksum: %s does not match: expected sha256:%s, got sha256:%s (checksum mismatch)"
                                        % (wplan["path"], wplan["sha256"], wstat["sha256"]))
                winfo = self._host_binary({"path": wplan["path"]}, wstat["sha256"], option=wopt, wrapper=True)
            try:
                warnings += wr.judge(wplan, winfo["wrapper"], wopt)
                warnings += sp.check_binary(winfo, wopt, facts["arch"], p["allow_wow64"], "native", account)
            except (wr.WrapperError, sp.ServiceError) as err:
                raise ModuleFailure(str(err), binary=sp.binary_view(info)) from None
            wrap = self._wrapper_release(p, wplan, winfo, info, filename)
            if p.get("release_id"):
                self._release_check(p, wplan, wrap, info, winfo, r_now)
            exe = wp.join(wrap["folder"], filename)
            exe_stat = None  # a release folder is named by what it holds: its being there decides
            signature = None  # read again after the push when the signature is checked

        on_host = exe_stat is None or (exe_stat.get("exists") and exe_stat.get("sha256") == info["sha256"])
        if not on_host:
            signature = None
        info["signature"] = _signature_view(signature)
        if signature is not None:
            self._judge_signature(p, info["signature"], option)

        identity_sid = account.sid
        if identity_sid is None:
            identity_sid = data[-1]["sids"].get(account.scm_name)
            if identity_sid is None:
                raise ModuleFailure("account %s is not known on the host (nor in its domain)" % account.scm_name, binary=sp.binary_view(info))
        logon = None
        if account.needs_logon_right:
            rights = data[11 + len(parents)]
            logon = {"has_right": identity_sid.upper() in {h.upper() for h in rights.get("holders") or []},
                     "policy_owned": bool(rights.get("policy_owned"))}

        release_dir = wp.parent(exe)
        sha12 = wrap["id"] if wrap else info["sha256"][:12]
        folder_aces = sp.folder_aces(identity_sid, sp.READ_AND_EXECUTE)
        data_aces = sp.folder_aces(identity_sid, sp.MODIFY)
        blocked = sp.unreadable_parent(parent_acls, sp.token_sids(account, identity_sid))
        if blocked:
            raise ModuleFailure("install_root: the service account %s cannot list %s, a folder above its binary: grant it "
                                "(or Users) read and execute there, or choose another install_root" % (account.scm_name, blocked))

        # ---- the plan
        desired = {
            "display_name": p.get("display_name") or p["name"],
            "image_path": wrap["image_path"] if wrap else sp.image_path(exe, p["args"]),
            "start_mode": p["start_mode"], "account": account.scm_name, "sid_type": p["sid_type"],
            "dependencies": list(p["dependencies"]), "recovery": p["plan_recovery"],
        }
        if p.get("description") is not None:
            desired["description"] = p["description"]
        created = not current.get("exists")
        changes_set = sp.config_changes(current, desired, p["plain_env"], p["secret_env"], key)
        if account.needs_password and (created or "account" in changes_set or p["update_password"] == "always"):
            changes_set["account"] = account.scm_name
            changes_set["password"] = p["password"]
        changes: list[str] = []
        push = exe_stat is None and not _release_in(listing, sha12) or exe_stat is not None and (
            not exe_stat.get("exists") or exe_stat.get("sha256") != info["sha256"])
        if push:
            changes.append("install release %s (%s)" % (sha12, filename))
            if p["check_signature"] and exe_stat is not None:
                changes.append("check the Authenticode signature of release %s on the host" % sha12)
        if created:
            config_changes = ["create service %s" % p["name"]]
        else:
            config_changes = ["set %s" % f for f in changes_set if f != "password"]
            if "password" in changes_set:
                config_changes.append("set password")
        pre_ops: list[dict] = []
        ops = []
        if sp.acl_differs(acl_folder, folder_aces):
            pre_ops += [{"op": "dir.ensure", "args": {"path": folder}},
                        {"op": "acl.set", "args": {"path": folder, "protected": True, "aces": folder_aces}}]
            changes.append("set the ACL of %s" % folder)
        if push:
            pre_ops.append({"op": "dir.ensure", "args": {"path": release_dir}})
            if local is None:
                ops.append({"op": "file.download", "args": {"url": p["path"], "dest": exe, "sha256": info["sha256"]}})
            else:
                ops.append({"op": "file.stat", "args": {"path": exe, "expect": {"sha256": info["sha256"]}}})
            if wrap:
                if winfo.get("local"):
                    ops.append({"op": "file.stat", "args": {"path": wrap["exe"], "expect": {"sha256": winfo["sha256"]}}})
                else:
                    ops.append({"op": "file.download", "args": {"url": wplan["path"], "dest": wrap["exe"], "sha256": winfo["sha256"]}})
                changes.append("install the %s wrapper %s (sha256:%s) in release %s" % (wplan["kind"], wrap["exe"], winfo["sha256"][:12], sha12))
                if wrap["config"] is not None:
                    ops.append({"op": "file.write", "args": {"path": wrap["config_path"], "content": wrap["config"], "encoding": "utf8"}})
                    changes.append("write the WinSW configuration %s" % wrap["config_path"])
        for path, acl in ((p["log_dir"], acl_log), (p["data_dir"], acl_data)):
            if sp.acl_differs(acl, data_aces):
                ops += [{"op": "dir.ensure", "args": {"path": path}},
                        {"op": "acl.set", "args": {"path": path, "protected": True, "aces": data_aces}}]
                changes.append("set the ACL of %s" % path)
        if source_now.get("exists") and (source_now.get("log") or "").lower() != p["event_log"].lower():
            raise ModuleFailure("event_source %s is registered to the log %s, not %s: remove it there first, or choose another "
                                "event_source" % (p["event_source"], source_now.get("log"), p["event_log"]))
        if not source_now.get("exists"):
            ops.append({"op": "eventlog.register", "args": {"source": p["event_source"], "log": p["event_log"]}})
            changes.append("register event source %s in %s" % (p["event_source"], p["event_log"]))
        if logon is not None and not logon.get("has_right"):
            ops.append({"op": "policy.user_right", "args": {"right": LOGON_RIGHT, "sid": identity_sid, "grant": True}})
            changes.append("grant %s Log on as a service" % account.scm_name)
            if logon.get("policy_owned"):
                warnings.append("Log on as a service is set by a group policy on this host: the grant to %s is undone at the "
                                "next policy refresh unless that policy grants it too" % account.scm_name)
        running = current.get("state") == "running"
        restart = running and any(f in changes_set for f in _RESTART_FIELDS)
        stop = running and (restart or p["state"] == "stopped" or p["state"] == "restarted")
        start = p["state"] in ("started", "restarted") and (not running or stop)
        # An update cut off on the host (its journal has no outcome): the previous release is the one it
        # switched from, and this run carries the whole update out again, probe and rollback included.
        resume = bool(journal.get("exists") and journal.get("interrupted") and journal.get("from")) and not created
        if resume:
            warnings.append("the last update of %s (journal %s, %s -> %s) was cut off at the stage %s: this run carries it out "
                            "again" % (p["name"], journal.get("id"), journal.get("from"), journal.get("to"), journal.get("stage")))
            if p["state"] in ("started", "restarted"):
                stop, start = running, True
        use_update = not created and start and (bool(changes_set) or stop or resume)
        # The image path the service ran before this task: the one a rollback goes back to (after an update cut off
        # on the host, the one that update switched from).
        back_image = current.get("image_path")
        if resume and (journal.get("to") or "").lower() == (back_image or "").lower():
            back_image = journal["from"]
        rule = None
        rule_ops: list[dict] = []
        if p.get("firewall") is not None:
            try:
                rule = sp.firewall_rule(p["name"], p["firewall"], wp.normalize(exe), desired["display_name"])
            except sp.ServiceError as err:
                raise ModuleFailure(str(err)) from None
            if sp.firewall_differs(rule_now, rule):
                rule_ops.append({"op": "firewall.set", "args": rule})
        elif rule_now.get("exists"):
            ops.append({"op": "firewall.remove", "args": {"name": "gowin-" + p["name"]}})
            changes.append("remove firewall rule gowin-%s" % p["name"])
        rule_change = ("%s firewall rule %s" % ("replace" if rule_now.get("exists") else "create", rule["name"])) if rule_ops else None
        if use_update:
            update = {"name": p["name"], "id": secrets.token_hex(8),
                      "set": dict(changes_set, image_path=desired["image_path"], digest_key=key.hex()),
                      "back": {"image_path": back_image}, "stop_timeout_s": p["stop_timeout_s"],
                      "start_timeout_s": p["start_timeout_s"], "rollback": p["rollback"]}
            if resume:  # the cut-off update had stopped a service that ran: the previous release runs again
                update["start_back"] = True
            if rule_ops:
                update["firewall"] = rule
                update["firewall_back"] = _rule_args(rule_now)
            if p["plan_health"] is not None:
                update["health"] = p["plan_health"]
            if running:
                changes.append("stop service %s" % p["name"])
            changes += config_changes
            if rule_change:
                changes.append(rule_change)
            changes.append("start service %s" % p["name"])
            ops.append({"op": "deploy.update", "args": update})
            if p["rollback"] and back_image:
                # the program a rollback starts again (and its wrapper, when it has one), for release (which then describes
                # it): read in the same batch
                back_files = _image_files(back_image, folder, record)
                ops += [{"op": "file.stat", "args": {"path": path, "checksum": True}} for path in back_files if path]
        else:
            if stop:
                ops.append({"op": "service.stop", "args": {"name": p["name"], "timeout_s": p["stop_timeout_s"]}})
                changes.append("stop service %s" % p["name"])
            if changes_set:
                args = dict(changes_set, name=p["name"], digest_key=key.hex())
                if created:
                    args["create"] = True
                ops.append({"op": "service.set", "args": args})
                changes += config_changes
            ops += rule_ops
            if rule_change:
                changes.append(rule_change)
            if start:
                ops.append({"op": "service.start", "args": {"name": p["name"], "timeout_s": p["start_timeout_s"]}})
                changes.append("start service %s" % p["name"])
                if p["plan_health"] is not None:
                    ops.append({"op": "health.probe", "args": dict(p["plan_health"], service=p["name"])})
        wd_ops, wd_changes, wd_view, wd_diff = _watchdog_plan(p, wd_paths, wd_now, facts)
        ops += wd_ops
        changes += wd_changes
        releases = _record_releases(record)
        # Newest first, by when each release was first installed: going back to a release already recorded (a
        # rollback's release, say) leaves the record as it is.
        new_record = releases if sha12 in releases else [sha12] + releases
        # previous: the release that was active before the active one. A switch (this run's) replaced the release
        # the service ran; else the record says which one the active release replaced when it was switched to.
        running_release = _release_of(current, folder)
        before = _release_of({"image_path": back_image}, folder) if not created else None
        replaced = _release_replaced(record)
        switch = before is not None and before != sha12
        previous = before if switch else _replaced_by(releases, replaced, sha12) if before == sha12 else None
        keep = set(new_record[:max(p["keep_releases"], 1)]) | {sha12} | {r for r in (running_release, before, previous) if r}
        on_disk = [e["name"] for e in listing.get("entries") or [] if e.get("type") == "directory"]
        prune = [n for n in on_disk if n.lower() not in keep]
        new_record = [r for r in new_record if r in keep]
        if new_record != releases:
            ops.append({"op": "registry.set", "args": {"path": RECORD_KEY + "\\" + p["name"], "name": "Releases",
                                                       "type": "REG_MULTI_SZ", "data": new_record}})
            # the file name of each release, for release: <id> and previous (written when the record changes)
            files = dict(_release_files(record), **{sha12: filename})
            ops.append({"op": "registry.set", "args": {"path": RECORD_KEY + "\\" + p["name"], "name": "Binaries", "type": "REG_MULTI_SZ",
                                                       "data": ["%s\\%s" % (r, files[r]) for r in new_record if r in files]}})
        # the release each kept release replaced when the service switched to it, for release.previous in later runs
        # (an update rolled back leaves the entry of its release, which is not active, harmless)
        new_replaced = dict(replaced, **({sha12: before} if switch else {}))
        replaced_data = ["%s\\%s" % (r, new_replaced[r]) for r in new_record if r in new_replaced]
        if replaced_data != _record_values(record, "Replaced"):
            ops.append({"op": "registry.set", "args": {"path": RECORD_KEY + "\\" + p["name"], "name": "Replaced", "type": "REG_MULTI_SZ",
                                                       "data": replaced_data}})
        for name in prune:
            ops.append({"op": "path.remove", "args": {"path": wp.join(folder, "releases", name)}})
            changes.append("remove release %s" % name)

        result = {
            "changed": bool(pre_ops or ops),
            "binary": sp.binary_view(info),
            "release": {"folder": release_dir, "path": exe, "sha256": info["sha256"],
                        "wrapper_sha256": winfo["sha256"] if wrap else None, "previous": previous,
                        "kept": sorted(keep), "removed": prune},
            "firewall_rule": rule,
            "event_source": {"source": p["event_source"], "log": p["event_log"]},
            "watchdog": wd_view,
            "wrapper": None if wrap is None else {"kind": wplan["kind"], "path": wrap["exe"], "sha256": winfo["sha256"],
                                                  "config": wrap["config_path"], "evidence": winfo["wrapper"]["evidence"]},
            "changes": changes,
            "warnings": [self._scrub(w) for w in warnings],
            "diff": {"before": _diff_text(current, rule_now, p, None, key) + wd_diff[0],
                     "after": _diff_text(desired, rule, p, changes_set) + wd_diff[1] + (_wrapper_diff(wplan, wrap, winfo) if push else ""),
                     "before_header": "service %s" % p["name"], "after_header": "service %s" % p["name"]},
        }
        if journal.get("exists"):
            fields = ("id", "stage", "outcome", "from", "to", "started", "finished", "detail", "interrupted")
            result["last_update"] = {k: journal.get(k) for k in fields}
            result["last_update"]["detail"] = self._scrub(result["last_update"]["detail"] or "")
        if logon is not None:
            result["logon_right"] = {"account": account.scm_name, "sid": identity_sid, "right": LOGON_RIGHT,
                                     "has_right": bool(logon.get("has_right")) or not self.check_mode,
                                     "policy_owned": bool(logon.get("policy_owned"))}
        after = _service_view(current, desired, changes_set, p, identity_sid)
        if self.check_mode or not result["changed"]:
            if p["state"] == "stopped":
                after["state"], after["pid"] = "stopped", None
            elif start or running:
                after["state"] = "running"
            result["service"] = after
            if p["probe_health"] and p["plan_health"] is not None:
                self._probe_now(channel, p, running, result)
            return result

        # ---- apply
        uploads = [(local, exe)] if local is not None else []
        if wrap and winfo.get("local"):
            uploads.append((winfo["local"], wrap["exe"]))
        if pre_ops or push and uploads:
            self.run_locked(channel, pre_ops, release=False)
            for upload_from, upload_to in uploads if push else []:
                try:
                    self._connection.put_file(upload_from, upload_to)
                except AnsibleConnectionFailure:
                    raise
                except AnsibleError as err:
                    undo = [{"op": "path.remove", "args": {"path": release_dir}}]
                    channel.run(undo)
                    raise ModuleFailure("%s: copying the binary to the host failed: %s. The release folder was removed; the "
                                        "service was not touched" % (option if upload_to == exe else wopt, err),
                                        changes=[c for c in changes if c == "set the ACL of %s" % folder]) from None
            if push and local is not None and p["check_signature"]:
                try:
                    seen = _signature_view(channel.run_checked([{"op": "signature.get", "args": {"path": exe}}])[0])
                    result["binary"]["signature"] = seen
                    self._judge_signature(p, seen, option)
                except ModuleFailure as err:
                    channel.run([{"op": "path.remove", "args": {"path": release_dir}}])
                    raise ModuleFailure("%s The release folder was removed; the service was not touched." % err,
                                        binary=result["binary"]) from None
        try:
            done = self.run_locked(channel, ops)
        except OpError as err:
            self._failed_apply(err, result)
        by_op = {op["op"]: d for op, d in zip(ops, done)}
        final = by_op.get("service.start") or {}
        service = by_op.get("service.set")
        # deploy.update returns no configuration: the view is the plan's (service.set never runs beside it)
        after = _service_view(service or current, desired, changes_set if "deploy.update" in by_op else {}, p, identity_sid)
        if final:
            after["state"], after["pid"] = final.get("state", after["state"]), final.get("pid")
        elif "service.stop" in by_op:
            after["state"], after["pid"] = "stopped", None
        result["service"] = after
        if "deploy.update" in by_op:
            at = next(i for i, op in enumerate(ops) if op["op"] == "deploy.update")
            back_files = _image_files(back_image, folder, record) if p["rollback"] and back_image else (None, None)
            back_stats = iter(done[at + 1:])
            back = {"id": before, "image_path": back_image, "program": back_files[0], "wrapper": back_files[1],
                    "stat": next(back_stats, {}) if back_files[0] else {}, "wrapper_stat": next(back_stats, {}) if back_files[1] else {},
                    "previous": _replaced_by(releases, replaced, before) if before else None}
            return self._updated(p, by_op["deploy.update"], result, after, back, done)
        if "service.stop" in by_op:
            result["stopped_by"] = by_op["service.stop"].get("stopped_by")
        if any(d.get("modelled") for d in done):
            result["modelled"] = True
        if "health.probe" in by_op:
            result["health"] = self._health_view(by_op["health.probe"])
            result["healthy"] = result["health"]["healthy"]
            if not result["healthy"]:
                after["state"] = (result["health"].get("service") or {}).get("state") or after["state"]
                raise ModuleFailure(self._unhealthy_message(p, result["health"], created), **result)
        return result

    def _updated(self, p: dict, found: dict, result: dict, after: dict, back: dict, done: list[dict]) -> dict:
        """The result of a deploy.update: its stages, the probes, and a failed task unless the update went in.
        `back` is the release a rollback goes back to (its id, image path, what file.stat read of its binary, and
        the release that was active before it)."""
        after["state"], after["pid"] = found.get("state") or after["state"], found.get("pid")
        result["update"] = {"outcome": found.get("outcome"), "journal_id": found.get("journal_id"),
                            "stages": [dict(st, error=self._scrub_error(st.get("error"))) for st in found.get("stages") or []]}
        if found.get("stopped_by"):
            result["stopped_by"] = found["stopped_by"]
        if any(d.get("modelled") for d in done):
            result["modelled"] = True
        if found.get("health") is not None:
            result["health"] = self._health_view(found["health"])
            result["healthy"] = result["health"]["healthy"]
        outcome = found.get("outcome")
        if outcome == "updated":
            return result
        release = result["release"]
        tried = release["sha256"][:12]
        if outcome in ("rolled_back", "rollback_failed"):
            result["rolled_back"] = outcome == "rolled_back"
            if found.get("rollback_health") is not None:
                result["rollback_health"] = self._health_view(found["rollback_health"])
            if any(st.get("stage") == "switched_back" and st.get("ok") for st in found.get("stages") or []):
                # the image path is the previous one again: release is the release that is active, and the one
                # that failed is reported apart
                after["image_path"] = back["image_path"]
                failed = {"id": tried, "folder": release["folder"], "path": release["path"], "sha256": release["sha256"],
                          "wrapper_sha256": release["wrapper_sha256"]}
                # release describes the program (its binary's SHA-256), in wrapper mode too; the wrapper apart
                release.update(folder=wp.parent(back["program"]), path=back["program"], sha256=_file_sha(back["stat"]),
                               wrapper_sha256=_file_sha(back["wrapper_stat"]) if back["wrapper"] else None,
                               previous=back["previous"], failed=failed)
        error = self._scrub_error(found.get("error")) or {}
        failed_stage = next((st["stage"] for st in found.get("stages") or [] if not st.get("ok")), "?")
        how = "was not healthy" if error.get("kind") == "unhealthy" else "failed at the stage %s (%s)" % (failed_stage, error.get("kind"))
        what = "release %s of service %s %s" % (tried, p["name"], how)
        text = "%s: %s" % (what, error.get("message"))
        if outcome == "rolled_back":
            to = "release %s" % back["id"] if back.get("id") else "the previous image path"
            text += ". Rolled back to %s, which is %s%s" % (
                to, after["state"], " and healthy" if (result.get("rollback_health") or {}).get("healthy") else "")
        elif outcome == "failed":
            text += ". It was left running (rollback: false)"
        else:
            back_error = self._scrub_error(found.get("rollback_error")) or {}
            text += ". Rolling back failed too (%s: %s); the service is %s" % (back_error.get("kind"), back_error.get("message"), after["state"])
        raise ModuleFailure(("health: " if error.get("kind") == "unhealthy" else "update: ") + text, **result)

    def _resolve_release(self, p: dict, channel: Channel) -> list[dict]:
        """release: previous or <id> -> p["path"], the binary in that release's folder (read in a round trip of its own).
        Returns what it read, [the record, the listing of the releases folder], for the first batch to reuse."""
        folder = wp.join(p["install_root"], p["name"])
        record, listing = channel.run_checked([{"op": "registry.get", "args": {"path": RECORD_KEY + "\\" + p["name"]}},
                                               {"op": "dir.list", "args": {"path": wp.join(folder, "releases")}}])
        releases = [r.lower() for r in _record_releases(record)]
        if p["release"] == "previous":
            if len(releases) < 2:
                raise ModuleFailure("release: previous needs a release installed before the newest one; the record of %s holds %s"
                                    % (p["name"], ", ".join(releases) if releases else "none (nothing was deployed by this module)"))
            chosen = releases[1]
        elif p["release"] in releases:
            chosen = p["release"]
        else:
            raise ModuleFailure("release: %s is not a recorded release of %s; recorded: %s" % (p["release"], p["name"], ", ".join(releases) or "none"))
        if not _release_in(listing, chosen):
            raise ModuleFailure("release: the folder of release %s is gone from %s (removed by hand?); deploy it again with src, url or path"
                                % (chosen, wp.join(folder, "releases")))
        filename = _release_files(record).get(chosen)
        wrappers = {wr.exe_name(p["name"], kind).lower() for kind in wr.KINDS}
        if filename is None:  # recorded by an older version of the collection: its folder says
            entries = channel.run_checked([{"op": "dir.list", "args": {"path": wp.join(folder, "releases", chosen)}}])[0].get("entries") or []
            programs = [e["name"] for e in entries if e.get("type") == "file" and e.get("name", "").lower().endswith(".exe")
                        and e["name"].lower() not in wrappers]
            if len(programs) != 1:
                raise ModuleFailure("release: the folder of release %s holds %s program files, not one: deploy it again with src, url or "
                                    "path" % (chosen, len(programs)))
            filename = programs[0]
        p["release_id"] = chosen
        release = wp.join(folder, "releases", chosen)
        p["path"] = wp.join(release, filename)
        # what tells a wrapper release from a native one, read in the first batch: the wrapper of each kind, WinSW's configuration
        p["release_wrapper_files"] = dict({kind: wp.join(release, wr.exe_name(p["name"], kind)) for kind in wr.KINDS},
                                          config=wr.config_file(wp.join(release, wr.exe_name(p["name"], "winsw"))))
        return [record, listing]

    @staticmethod
    def _release_wrapper(p: dict, wplan: dict | None, found: dict) -> None:
        """Refuse a release that is not of the kind the task asks for: a wrapper release of wrapper kind in wrapper mode,
        one without a wrapper otherwise. `found` is what file.stat read of its folder's wrapper files."""
        present = [kind for kind in wr.KINDS if found[kind].get("exists") and found[kind].get("type") == "file"]
        try:
            wr.check_release_kind(p["release_id"], p["name"], present, wplan["kind"] if wplan else None)
        except wr.WrapperError as err:
            raise ModuleFailure(str(err)) from None
        if wplan:  # the wrapper binary is the one on the host in the release's folder
            wplan["path"] = p["release_wrapper_files"][wplan["kind"]]

    @staticmethod
    def _release_check(p: dict, wplan: dict, wrap: dict, info: dict, winfo: dict, found: dict) -> None:
        """A wrapper release named by release is used as it is: WinSW's configuration in its folder must be the one the
        task's options make, and its files must match its id (the digest of the program, the wrapper and the configuration)."""
        release = p["release_id"]
        if wplan["kind"] == "winsw":
            config = found["config"]
            if not config.get("exists") or config.get("type") != "file":
                raise ModuleFailure("release: the WinSW configuration %s of release %s is gone (removed by hand?): deploy the release "
                                    "again with src, url or path" % (wrap["config_path"], release))
            if config.get("sha256") != hashlib.sha256(wrap["config"].encode("utf-8")).hexdigest():
                raise ModuleFailure("release: the WinSW configuration %s of release %s is not the one this task's options make (args, "
                                    "display_name, description, data_dir, log_dir, wrapper ctrl_c_timeout_s, log_rotate_bytes and "
                                    "log_retain go into it): give the options that release was deployed with, or deploy a new release "
                                    "with src, url or path" % (wrap["config_path"], release))
        if wrap["id"] != release:
            raise ModuleFailure("release: the files of release %s do not match its id: its program (sha256:%s) or its wrapper "
                                "(sha256:%s) was changed on the host; deploy the release again with src, url or path"
                                % (release, info["sha256"], winfo["sha256"]))

    def _scrub_error(self, error: dict | None) -> dict | None:
        if not error:
            return None
        return {"kind": error.get("kind"), "message": self._scrub(str(error.get("message") or ""))}

    def _probe_now(self, channel: Channel, p: dict, running: bool, result: dict) -> None:
        """probe_health: the health of the service as it runs now (read-only; one more round trip when it runs)."""
        if running:
            result["health"] = self._health_view(channel.run_checked([{"op": "health.probe", "args": dict(p["plan_health"], service=p["name"])}])[0])
        else:
            kind = next(k for k in ("http", "tcp", "command") if k in p["plan_health"])
            result["health"] = {"healthy": False, "reason": "the service %s is not running" % p["name"], "kind": kind,
                                "target": None, "probe_count": 0, "elapsed_ms": 0, "service": None, "probes": []}
        result["healthy"] = result["health"]["healthy"]

    def _health_view(self, found: dict) -> dict:
        """The probe's evidence as returned: secrets scrubbed from every text the service or host wrote."""
        view = {k: found.get(k) for k in ("healthy", "reason", "kind", "target", "probe_count", "elapsed_ms", "service")}
        view["healthy"] = bool(view["healthy"])
        probes = []
        for probe in found.get("probes") or []:
            entry = dict(probe)
            for field in ("body", "output", "error"):
                if isinstance(entry.get(field), str):
                    entry[field] = self._scrub(entry[field])
            probes.append(entry)
        view["probes"] = probes
        if isinstance(view.get("target"), str):
            view["target"] = self._scrub(view["target"])
        if found.get("modelled"):
            view["modelled"] = True
        return view

    @staticmethod
    def _unhealthy_message(p: dict, health: dict, created: bool) -> str:
        """A service started without an update (a fresh registration, or a stopped one started) failed its probe."""
        last = (health.get("probes") or [{}])[-1]
        evidence = last.get("error") or ""
        if last.get("status") is not None and last.get("body"):
            evidence += " (body %r)" % last["body"][:80]
        return "health: %s %s is not healthy after its start: %s%s. It was left as it is; see health.probes for the evidence" % (
            "the new service" if created else "service", p["name"], health.get("reason"), "; last probe: %s" % evidence if evidence else "")

    @staticmethod
    def _judge_signature(p: dict, seen: dict, option: str) -> None:
        """Refuse a binary whose Authenticode signature the task does not accept (ModuleFailure)."""
        if not p["check_signature"]:
            return
        signer = (seen.get("signer") or {}).get("thumbprint")
        if seen.get("status") != "Valid":
            raise ModuleFailure("signature: the Authenticode signature of the %s binary is %s on this host, not Valid: %s%s" % (
                option, seen.get("status"), seen.get("status_message") or "", " (signer %s)" % signer if signer else ""))
        if p["signer_thumbprints"] and (signer or "").upper() not in p["signer_thumbprints"]:
            raise ModuleFailure("signer_thumbprints: the %s binary is signed by %s (%s), which is not one of %s" % (
                option, signer, (seen.get("signer") or {}).get("subject"), ", ".join(p["signer_thumbprints"])))

    @staticmethod
    def _failed_apply(err: OpError, result: dict) -> t.NoReturn:
        """A refused op of the apply batch. (A switched release is started by deploy.update, which rolls back on
        the host; an op refused here is a fresh registration's, or one that changes no release.)"""
        raise ModuleFailure("%s failed (%s): %s." % (err.op["op"], err.kind, err), error_kind=err.kind,
                            changes=result["changes"], binary=result["binary"])

    # ------------------------------------------------------------ absent

    def _absent(self, p: dict, channel: Channel) -> dict:
        folder = wp.join(p["install_root"], p["name"])
        ops = [
            {"op": "service.get", "args": {"name": p["name"]}},
            {"op": "firewall.get", "args": {"name": "gowin-" + p["name"]}},
            {"op": "eventlog.get", "args": {"source": p["event_source"]}},
            {"op": "registry.get", "args": {"path": RECORD_KEY + "\\" + p["name"]}},
            {"op": "file.stat", "args": {"path": folder}},
            {"op": "file.stat", "args": {"path": p["log_dir"]}},
            {"op": "file.stat", "args": {"path": p["data_dir"]}},
        ]
        wd_paths = sp.watchdog_paths(p["name"])
        found = channel.run_checked(ops + _watchdog_reads(wd_paths, False))
        current, rule_now, source_now, record, folder_stat, log_stat, data_stat = found[:7]
        wd_ops, wd_changes, _view, wd_diff = _watchdog_plan(dict(p, plan_watchdog=None), wd_paths, found[7:], {})
        ops, changes = [], []
        if current.get("exists"):
            if current.get("state") not in ("stopped", None):
                ops.append({"op": "service.stop", "args": {"name": p["name"], "timeout_s": p["stop_timeout_s"]}})
                changes.append("stop service %s" % p["name"])
            ops.append({"op": "service.remove", "args": {"name": p["name"]}})
            changes.append("remove service %s" % p["name"])
        if source_now.get("exists") and not source_now.get("log_default"):
            ops.append({"op": "eventlog.remove", "args": {"source": p["event_source"]}})
            changes.append("remove event source %s" % p["event_source"])
        if rule_now.get("exists"):
            ops.append({"op": "firewall.remove", "args": {"name": "gowin-" + p["name"]}})
            changes.append("remove firewall rule gowin-%s" % p["name"])
        ops += wd_ops
        changes += wd_changes
        if folder_stat.get("exists"):
            ops.append({"op": "path.remove", "args": {"path": folder}})
            changes.append("remove %s" % folder)
        if record.get("exists"):
            ops.append({"op": "registry.remove", "args": {"path": RECORD_KEY + "\\" + p["name"]}})
        if p["remove_data"]:
            for path, stat in ((p["log_dir"], log_stat), (p["data_dir"], data_stat)):
                if stat.get("exists"):
                    ops.append({"op": "path.remove", "args": {"path": path}})
                    changes.append("remove %s" % path)
        result = {
            "changed": bool(ops), "changes": changes, "firewall_rule": None,
            "event_source": {"source": p["event_source"], "log": None},
            "diff": {"before": (_diff_text(current, rule_now, p, None) if current.get("exists") else "") + wd_diff[0],
                     "after": "", "before_header": "service %s" % p["name"], "after_header": "service %s" % p["name"]},
        }
        if ops and not self.check_mode:
            done = self.run_locked(channel, ops)
            for op, d in zip(ops, done):
                if op["op"] == "service.stop":
                    result["stopped_by"] = d.get("stopped_by")
                if d.get("modelled"):
                    result["modelled"] = True
        return result


_RULE_FIELDS = ("name", "display_name", "description", "direction", "action", "enabled", "protocol", "local_ports", "remote_addresses",
                "profiles", "program", "service")


_BOM = b"\xef\xbb\xbf"
LAUNCHER = os.path.join(os.path.dirname(AGENT_DIR), "_watchdog", "watchdog.ps1")


def _watchdog_reads(paths: dict, wanted: bool) -> list[dict]:
    """The read ops of a service's watchdog (the task and the settings; the folder's ACL and shared files when wanted)."""
    ops = [{"op": "task.get", "args": {"path": paths["task"]}},
           {"op": "file.stat", "args": {"path": paths["settings"], "checksum": True}}]
    if wanted:
        ops += [{"op": "file.stat", "args": {"path": paths["launcher"], "checksum": True}},
                {"op": "file.stat", "args": {"path": paths["agent"], "checksum": True}},
                {"op": "acl.get", "args": {"path": paths["folder"]}}]
    return ops


def _watchdog_files(p: dict, paths: dict) -> list[tuple[str, str, str, str]]:
    """(what, host path, text, encoding) of each file the watchdog needs: the fixed launcher, the agent assembled
    for the op family watchdog, the settings (JSON data)."""
    with open(LAUNCHER, "r", encoding="utf-8") as handle:
        launcher = handle.read()
    files = load_agent_files()
    agent = files.assemble(files.closure(["watchdog"]))[0]
    settings = sp.watchdog_settings(p["name"], p["plan_health"], p["plan_watchdog"]["failure_threshold"], p["event_source"])
    return [("launcher", paths["launcher"], launcher, "utf8bom"), ("agent", paths["agent"], agent, "utf8bom"),
            ("settings", paths["settings"], settings, "utf8")]


def _file_sha256(text: str, encoding: str) -> str:
    return hashlib.sha256((_BOM if encoding == "utf8bom" else b"") + text.encode("utf-8")).hexdigest()


def _watchdog_line(task: dict, settings_sha: str | None) -> str:
    if not task.get("exists"):
        return ""
    return "watchdog: task %s every %s min runs %s %s (settings sha256:%s)\n" % (
        task.get("path"), task.get("interval_min"), task.get("execute"), task.get("arguments"), (settings_sha or "none")[:12])


def _watchdog_plan(p: dict, paths: dict, now: list[dict], facts: dict) -> tuple[list[dict], list[str], dict | None, tuple[str, str]]:
    """(ops, changes, the watchdog as returned, (diff before, diff after)) of the service's watchdog."""
    task_now, settings_now = now[0], now[1]
    before = _watchdog_line(task_now, settings_now.get("sha256") if settings_now.get("exists") else None)
    plan = p["plan_watchdog"]
    ops: list[dict] = []
    changes: list[str] = []
    if plan is None:
        if task_now.get("exists"):
            ops.append({"op": "task.remove", "args": {"path": paths["task"]}})
            changes.append("remove watchdog task %s" % paths["task"])
        if settings_now.get("exists"):
            ops += [{"op": "path.remove", "args": {"path": paths[k]}} for k in ("settings", "state", "last")]
            changes.append("remove watchdog settings %s" % paths["settings"])
        return ops, changes, None, (before, "")
    launcher_now, agent_now, acl_now = now[2], now[3], now[4]
    aces = sp.folder_aces(sp.SID_SYSTEM, sp.FULL_CONTROL)
    if sp.acl_differs(acl_now, aces):
        ops += [{"op": "dir.ensure", "args": {"path": paths["folder"]}},
                {"op": "acl.set", "args": {"path": paths["folder"], "protected": True, "aces": aces}}]
        changes.append("set the ACL of %s (SYSTEM and Administrators only)" % paths["folder"])
    stats = {"launcher": launcher_now, "agent": agent_now, "settings": settings_now}
    settings_sha = None
    for what, path, text, encoding in _watchdog_files(p, paths):
        sha = _file_sha256(text, encoding)
        if what == "settings":
            settings_sha = sha
        if not stats[what].get("exists") or stats[what].get("sha256") != sha:
            ops.append({"op": "file.write", "args": {"path": path, "content": text, "encoding": encoding}})
            changes.append("write the watchdog %s %s" % (what, path))
    want = {"execute": (facts.get("system_drive") or "C:") + "\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "arguments": sp.watchdog_arguments(paths), "interval_min": plan["period_min"],
            "description": "gowin.server hang watchdog of the service %s (win_service_go)" % p["name"]}
    same = task_now.get("exists") and task_now.get("enabled") and task_now.get("runs_as_system") and all(
        task_now.get(k) == v for k, v in want.items())
    if not same:
        ops.append({"op": "task.set", "args": dict(want, path=paths["task"])})
        changes.append("%s watchdog task %s (every %d min)" % ("update" if task_now.get("exists") else "create", paths["task"], plan["period_min"]))
    health = p["plan_health"]
    kind = next(k for k in ("http", "tcp", "command") if k in health)
    check = {"kind": kind, "target": health["http"]["url"] if kind == "http" else (
        "%s:%d" % (health["tcp"]["host"], health["tcp"]["port"]) if kind == "tcp" else health["command"][0]),
        "timeout_s": health["timeout_s"]}
    view = {"task": paths["task"], "settings": paths["settings"], "period_min": plan["period_min"],
            "failure_threshold": plan["failure_threshold"], "check": check}
    after = _watchdog_line(dict(want, exists=True, path=paths["task"]), settings_sha)
    return ops, changes, view, (before, after)


def _source_option(p: dict) -> str:
    """The option the task names its binary with, for messages: src, url, release or path."""
    for option in ("src", "url", "release"):
        if p.get(option) is not None:
            return option
    return "path"


def _rule_args(rule_now: dict) -> dict | None:
    """firewall.set arguments that put back the rule firewall.get read, or None when there was none."""
    if not rule_now.get("exists"):
        return None
    return {k: rule_now[k] for k in _RULE_FIELDS if rule_now.get(k) is not None}


def _signature_view(seen: dict | None) -> dict | None:
    if not seen or not seen.get("exists"):
        return None
    return {k: seen.get(k) for k in ("status", "status_message", "signer", "timestamped")}


def _record_values(record: dict, name: str) -> list[str]:
    """The strings of a REG_MULTI_SZ value of the record ([] when it has none)."""
    return [r for r in ((record.get("values") or {}).get(name) or {}).get("data") or [] if isinstance(r, str)]


def _record_releases(record: dict) -> list[str]:
    return _record_values(record, "Releases")


def _release_replaced(record: dict) -> dict[str, str]:
    """Release id -> the release it replaced when the service switched to it, from the record's Replaced ('<id>\\<id>' each)."""
    found = {}
    for entry in _record_values(record, "Replaced"):
        release, _sep, before = entry.lower().partition("\\")
        if _RELEASE_ID.fullmatch(release) and _RELEASE_ID.fullmatch(before):
            found[release] = before
    return found


def _replaced_by(releases: list[str], replaced: dict[str, str], release: str) -> str | None:
    """The release that was active before `release`: the one it replaced, as recorded; for a release recorded without
    it (a first install, or a record written by an older version of the collection), the release installed before it."""
    if release in replaced:
        return replaced[release]
    order = [r.lower() for r in releases]
    if release in order and order.index(release) + 1 < len(order):
        return order[order.index(release) + 1]
    return None


def _image_binary(image_path: str) -> str:
    """The program of a service's image path (its first argument, as Windows reads it)."""
    args = split_command_line(image_path)
    return args[0] if args else image_path


def _image_files(image_path: str, folder: str, record: dict) -> tuple[str, str | None]:
    """(the program, its wrapper or None) an image path runs. For a release of the record, the program is its recorded
    binary, and the image path's own binary, when it is another file, is the wrapper (shawl's or WinSW's); else, for
    shawl's command line, the program is the argument after '--'; else the image path's binary."""
    binary = _image_binary(image_path)
    release = _release_of({"image_path": image_path}, folder)
    filename = _release_files(record).get(release) if release else None
    if filename is not None:
        program = wp.join(folder, "releases", release, filename)
        return program, None if program.lower() == binary.lower() else binary
    argv = split_command_line(image_path)
    name = binary.rsplit("\\", 1)[-1].lower()
    if name.endswith("-shawl.exe") and "--" in argv[1:] and argv.index("--") + 1 < len(argv):
        return argv[argv.index("--") + 1], binary
    return binary, None


def _file_sha(stat: dict) -> str | None:
    """The SHA-256 file.stat read of a file, or None when it is not a file."""
    return stat.get("sha256") if stat.get("exists") and stat.get("type") == "file" else None


def _release_files(record: dict) -> dict[str, str]:
    """Release id -> the file name of its binary, from the record's Binaries ('<id>\\<file name>' each)."""
    found = {}
    for entry in ((record.get("values") or {}).get("Binaries") or {}).get("data") or []:
        if isinstance(entry, str) and "\\" in entry:
            release, name = entry.split("\\", 1)
            if _RELEASE_ID.fullmatch(release.lower()) and name and "\\" not in name:
                found[release.lower()] = name
    return found


def _release_in(listing: dict, sha12: str) -> bool:
    return any(e.get("name", "").lower() == sha12 and e.get("type") == "directory" for e in listing.get("entries") or [])


def _release_of(current: dict, folder: str) -> str | None:
    """The release folder the service's image path points into now, or None."""
    image = current.get("image_path") or ""
    prefix = (wp.join(folder, "releases") + "\\").lower()
    text = image.lstrip('"')
    if not text.lower().startswith(prefix):
        return None
    return text[len(prefix):].split("\\", 1)[0].lower()


def _service_view(base: dict, desired: dict, changes_set: dict, p: dict, identity_sid: str) -> dict:
    view = {k: base.get(k) for k in ("name", "display_name", "description", "image_path", "start_mode", "account", "sid_type",
                                     "dependencies", "recovery", "state", "pid")}
    view["name"] = view["name"] or p["name"]
    for field in ("display_name", "description", "image_path", "start_mode", "account", "sid_type", "dependencies", "recovery"):
        if field in changes_set or not base.get("exists"):
            view[field] = desired.get(field, view.get(field))
    if changes_set.get("environment") is not None or not base.get("exists"):
        view["environment"] = sorted({**p["plain_env"], **p["secret_env"]}, key=str.upper)
    else:
        view["environment"] = [e["name"] for e in base.get("environment") or []]
    view["state"] = view["state"] or "stopped"
    view["sid"] = sp.service_sid(p["name"])
    view["identity_sid"] = identity_sid
    return view


def _wrapper_diff(wplan: dict | None, wrap: dict | None, winfo: dict | None) -> str:
    """The wrapper a new wrapper release installs, and WinSW's configuration written whole beside it (files new in the
    release's folder, so only in the diff's after): WinSW's image path alone would not show a changed configuration."""
    if not wrap:
        return ""
    lines = ["wrapper: %s %s (sha256:%s)" % (wplan["kind"], wrap["exe"], winfo["sha256"][:12])]
    if wrap["config"] is not None:
        lines.append("WinSW configuration %s:" % wrap["config_path"])
        lines += ["  " + line for line in wrap["config"].splitlines()]
    return "\n".join(lines) + "\n"


def _diff_text(config: dict, rule: dict | None, p: dict, changes_set: dict | None, key: bytes | None = None) -> str:
    """The service as text. `changes_set` None: what the host has (environment known by name and digest only)."""
    if not config or config.get("exists") is False:
        return ""
    lines = []
    for field in ("display_name", "description", "image_path", "start_mode", "account", "sid_type"):
        if config.get(field) is not None:
            lines.append("%s: %s" % (field, config[field]))
    lines.append("dependencies: %s" % ", ".join(config.get("dependencies") or []))
    recovery = config.get("recovery") or {}
    lines.append("recovery: %s; reset after %s s; on non-crash failure %s%s" % (
        ", ".join("%s after %d ms" % (a.get("type"), a.get("delay_ms", 0)) for a in recovery.get("actions") or []) or "none",
        recovery.get("reset_after_s"), "yes" if recovery.get("on_non_crash_failure") else "no",
        "; command %s" % recovery["command"] if recovery.get("command") else ""))
    lines.append("environment:")
    if changes_set is None:
        plain = {n.upper(): v for n, v in p["plain_env"].items()}
        secret = {n.upper() for n in p["secret_env"]}
        for entry in config.get("environment") or []:
            name = entry["name"]
            if name.upper() in secret:
                lines.append("  %s=********" % name)
            elif name.upper() in plain and key is not None and entry.get("digest") == sp.env_digest(key, plain[name.upper()]):
                lines.append("  %s=%s" % (name, plain[name.upper()]))
            else:
                lines.append("  %s=<another value>" % name)
    else:
        for name, value in sorted({**p["plain_env"], **{n: "********" for n in p["secret_env"]}}.items(), key=lambda i: i[0].upper()):
            lines.append("  %s=%s" % (name, value))
    if rule and rule.get("exists", True):
        lines.append("firewall rule %s: %s %s from %s, profiles %s" % (
            rule.get("name"), rule.get("protocol"), ",".join(rule.get("local_ports") or []) or "any",
            ",".join(rule.get("remote_addresses") or []) or "any", ",".join(rule.get("profiles") or [])))
    return "\n".join(lines) + "\n"
