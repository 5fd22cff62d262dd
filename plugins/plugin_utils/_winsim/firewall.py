# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: internal to the gowin.server collection; not a public API, it may change at any time.

winsim twin of the agent's op family 'firewall' (plugins/plugin_utils/_agent/firewall.ps1):
firewall.get, firewall.set, firewall.remove, firewall.profile_get, firewall.profile_set. The rule store is state["firewall"] (name -> rule), kept
as Windows reports rules: remote IPv4 subnets in mask form (10.0.0.0/8 -> 10.0.0.0/255.0.0.0), a
single-address prefix as the bare address, keywords in Windows' spelling. The baseline (host.py)
holds WinRM's HTTP rule, as a new Windows Server does. Vectors: tests/contract/vectors/firewall.yml.

The profiles (domain, private, public) are state["firewall_profiles"] from the first change on; until then
they are Windows Server's defaults (``DEFAULT_PROFILE``): enabled, inbound block, outbound allow, no logging,
a 4096 KB log at %systemroot%\\system32\\LogFiles\\Firewall\\pfirewall.log. What a group policy sets
(``set_firewall_policy``) is in force over the local value and reported in policy_fields.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.gowin.server.plugins.plugin_utils._winsim.host import Args, JsonDict, _op, parse_path

KEYWORDS = {k.lower(): k for k in ("LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "Internet", "Intranet",
                                   "IntranetRemoteAccess", "PlayToDevice", "Any")}
PROFILES = ("any", "domain", "private", "public")
_PORT = re.compile(r"^([0-9]{1,5})(-([0-9]{1,5}))?$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.:/\-]+$")
FIELDS = ("name", "display_name", "description", "direction", "action", "enabled", "protocol", "local_ports",
          "remote_addresses", "profiles", "program", "service")


PROFILE_NAMES = ("domain", "private", "public")
DEFAULT_LOG_FILE = "%systemroot%\\system32\\LogFiles\\Firewall\\pfirewall.log"
DEFAULT_PROFILE: JsonDict = {
    "enabled": True, "default_inbound": "block", "default_outbound": "allow", "log_allowed": False, "log_blocked": False,
    "log_file": DEFAULT_LOG_FILE, "log_max_kb": 4096, "allow_local_rules": True,
}
PROFILE_FIELDS = tuple(DEFAULT_PROFILE)
SETTABLE = ("enabled", "default_inbound", "default_outbound", "log_allowed", "log_blocked", "log_max_kb", "log_file")
_ENV_ROOTED = re.compile(r"^(%systemroot%|%windir%)([\\/].*)?$", re.I | re.S)


def _log_file(a: Args) -> str | None:
    """An absolute drive path, or one under %systemroot% / %windir% (as Windows' own default is written)."""
    value = a.text("log_file")
    if value is None:
        return None
    m = _ENV_ROOTED.match(value)
    if m:
        rest = parse_path("C:\\" + (m.group(2) or ""), "log_file")
        a.check_length(rest, "argument 'log_file'")
        if rest.is_root:
            a.fail("log_file", "must name a file")
        return m.group(1) + str(rest)[2:]
    if value.replace("/", "\\").startswith("\\\\"):
        a.fail("log_file", "must be a path on a drive of the host (C:\\...), not a UNC path")
    path = a.path("log_file")
    if path.is_root:
        a.fail("log_file", "must name a file")
    return str(path)


def _name(a: Args) -> str:
    name = a.need_text("name")
    if len(name) > 255:
        a.fail("name", "must be at most 255 characters, got %d" % len(name))
    if any(c in name for c in "*?[]|"):
        a.fail("name", "must not contain * ? [ ] or | (the firewall cmdlets read them as patterns)")
    if any(ord(c) < 32 for c in name):
        a.fail("name", "must not contain control characters")
    return name


def windows_address(text: str) -> str:
    """A remote address as Windows reports it back."""
    keyword = KEYWORDS.get(text.lower())
    if keyword is not None:
        return keyword
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return text
        if net.prefixlen == net.max_prefixlen:
            return str(net.network_address)
        if net.version == 4:
            return "%s/%s" % (net.network_address, net.netmask)
        return str(net)
    return text


class FirewallOps:
    """The firewall ops of WinSimHost (a mixin over host.HostBase)."""

    def _rules(self) -> JsonDict:
        return self._state.setdefault("firewall", {})

    def _rule_info(self, name: str) -> JsonDict:
        rule = self._rules().get(name.lower())
        return {"exists": False} if rule is None else dict({"exists": True}, **rule)

    @_op("firewall.get", "name")
    def _firewall_get(self, a: Args) -> JsonDict:
        return self._rule_info(_name(a))

    @_op("firewall.set", *FIELDS)
    def _firewall_set(self, a: Args) -> JsonDict:
        name = _name(a)
        display = a.text("display_name") or name
        description = a.text("description", empty=True) or ""
        direction = a.text("direction", ("inbound", "outbound")) or "inbound"
        action = a.text("action", ("allow", "block")) or "allow"
        enabled = a.flag("enabled", True)
        protocol = a.text("protocol", ("tcp", "udp", "any")) or "tcp"
        ports = a.strings("local_ports", [])
        addresses = a.strings("remote_addresses", [])
        profiles = a.strings("profiles", [])
        program = a.text("program")
        service = a.text("service")
        for port in ports:
            m = _PORT.match(port)
            good = m is not None and 1 <= int(m.group(1)) <= 65535
            if good and m.group(3):
                good = int(m.group(1)) <= int(m.group(3)) <= 65535
            if not good:
                a.fail("local_ports", "must be ports 1 to 65535 or ranges such as 8000-8080")
        if ports and protocol == "any":
            a.fail("local_ports", "needs protocol tcp or udp")
        for address in addresses:
            if not address or len(address) > 100 or not _ADDRESS.match(address):
                a.fail("remote_addresses", "must be addresses, subnets (a.b.c.d/n), ranges (a-b) or keywords such as LocalSubnet")
        for profile in profiles:
            if profile not in PROFILES:
                a.fail("profiles", "must be any, domain, private or public")
        for arg, value in (("display_name", display), ("description", description), ("program", program), ("service", service)):
            if value is not None and "\0" in value:
                a.fail(arg, "must not contain NUL")
        if program is not None:
            program = str(a.path("program"))
        rules = self._rules()
        existing = rules.get(name.lower())
        chosen = [p for p in PROFILES[1:] if p in profiles]
        rules[name.lower()] = {
            "name": existing["name"] if existing else name, "display_name": display, "description": description or None,
            "direction": direction, "action": action, "enabled": enabled, "protocol": protocol, "local_ports": list(ports),
            "remote_addresses": [windows_address(x) for x in addresses if x.lower() != "any"],
            "profiles": ["any"] if not chosen or "any" in profiles else chosen, "program": program, "service": service,
        }
        return dict(self._rule_info(name), changed=True, created=existing is None)

    @_op("firewall.remove", "name")
    def _firewall_remove(self, a: Args) -> JsonDict:
        name = _name(a)
        return {"changed": self._rules().pop(name.lower(), None) is not None}

    # ---- profiles ---------------------------------------------------------------------------

    def _firewall_profiles(self) -> JsonDict:
        """The local (persistent) settings of each profile (a read does not store the defaults)."""
        stored = self._state.get("firewall_profiles")
        return stored if stored is not None else {name: dict(DEFAULT_PROFILE) for name in PROFILE_NAMES}

    def _profile_info(self, name: str) -> JsonDict:
        """A profile's settings in force: the local ones, under what a group policy sets."""
        policy = self._state.get("firewall_policy", {}).get(name, {})
        info = dict(self._firewall_profiles()[name], **policy)
        fields = [f for f in PROFILE_FIELDS if f in policy]
        return dict(info, policy_owned=bool(fields), policy_fields=fields)

    @_op("firewall.profile_get")
    def _firewall_profile_get(self, a: Args) -> JsonDict:
        return {"profiles": {name: self._profile_info(name) for name in PROFILE_NAMES}}

    @_op("firewall.profile_set", "profile", *SETTABLE)
    def _firewall_profile_set(self, a: Args) -> JsonDict:
        which = a.need_text("profile", PROFILE_NAMES)
        want: JsonDict = {}
        for field in ("enabled", "log_allowed", "log_blocked"):
            if a.given(field):
                want[field] = a.flag(field, False)
        for field in ("default_inbound", "default_outbound"):
            if a.given(field):
                want[field] = a.text(field, ("block", "allow"))
        if a.given("log_max_kb"):
            want["log_max_kb"] = a.optional_number("log_max_kb", 1, 32767)
        if a.given("log_file"):
            want["log_file"] = _log_file(a)
        current = self._profile_info(which)
        before = {field: current[field] for field in want}
        differ = {field: value for field, value in want.items()
                  if (current[field].lower() != value.lower() if field == "log_file" else current[field] != value)}
        owned = any(field in current["policy_fields"] for field in want)
        if not differ:
            return {"changed": False, "before": before, "after": dict(before), "policy_owned": owned}
        profiles = {name: dict(values) for name, values in self._firewall_profiles().items()}
        profiles[which].update(differ)
        self._state["firewall_profiles"] = profiles
        now = self._profile_info(which)
        return {"changed": True, "before": before, "after": {field: now[field] for field in want}, "policy_owned": owned}

    # ---- test and bench API -----------------------------------------------------------------

    def set_firewall_policy(self, profile: str, **settings: object) -> None:
        """Say that a group policy sets these settings of `profile` (in force over the local ones); none clears it."""
        if profile not in PROFILE_NAMES or set(settings) - set(PROFILE_FIELDS):
            raise ValueError("profile must be one of %s and settings among %s" % (", ".join(PROFILE_NAMES), ", ".join(PROFILE_FIELDS)))
        with self._transaction() as state:
            policy = state.setdefault("firewall_policy", {})
            policy[profile] = dict(settings)
