#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gowin.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only documentation: the work is done by the action plugin of the same name
# on the controller, which talks to the host through the gowin agent.

DOCUMENTATION = r"""
---
module: win_service_go
short_description: Run a Go program as a least-privilege Windows service, checked before it is trusted
version_added: 0.2.0
description:
  - Installs a Go program and registers it as a Windows service. The binary is read on the controller before anything
    on the host changes. The module reads its PE machine, subsystem and Go build information, as C(go version -m) shows
    it, and checks whether it talks to the Service Control Manager. A plain console program would fail to start with
    error 1053, so it is refused.
  - The binary goes to C(<install_root>\<name>\releases\<first 12 hex digits of its SHA-256>\<file name>), and the
    service's image path points there. A running binary is never overwritten. A new binary means stop, switch the
    image path, start. When that start fails, the image path is switched back and the previous release started again.
  - The service runs as its virtual account C(NT SERVICE\<name>) by default. Other choices are C(LocalService),
    C(NetworkService), a gMSA or a user; C(LocalSystem) only when O(allow_local_system) says so. C(Log on as a service)
    is granted to a gMSA or user account, and the result says when a group policy owns that right.
  - Sets the recovery policy (restart after 5, 30 and 120 seconds by default) and the per-service environment. Values
    of O(secret_environment) never appear in results or diffs. Registers an event source.
  - Sets the folder permissions. The service identity can read its install folder and change its log and data
    folders. Administrators and SYSTEM have full control, other users nothing. The ACEs name SIDs the controller
    computes, so nothing depends on name resolution on the host. Every folder above the binary must be readable by the
    service identity before the first start.
  - Owns one firewall rule, C(gowin-<name>), scoped to the program and the service, replaced as a whole when it differs.
  - Only what differs is sent to the host. A run that changes nothing costs one round trip (two for a gMSA or user
    account, whose SID is resolved on the host first). With O(path), a controller that has not read that binary
    before fetches it once.
  - The connection account must be a local administrator on the host. C(become) does not apply.
author:
  - Gowin Team (@gowin)
options:
  name:
    description:
      - The service name, 1 to 256 characters without C(/) or C(\). It is compared case-insensitively.
    type: str
    required: true
  display_name:
    description: The display name. Default is the service name.
    type: str
  description:
    description: The service description. Default is none.
    type: str
  state:
    description:
      - V(started) installs, configures and starts the service. V(stopped) installs and configures it and stops it.
      - V(restarted) is V(started) plus a restart when nothing else restarted it in this task.
      - V(absent) stops and removes the service, its event source, its firewall rule, its install folder and its
        release record. Its log and data folders are kept unless O(remove_data=true).
      - A running service is restarted when its image path, account, password, SID type or environment changes, since
        a process reads them only when it starts.
    type: str
    choices: [started, stopped, restarted, absent]
    default: started
  src:
    description:
      - The binary on the controller, pushed with the connection's file transfer. A relative path is looked up like
        the C(src) of M(ansible.builtin.copy), in the role's or playbook's C(files) folder.
      - Exactly one of O(src), O(url), O(path) and O(release) is needed unless O(state=absent).
    type: path
  url:
    description:
      - The binary at an C(https://) URL (C(http://) with O(allow_plain_http=true)). The controller downloads it, checks
        O(checksum), reads it, then pushes it. O(checksum) is required.
    type: str
  path:
    description:
      - The binary, already on the host (an absolute path). It is copied into its release folder. O(checksum) is
        optional; when it is given, the file must match it.
    type: str
  release:
    description:
      - A release already on the host, to go back (or forth) to on purpose, in place of O(src), O(url) or O(path).
      - V(previous) is the release installed before the newest one (releases are ordered by when each was first
        installed, so going back to it twice changes nothing the second time). A release id (the 12 hex digits of its
        folder, the first 12 of RV(release) C(sha256)) names any release still kept.
      - The release's binary must still be in its folder and match its id; O(checksum), when given, must match it too.
        The switch is an update like any other (stop, start, O(health), rollback when it fails).
      - In wrapper mode (O(service_protocol=wrapper)) it names a release deployed in wrapper mode with the same
        O(wrapper.kind); O(wrapper) then gives the kind and its options, not a binary (the release's folder holds the
        program, the wrapper and WinSW's configuration). The image path becomes that release's wrapper (shawl's command
        line built for its wrapper and program from the task's options, or WinSW's executable with the configuration in
        its folder, which must be the one the task's options make). A native release is refused in wrapper mode, and a
        wrapper release outside it; so is a release whose files no longer match its id.
      - The record of releases is read in a round trip of its own before the usual one, so a run with O(release)
        costs one round trip more than one with O(path).
    type: str
  checksum:
    description: The binary's SHA-256, as C(sha256:<64 hex digits>).
    type: str
  url_username:
    description: User name for HTTP basic authentication to O(url).
    type: str
  url_password:
    description: Password for HTTP basic authentication to O(url).
    type: str
  validate_certs:
    description: Whether the certificate of an C(https://) O(url) must be valid.
    type: bool
    default: true
  allow_plain_http:
    description: Accept an C(http://) O(url). The SHA-256 check still applies.
    type: bool
    default: false
  timeout:
    description: Seconds allowed for each request when downloading O(url).
    type: int
    default: 300
  install_root:
    description: The folder under which each service has its own folder, C(<install_root>\<name>).
    type: str
    default: C:\opt\services
  keep_releases:
    description:
      - How many release folders to keep, newest first, besides the active one and the one it replaced (so that a
        rollback, and O(release=previous), always has its binary). Older ones are removed after a successful switch.
    type: int
    default: 3
  args:
    description:
      - Arguments of the program. They are joined into the image path with the quoting the Microsoft C runtime reads
        back, so that each element reaches the program as one argument.
    type: list
    elements: str
    default: []
  environment:
    description:
      - The service's own environment (the C(Environment) value of its service key). Names are 1 to 255 printable
        ASCII characters without C(=) or spaces. Values are strings; quote numbers.
      - The service key's environment is replaced as a whole by O(environment) and O(secret_environment) together.
    type: dict
    default: {}
  secret_environment:
    description:
      - Environment values that are secrets. They are set like O(environment) but never appear in results, diffs or
        messages. They are compared through keyed digests, not read back.
    type: dict
    default: {}
  account:
    description:
      - V(virtual) (the service's virtual account C(NT SERVICE\<name>)), V(LocalService), V(NetworkService),
        V(LocalSystem) (with O(allow_local_system=true)), a gMSA (C(DOMAIN\name$), no password), or a user
        (C(DOMAIN\name), C(.\name) or C(name@domain)) with O(password).
    type: str
    default: virtual
  password:
    description:
      - The password of a user O(account). It is set through the service configuration API, never on a command line,
        and sent only when the service is created, when the account changes, or with O(update_password=always).
    type: str
  update_password:
    description:
      - V(on_create) sends O(password) only when the service is created or its account changes.
      - V(always) sends it on every run. The host cannot tell whether a password is the same, so the task then always
        reports a change.
    type: str
    choices: [always, on_create]
    default: on_create
  allow_local_system:
    description: Accept O(account=LocalSystem), which runs the service with every right on the host.
    type: bool
    default: false
  sid_type:
    description: The service SID type. V(restricted) adds the service SID to a write-restricted token.
    type: str
    choices: [unrestricted, restricted, none]
    default: unrestricted
  start_mode:
    description: How the service starts.
    type: str
    choices: [auto, delayed, manual, disabled]
    default: auto
  dependencies:
    description: The services this one depends on. The SCM starts them first.
    type: list
    elements: str
    default: []
  recovery:
    description: What the SCM does when the service fails.
    type: dict
    suboptions:
      actions:
        description:
          - Up to 16 actions, one per failure, each C({type, delay_ms}). Each C(type) is V(restart),
            V(run) or V(none), or V(reboot) with O(allow_reboot_action=true). Default is restart after 5 s, 30 s and
            120 s.
        type: list
        elements: dict
      reset_after_s:
        description: Seconds without failure after which the failure count goes back to zero.
        type: int
        default: 86400
      on_non_crash_failure:
        description: Also act when the service stops with an error exit code, not only when its process dies.
        type: bool
        default: true
      command:
        description: The command line a V(run) action runs.
        type: str
  allow_reboot_action:
    description: Accept a V(reboot) recovery action, which restarts the whole host when the service fails.
    type: bool
    default: false
  stop_timeout_s:
    description:
      - Seconds a stop waits for the SCM. After that the service's process tree is ended. The result's RV(stopped_by)
        says which of the two ended it.
    type: int
    default: 30
  start_timeout_s:
    description: Seconds a start waits for the service to report running.
    type: int
    default: 60
  event_source:
    description: The event source the service writes under. Default is the service name.
    type: str
  event_log:
    description: The log of O(event_source). It must exist.
    type: str
    default: Application
  log_dir:
    description: The service's log folder, created with modify access for the service identity.
    type: str
  data_dir:
    description: The service's data folder, created with modify access for the service identity.
    type: str
  remove_data:
    description: With O(state=absent), also remove O(log_dir) and O(data_dir).
    type: bool
    default: false
  firewall:
    description:
      - The inbound firewall rule C(gowin-<name>), for this program and service only. Without this option the module
        removes that rule if it exists.
    type: dict
    suboptions:
      port:
        description: A port, a range such as C(8000-8080), or a list of them.
        type: raw
        required: true
      protocol:
        description: The protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
      profiles:
        description: The firewall profiles the rule applies in.
        type: list
        elements: str
        choices: [any, domain, private, public]
        default: [any]
      remote_addresses:
        description:
          - The addresses allowed to connect, as addresses, subnets (C(10.0.0.0/8)), ranges (C(a-b)) or keywords
            such as C(LocalSubnet). Default is any address.
        type: list
        elements: str
        default: []
  health:
    description:
      - A health check the host runs after every start or restart of the service by the task, a new release included.
        The result says V(true) or V(false) in RV(healthy), with the evidence of each probe in RV(health). A service
        that is not healthy fails the task. After an update the previous release is switched back and started (see
        O(rollback)); a new service is left as it is.
      - "The semantics are Kubernetes': a probe every O(health.period_s) seconds; O(health.success_threshold) passes
        in a row make it healthy. Once a probe has passed, O(health.failure_threshold) failures in a row make it
        unhealthy. Before the first pass, the probes go on for O(health.startup_timeout_s) seconds. A service that
        stops meanwhile is unhealthy at once, with its exit code."
      - Exactly one of O(health.http), O(health.tcp) or O(health.command).
    type: dict
    suboptions:
      http:
        description: An HTTP GET sent from the host. Redirects are not followed.
        type: dict
        suboptions:
          url:
            description: The URL, http or https, such as C(http://127.0.0.1:8080/healthz). No user name or password.
            type: str
            required: true
          expect_status:
            description: The HTTP status a healthy service answers.
            type: int
            default: 200
          body_regex:
            description:
              - A regular expression the first 64 KiB of the answer must match (searched, not anchored). The host
                evaluates it with .NET's regular expressions (a match may take at most 1 second); keep to the syntax
                .NET and Python share, which the controller checks.
            type: str
          validate_certs:
            description: Check the server certificate of an https URL.
            type: bool
            default: true
      tcp:
        description: A TCP connect from the host, as C(host:port) (C(127.0.0.1:8443), C([::1]:8443)) or a port, meaning 127.0.0.1.
        type: raw
      command:
        description:
          - A program on the host and its arguments, one list element each (never read by a shell); exit code 0 is
            healthy. It runs as the connection account, in C(%SystemRoot%\System32), with no input.
        type: list
        elements: str
      startup_timeout_s:
        description: How long the service may take to pass its first probes, in seconds (1 to 3600).
        type: int
        default: 60
      period_s:
        description: Seconds between the starts of two probes (1 to 3600).
        type: int
        default: 2
      timeout_s:
        description: How long one probe may take, in seconds (1 to 3600).
        type: int
        default: 5
      success_threshold:
        description: Passes in a row that make the service healthy (1 to 100).
        type: int
        default: 1
      failure_threshold:
        description: Failures in a row, after a first pass, that make it unhealthy (1 to 100).
        type: int
        default: 3
  probe_health:
    description:
      - When V(true) and O(health) is set, a run that does not start the service (nothing to change, or check mode)
        probes the service as it runs now, read-only, in one more round trip, and returns RV(healthy) and RV(health);
        a service that is not running is V(false) without a probe. An unhealthy result does not fail the task (the
        role C(gowin.server.validate) reports it).
      - A run that starts the service probes it anyway (see O(health)).
    type: bool
    default: false
  watchdog:
    description:
      - A hang watchdog. The SCM restarts a service whose process ends, but not one that runs and no longer answers.
        The watchdog is a scheduled task C(\GoWin\Watchdog\<name>) that runs as SYSTEM every
        O(watchdog.period_min) minutes and probes the service with the check of O(health) (once, within its
        O(health.timeout_s)). After O(watchdog.failure_threshold) failed checks in a row it ends the service's
        process tree, so that the recovery actions of O(recovery) restart it, and writes the warning event 7001 to
        O(event_source). A service that is not running is left alone.
      - The task runs a fixed script shipped by the collection, C(watchdog.ps1), with the gowin agent beside it; they
        and the settings C(<name>.json) (JSON data, never code) are kept in C(C:\ProgramData\GoWin\watchdog),
        which only SYSTEM and Administrators can write. C(<name>.state.json) holds the count and C(<name>.last.json)
        the last tick's answer.
      - Needs O(health). Without this option (or with O(watchdog.state=absent)) the service's watchdog task and
        settings are removed; O(state=absent) removes them too.
    type: dict
    suboptions:
      period_min:
        description: Minutes between two checks (1 to 1440).
        type: int
        default: 5
      failure_threshold:
        description: Failed checks in a row that end the service's process (1 to 100).
        type: int
        default: 3
      state:
        description: V(present) installs or updates the watchdog, V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
  rollback:
    description:
      - When a started service changes (a new release, new arguments or configuration, O(state=restarted)), the host
        carries out the whole update in one operation, journaled under C(HKLM\SOFTWARE\GoWin\Journal\<name>)
        so that it finishes even when the connection drops. It switches the image path, stops the service (the
        SCM first, then its process tree after O(stop_timeout_s)), starts it and runs O(health).
      - V(true) switches back to the previous image path (and firewall rule) when the start or the health check fails,
        starts the previous release and probes it. The task fails either way, with the evidence.
      - V(false) leaves the failed release running; the task fails.
      - Only the image path (the binary and its arguments) and the firewall rule are switched back. Other changes made
        by the same task, such as the environment, stay.
    type: bool
    default: true
  service_protocol:
    description:
      - V(auto) refuses a binary that is known not to talk to the Service Control Manager (it would fail with error
        1053), and warns when that cannot be told from the binary.
      - V(refuse) also refuses a binary for which it cannot be told.
      - V(native) trusts the user and only reports what was found.
      - V(wrapper) runs a plain console program under the service wrapper of O(wrapper), which talks to the SCM for it.
    type: str
    choices: [auto, native, refuse, wrapper]
    default: auto
  wrapper:
    description:
      - The service wrapper of O(service_protocol=wrapper), for a plain console program (one that does not talk to the
        Service Control Manager). The user supplies the wrapper binary; the collection ships none. It is read on the
        controller, refused unless it is the O(wrapper.kind) asked for, and installed in the release folder beside the
        program. A release is the program, the wrapper and (WinSW) its configuration together, so a new wrapper or a new
        configuration is a new release, switched, health-checked and rolled back like a new build.
      - V(shawl) (U(https://github.com/mtkennerly/shawl)) is configured by its command line, which becomes the image path,
        C(run --name <name> --no-restart --stop-timeout <ms> --cwd <data_dir>), the log options, C(--kill-process-tree)
        when the binary has it, then C(--) and the program with O(args). The log options need shawl 1.4 or newer; with an
        older binary they are left out with a warning, or the task is refused when O(wrapper.log_rotate_bytes) or
        O(wrapper.log_retain) is set.
      - V(winsw) (U(https://github.com/winsw/winsw)) reads C(<name>-winsw.xml) beside its executable, which the module
        writes whole from its options (executable, arguments, working directory, log folder with size rotation, stop
        timeout, no restarts of its own).
      - Restarts are the SCM's (O(recovery)). The wrapper does not restart the program, and a program that exits non-zero
        counts as a failure (O(recovery.on_non_crash_failure) is always true in wrapper mode). On a stop the wrapper sends
        the program Ctrl+C and ends it after O(wrapper.ctrl_c_timeout_s). The program gets the service's environment
        (O(environment), O(secret_environment)) from the wrapper, never through its command line or a file.
      - O(release) goes back (or forth) to a release of this wrapper kind; O(wrapper.src), O(wrapper.url) and
        O(wrapper.path) are then left out.
    type: dict
    suboptions:
      kind:
        description: The wrapper.
        type: str
        choices: [shawl, winsw]
        required: true
      src:
        description: The wrapper binary on the controller.
        type: path
      url:
        description: An https URL (http with O(allow_plain_http)) of the wrapper binary, downloaded by the controller; needs O(wrapper.checksum).
        type: str
      path:
        description: The wrapper binary on the host.
        type: str
      checksum:
        description: The wrapper binary's C(sha256:<64 hex digits>), checked before it is used.
        type: str
      ctrl_c_timeout_s:
        description: Seconds between the Ctrl+C the wrapper sends on a stop and its ending the program (1 to 3600, shorter than O(stop_timeout_s)).
        type: int
        default: 10
      log_rotate_bytes:
        description:
          - The size at which the wrapper rotates the program's log in O(log_dir) (1024 to 2147483647); 10485760 (10 MiB) when
            not set. Setting it refuses a shawl binary that cannot rotate logs.
        type: int
      log_retain:
        description:
          - How many rotated logs the wrapper keeps (1 to 100); 5 when not set. Setting it refuses a shawl binary that cannot
            retain logs.
        type: int
  allow_wow64:
    description: Accept a 32-bit (386) binary on a 64-bit host.
    type: bool
    default: false
  signature:
    description:
      - The Authenticode signature the binary must have, as the host judges it (C(Get-AuthenticodeSignature), against
        the host's certificate stores).
      - V(any) accepts any binary and reports its signature when it is known.
      - V(valid) refuses a binary whose signature is not C(Valid) (unsigned, changed after signing, or signed by a
        certificate the host does not trust). A binary copied from the controller or downloaded is checked on the
        host right after the copy, before anything else changes, and removed when it is refused.
    type: str
    choices: [any, valid]
    default: any
  signer_thumbprints:
    description:
      - The SHA-1 thumbprints (40 hex digits; spaces and colons are ignored) of the certificates allowed to sign the
        binary. When given, the signature must be C(Valid) and its signer one of these, whatever O(signature) says.
    type: list
    elements: str
    default: []
notes:
  - Check mode and diff mode are supported. In check mode the binary is still read and checked, on the controller.
  - The environment of a running service is read as names and keyed digests only, so the diff shows a value that
    changed as C(<another value>). Values of O(secret_environment) are shown as C(********).
  - Windows starts the services a service depends on. It does not stop it when they stop.
seealso:
  - module: gowin.server.go_install
  - name: Agent protocol, families service, policy, firewall and eventlog
    description: What each host operation does, and which Windows behaviour it relies on.
    link: https://github.com/gowin/server/blob/main/docs/agent-protocol.md
"""

EXAMPLES = r"""
- name: A Go service that dispatches to the SCM, pushed from the controller
  gowin.server.win_service_go:
    name: orders-api
    src: build/orders-api.exe
    checksum: sha256:9f2b4c3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809
    args: [--config, 'C:\ProgramData\orders-api\config.yaml']
    environment:
      GOMAXPROCS: "4"
      GOMEMLIMIT: 2GiB
    secret_environment:
      ORDERS_DB_PASSWORD: "{{ orders_db_password }}"
    health:
      http: {url: 'http://127.0.0.1:8080/healthz'}
      success_threshold: 2

- name: The same service run by a gMSA, downloaded from an artifact store
  gowin.server.win_service_go:
    name: billing-worker
    url: https://artifacts.example.com/billing-worker/1.4.2/billing-worker.exe
    checksum: sha256:0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091
    account: CORP\svc-billing$
    start_mode: delayed
    recovery:
      actions:
        - {type: restart, delay_ms: 10000}
        - {type: restart, delay_ms: 60000}
      reset_after_s: 3600

- name: An API reachable on 8443 from the internal network only
  gowin.server.win_service_go:
    name: inventory-api
    path: C:\drop\inventory-api.exe
    firewall:
      port: 8443
      profiles: [domain, private]
      remote_addresses: [10.0.0.0/8, 192.168.10.0/24]

- name: A plain console Go program (no SCM code) run as a service by shawl, which the user supplies
  gowin.server.win_service_go:
    name: report-api
    src: build/report-api.exe
    args: [-addr, '127.0.0.1:9090']
    service_protocol: wrapper
    wrapper:
      kind: shawl
      src: vendor/shawl-1.9.0-x64.exe
      checksum: sha256:4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c
    health:
      tcp: 127.0.0.1:9090

- name: orders-api with a hang watchdog that ends a process which stopped answering, for the recovery actions to restart it
  gowin.server.win_service_go:
    name: orders-api
    src: build/orders-api.exe
    checksum: sha256:9f2b4c3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809
    recovery:
      actions:
        - {type: restart, delay_ms: 5000}
    health:
      http: {url: 'http://127.0.0.1:8080/healthz'}
      timeout_s: 10
    watchdog:
      period_min: 2
      failure_threshold: 3

- name: Roll orders-api back on purpose to the release installed before the newest one (a run sets the whole service)
  gowin.server.win_service_go:
    name: orders-api
    release: previous
    args: [--config, 'C:\ProgramData\orders-api\config.yaml']
    environment:
      GOMAXPROCS: "4"
      GOMEMLIMIT: 2GiB
    secret_environment:
      ORDERS_DB_PASSWORD: "{{ orders_db_password }}"
    health:
      http: {url: 'http://127.0.0.1:8080/healthz'}

- name: Remove a service, keeping its logs and data
  gowin.server.win_service_go:
    name: legacy-api
    state: absent
"""

RETURN = r"""
service:
  description:
    - The service as the host reports it after the task (in check mode, as it would be). Environment values are
      never returned, only their names.
  returned: unless O(state=absent)
  type: dict
  contains:
    name: {description: The SCM's spelling of the name., type: str}
    display_name: {description: The display name., type: str}
    state: {description: 'The run state (stopped, running, and so on).', type: str}
    start_mode: {description: 'One of auto, delayed, manual or disabled.', type: str}
    account: {description: 'The account, as the SCM stores it.', type: str}
    image_path: {description: The command line the SCM starts., type: str}
    dependencies: {description: The services it depends on., type: list, elements: str}
    recovery: {description: The recovery policy., type: dict}
    environment: {description: The names of its environment variables., type: list, elements: str}
    sid_type: {description: The service SID type., type: str}
    sid: {description: 'The service SID (S-1-5-80-...), computed from the name.', type: str}
binary:
  description:
    - What was read from the binary. It holds its SHA-256, size, PE machine, subsystem and whether it is a Go program.
      A Go program also has its build info (Go version, main module, vcs.revision, GOOS, GOARCH, CGO_ENABLED, the
      dependencies). C(scm) says whether it talks to the Service Control Manager and why. C(signature) is what the
      host said of its Authenticode signature (C(status), C(status_message), C(signer) with its C(thumbprint),
      C(subject), C(issuer) and C(not_after), C(timestamped)), or null when the binary is not on the host yet.
  returned: when a binary was given
  type: dict
release:
  description:
    - The active release folder (C(folder)), the binary in it (C(path)) and its C(sha256); C(previous), the id of the
      release that was active before it (the one it replaced when the service was switched to it, in this run or an
      earlier one), null after a first deploy; C(kept) and C(removed), the release folders kept and removed.
    - The record of releases keeps, for each release, the one it replaced (C(Replaced)); for a release recorded
      without it (by an older version of the collection), C(previous) is the release installed before it.
    - C(path) and C(sha256) are the program's, in wrapper mode too; C(wrapper_sha256) is the SHA-256 of the release's
      wrapper (shawl or WinSW), null for a release without one.
    - After an update that failed and was switched back (RV(rolled_back), or V(rollback_failed) after the switch
      back), the active release is the one switched back to, and C(failed) holds the release that failed (C(id),
      C(folder), C(path), C(sha256), C(wrapper_sha256)); it is kept. With O(rollback=false) the failed release stays active, so it is the
      one described, and there is no C(failed).
  returned: unless O(state=absent)
  type: dict
wrapper:
  description:
    - In wrapper mode, the wrapper of the release the task installed or switched to, C(kind), C(path) (in the release
      folder), C(sha256), C(config) (WinSW's configuration, null for shawl) and C(evidence) (what told its kind);
      null otherwise. After a rollback it still describes that release's wrapper; RV(release) describes the active one.
  returned: unless O(state=absent)
  type: dict
firewall_rule:
  description: The rule C(gowin-<name>) as the module wants it, or null when there is none.
  returned: always
  type: dict
event_source:
  description: The event source and its log.
  returned: always
  type: dict
logon_right:
  description: For a gMSA or user account, whether it holds C(Log on as a service) and whether a group policy owns it.
  returned: when the account needs the right
  type: dict
stopped_by:
  description: When the task stopped the service, who ended it. V(scm) answered the stop, V(kill) means its process tree was ended.
  returned: when the service was stopped
  type: str
rolled_back:
  description: True when the new release failed to start or was not healthy, and the previous one was started again.
  returned: when an update failed
  type: bool
update:
  description:
    - The update the host carried out in one operation, with C(outcome) (V(updated), V(rolled_back), V(failed) or
      V(rollback_failed)), C(journal_id) and C(stages), each with C(stage), C(at_ms), C(ok) and C(error).
  returned: when a service that exists was switched, reconfigured or restarted and started
  type: dict
last_update:
  description:
    - The journal of the last update on the host, as it was before this task. C(interrupted) is true when that update
      was cut off (its process ended); the task then carries the whole update out again.
  returned: when the service has a journal
  type: dict
rollback_health:
  description: The health check of the previous release after a rollback, as in RV(health).
  returned: when an update was rolled back and O(health) is set
  type: dict
healthy:
  description: Whether the service passed its health check after the task started it (or now, with O(probe_health)).
  returned: when O(health) is set and the task started the service, or with O(probe_health)
  type: bool
health:
  description:
    - The health check's evidence. C(reason) says why it ended; C(probes) holds the last 10 probes, each with C(n),
      C(at_ms), C(duration_ms), C(ok), C(error) and, by kind, the HTTP C(status) and the first 200 characters of the
      C(body), or the C(exit_code) and C(output) of the command. Secrets the task knows are replaced by C(********).
      C(service) holds the state and exit code of a service that stopped during the check.
  returned: when O(health) is set and the task started the service, or with O(probe_health)
  type: dict
watchdog:
  description:
    - The service's hang watchdog as the task leaves it, or null when it has none. C(task) is the scheduled task's path,
      C(settings) the settings file, with C(period_min), C(failure_threshold), and C(check), the probe it runs.
  returned: unless O(state=absent)
  type: dict
modelled:
  description: True when the host is simulated (winsim) and a start or stop was modelled, not run.
  returned: when a start or stop was modelled
  type: bool
changes:
  description: What the task changed (or would change in check mode), for people.
  returned: always
  type: list
  elements: str
round_trips:
  description: How many round trips to the host the task made.
  returned: always
  type: int
  sample: 1
"""
