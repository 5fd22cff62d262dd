# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for gowin.server.dsc_baseline: document -> probe (Test) -> guard -> Set + Test -> results."""

from __future__ import annotations

import datetime as dt
import json
import time
import typing as t

from ansible.errors import AnsibleConnectionFailure

from ansible_collections.gowin.server.plugins.plugin_utils import _baseline as bl
from ansible_collections.gowin.server.plugins.plugin_utils._action import GowinAction, ModuleFailure
from ansible_collections.gowin.server.plugins.plugin_utils._channel import Channel, ChannelError, OpError

REBOOT_DELAY_S = 2
REBOOT_POLL_S = 2.0


class ActionModule(GowinAction):
    MODULE = "dsc_baseline"

    def execute(self, params: dict, channel: Channel, task_vars: dict) -> dict:
        p = params
        enforce = p["mode"] == "enforce"
        if not 30 <= p["reboot_timeout_s"] <= 3600:
            raise ModuleFailure("reboot_timeout_s must be from 30 to 3600 seconds, got %d" % p["reboot_timeout_s"])
        try:
            doc = bl.load(p["baseline"], p["settings"], source_dir=task_vars.get("playbook_dir") or self._loader.get_basedir())
            bl.check_selection(doc, p["include"], p["exclude"])
            waivers, waiver_report = bl.check_waivers(p["waivers"], doc, dt.datetime.now(dt.timezone.utc).date())
        except bl.BaselineError as err:
            raise ModuleFailure(str(err)) from None
        for i, name in enumerate(p["lockout_guard_rules"]):
            if not 1 <= len(name) <= 255 or any(c in name for c in "*?") or any(ord(c) < 32 for c in name) or name != name.strip():
                raise ModuleFailure("lockout_guard_rules[%d]: %r is not a firewall rule name (its ID): 1 to 255 characters, "
                                    "no wildcard (* ?), no control characters, no leading or trailing space" % (i, name[:80]))
        chosen = bl.selected(doc, p["include"], p["exclude"])
        if not chosen:
            raise ModuleFailure("include and exclude leave no setting of baseline %s to test" % doc["name"])
        conn = self._connection_facts()
        extra_rules = bl.guard_rules(conn, p["lockout_guard_rules"]) if enforce and any(
            s["kind"] == "firewall_profile" for s in chosen) else []

        ops, tags = bl.probe_ops(chosen, extra_rules, pending=True)
        data = channel.run_checked([{"op": "host.facts", "args": {}}] + ops)
        facts = data[0]
        obs = bl.observe(tags, data[1:])
        release, core = bl.host_release(facts)
        conn.update(self._account_facts(facts, conn))
        results = bl.test_all(chosen, obs, release, core, waivers)
        pending = bl.pending_ids(obs, facts.get("boot_time"))
        bl.mark_pending(results, pending)
        rebooted = False
        by_id = {s["id"]: s for s in chosen}
        lockout: list[dict] = []
        changed = False
        diff_before: list[str] = []
        diff_after: list[str] = []

        if enforce:
            todo = [(by_id[r["id"]], r) for r in results if r["status"] == "non_compliant"]
            planned_rights = self._planned_rights(todo, obs)
            if p["lockout_guard"]:
                kept = []
                for s, r in todo:
                    reason = bl.guard_reason(s, conn, obs, planned_rights)
                    if reason:
                        r.update(status="error", note="lockout guard: " + reason)
                        lockout.append({"id": s["id"], "reason": reason})
                    else:
                        kept.append((s, r))
                todo = kept
            writes = bl.set_ops(todo, obs)
            for s, r in todo:
                diff_before.append("%s: %s" % (s["id"], _show(r["actual"])))
                diff_after.append("%s: %s" % (s["id"], _show(r["expected"])))
            if writes and self.check_mode:
                changed = True
                for s, r in todo:
                    r["planned"] = [op["op"] for ids, op in writes if s["id"] in ids]
            elif writes:
                waiting = sorted(pending | {s["id"].lower() for s, _r in todo if s.get("reboot_required")})
                record = bl.pending_ops(waiting, facts["boot_time"]) if waiting and facts.get("boot_time") else []
                changed = self._apply(channel, todo, writes, release, core, waivers, record)
            waits = [r for r in results if r["reboot_required"]]
            if self.check_mode:  # what the Set would leave waiting for a restart
                waits += [r for s, r in todo if s.get("reboot_required") and r.get("planned")]
            if p["reboot"] == "if_required" and waits:
                if self.check_mode:
                    for r in waits:
                        r.setdefault("planned", []).append("reboot.request")
                    changed = True
                else:
                    self._reboot(channel, facts, p["reboot_timeout_s"])
                    rebooted = changed = True
                    self._verify_after_reboot(channel, chosen, results, release, core, waivers)

        for w in waiver_report:
            w["applied"] = not w["expired"] and any(r["id"] == w["id"] and r["status"] == "waived" for r in results)
        counts = bl.totals(results)
        reboot = any(r["reboot_required"] for r in results)
        result: dict[str, t.Any] = {
            "changed": changed,
            "mode": p["mode"],
            "baseline": {"name": doc["name"], "title": doc["title"], "settings": len(doc["settings"])},
            "host": {"release": release, "core": core, "os_build": facts.get("os_build")},
            "results": results,
            "totals": counts,
            "score": bl.score(counts),
            "reboot_required": reboot,
            "waivers": waiver_report,
            "lockout": lockout,
            "rebooted": rebooted,
            "connection": {k: conn.get(k) for k in ("transport", "auth", "port", "https", "account", "builtin_admin", "user_name")},
            "modelled": self._modelled(),
        }
        if diff_before:
            result["diff"] = {"before": "\n".join(diff_before) + "\n", "after": "\n".join(diff_after) + "\n",
                              "before_header": "baseline %s (host)" % doc["name"], "after_header": "baseline %s (expected)" % doc["name"]}
        errors = [r for r in results if r["status"] == "error"]
        if enforce and errors:
            first = errors[0]
            result.update(failed=True, msg="%d setting(s) could not be enforced; first: %s: %s%s" % (
                len(errors), first["id"], first["note"],
                " (lockout_guard: false turns the guard off)" if lockout else ""))
        return result

    # ------------------------------------------------------------------------------------ enforce

    def _apply(self, channel: Channel, todo: list, writes: list, release: str | None, core: bool, waivers: dict,
               record: list[dict]) -> bool:
        """Set (then note what waits for a restart) and Test again in one round trip; a failed write stops the
        batch, then the host is read again."""
        settings = [s for s, _r in todo]
        reread, tags = bl.probe_ops(settings)
        write_ops = [op for _ids, op in writes] + record
        failure: OpError | None = None
        try:
            data = self.run_locked(channel, write_ops + reread)
            after = data[len(write_ops):]
            written = data[:len(write_ops)]
        except OpError as err:
            failure = err
            after = channel.run_checked(reread)
            written = [r.get("data") or {} for r in err.results[:err.index]]
        obs = bl.observe(tags, after)
        fresh = {r["id"]: r for r in bl.test_all(settings, obs, release, core, waivers)}
        failed_ids = set(writes[failure.index][0]) if failure is not None and failure.index < len(writes) else set()
        restart = {sid for (ids, _op), d in zip(writes, written) if isinstance(d, dict) and d.get("restart_needed") for sid in ids}
        changed = bool(written) or failure is None
        for s, r in todo:
            now = fresh[s["id"]]
            r["actual"] = now["actual"]
            r["evidence"] = now["evidence"]
            if now["status"] == "compliant":
                r.update(status="fixed", note=now["note"],
                         reboot_required=bool(s.get("reboot_required")) or now["reboot_required"] or s["id"] in restart)
            elif s["id"] in failed_ids:
                r.update(status="error", note="%s failed (%s): %s" % (failure.op.get("op"), failure.kind, self._scrub(str(failure))))
            elif failure is not None:
                r.update(note="not set: the batch stopped when %s failed" % failure.op.get("op"))
            else:
                r.update(status="error", note="set, but the Test after it still finds %s" % _show(now["actual"]))
        return changed

    def _reboot(self, channel: Channel, facts: dict, timeout_s: int) -> None:
        """Restart the host through the connection and wait until it answers from a new boot (as
        ansible.windows' win_reboot does: reconnect while it is down)."""
        before = facts.get("boot_time")
        if not before:
            raise ModuleFailure("reboot: the host did not report its boot time, so a restart could not be verified; restart it yourself")
        channel.run_checked([{"op": "reboot.request", "args": {"delay_s": REBOOT_DELAY_S}}])
        deadline = time.monotonic() + timeout_s
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            time.sleep(REBOOT_POLL_S)
            try:
                now = channel.run_checked([{"op": "host.facts", "args": {}}])[0].get("boot_time")
            except (AnsibleConnectionFailure, ChannelError) as err:
                last_error = str(err)[:300]
                try:
                    self._connection.reset()
                except Exception:  # pylint: disable=broad-except
                    pass  # the host is still down: try again at the next poll
                continue
            if now and not bl.same_boot(now, before):
                return
        raise ModuleFailure("reboot: the host did not come back from its restart within reboot_timeout_s=%d seconds (last: %s)"
                            % (timeout_s, self._scrub(last_error)), rebooted=False)

    def _verify_after_reboot(self, channel: Channel, chosen: list, results: list, release: str | None, core: bool, waivers: dict) -> None:
        """Test every setting again after the restart: what was fixed must still be, nothing waits any more."""
        ops, tags = bl.probe_ops(chosen)
        obs = bl.observe(tags, channel.run_checked(ops))
        fresh = {r["id"]: r for r in bl.test_all(chosen, obs, release, core, waivers)}
        for r in results:
            now = fresh[r["id"]]
            r["actual"], r["evidence"] = now["actual"], now["evidence"]
            r["reboot_required"] = now["reboot_required"]
            if r["status"] in ("fixed", "compliant") and now["status"] not in ("compliant",):
                r.update(status="error", note="after the restart the Test finds %s" % _show(now["actual"]))
            elif r["status"] == "compliant" or r["status"] == "fixed":
                r["note"] = now["note"]

    @staticmethod
    def _planned_rights(todo: list, obs: dict) -> dict:
        """The holders each user right would have after the enforce (for the guard)."""
        for _ids, op in bl.set_ops([(s, r) for s, r in todo if s["kind"] == "security_policy"], obs):
            if op["op"] == "policy.configure":
                return dict(op["args"].get("privilege_rights") or {})
        return {}

    # ------------------------------------------------------------------------------------ connection

    def _option(self, name: str, default: t.Any = None) -> t.Any:
        try:
            value = self._connection.get_option(name)
        except (KeyError, AttributeError, TypeError, ValueError, Exception):  # pylint: disable=broad-except
            return default
        return default if value is None else value

    def _modelled(self) -> bool:
        return str(getattr(self._connection, "transport", "")).endswith("winsim")

    def _connection_facts(self) -> dict:
        name = str(getattr(self._connection, "transport", "")).rsplit(".", 1)[-1]
        if name == "winsim":
            port = int(self._option("remote_port", 5985))
            return {"transport": self._option("remote_transport", "winrm"), "auth": self._option("remote_auth", "ntlm"),
                    "port": port, "https": port == 5986}
        if name == "winrm":
            transport = self._option("transport")
            if isinstance(transport, (list, tuple)):
                transport = transport[0] if transport else None
            scheme = self._option("scheme", "https")
            auth = {"ssl": "basic", "plaintext": "basic", None: "basic"}.get(transport, transport)
            if transport is None and "@" in str(self._option("remote_user", "")):
                auth = "kerberos"
            return {"transport": "winrm", "auth": auth, "port": int(self._option("port", 5986 if scheme == "https" else 5985)),
                    "https": scheme == "https"}
        if name == "psrp":
            protocol = self._option("protocol")
            port = int(self._option("port", 5986 if protocol != "http" else 5985))
            https = protocol == "https" or (protocol is None and port != 5985)
            return {"transport": "psrp", "auth": self._option("auth", "negotiate"), "port": port, "https": https}
        if name == "ssh":
            return {"transport": "ssh", "auth": "ssh", "port": int(self._option("port", 22)), "https": False}
        return {"transport": name or "unknown", "auth": "unknown", "port": None, "https": False}

    @staticmethod
    def _account_facts(facts: dict, conn: dict) -> dict:
        user = str(facts.get("user_name") or "")
        domain = user.split("\\", 1)[0] if "\\" in user else ""
        local = bool(domain) and domain.lower() == str(facts.get("computer_name") or "").lower()
        out = {"user_name": user, "user_sid": facts.get("user_sid") or "", "is_admin": bool(facts.get("is_admin", True)),
               "account": "local" if local else "domain", "builtin_admin": str(facts.get("user_sid") or "").endswith("-500")}
        if conn.get("auth") in ("negotiate", "credssp"):
            # Negotiate (and CredSSP's inner SPNEGO) can only use NTLM for a local account (no Kerberos for it).
            out["auth"] = "ntlm" if local else "kerberos"
        return out


def _show(value: t.Any) -> str:
    return json.dumps(value, sort_keys=True)
