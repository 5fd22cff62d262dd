"""The host lock as the action plugins use it (GowinAction.run_locked): one round trip per batch,
waits while another run holds the lock, gives it back, and keeps op indexes those of the caller."""

from __future__ import annotations

import pytest

from ansible_collections.gowin.server.plugins.plugin_utils import _action
from ansible_collections.gowin.server.plugins.plugin_utils._channel import OpError


class FakeChannel:
    """Answers batches from a script: each entry is 'ok', or (index, kind) for the op that fails."""

    def __init__(self, script):
        self.script = list(script)
        self.batches = []

    def run_checked(self, ops):
        self.batches.append([o["op"] for o in ops])
        step = self.script.pop(0)
        results = [{"ok": True, "data": {"n": i}} for i in range(len(ops))]
        if step == "ok":
            return [r["data"] for r in results]
        index, kind = step
        results = results[:index] + [{"ok": False, "error": {"kind": kind, "message": "%s at %d" % (kind, index)}}]
        raise OpError(index, ops[index], kind, "%s at %d" % (kind, index), results)

    def run(self, ops):
        self.batches.append([o["op"] for o in ops])
        return [{"ok": True, "data": {}} for _op in ops]


def action(wait=5.0):
    act = object.__new__(_action.GowinAction)
    act.MODULE = "go_env"
    act.LOCK_WAIT = wait
    act.LOCK_POLL = 0.01
    return act


OPS = [{"op": "registry.set", "args": {}}, {"op": "env.notify", "args": {}}]


def test_a_batch_is_wrapped_in_acquire_and_release_in_one_round_trip():
    act, channel = action(), FakeChannel(["ok"])
    assert act.run_locked(channel, OPS) == [{"n": 1}, {"n": 2}]
    assert channel.batches == [["lock.acquire", "registry.set", "env.notify", "lock.release"]]
    acquire = act._lock_op("acquire")["args"]
    assert acquire["owner"].startswith("gw-") and acquire["lease"] == act.LOCK_LEASE and "gowin.server.go_env" in acquire["holder"]
    assert act._lock_op("release")["args"] == {"owner": acquire["owner"]}  # one owner token per task run
    act._give_back_lock(channel)
    assert len(channel.batches) == 1  # released in the batch: nothing more to send


def test_busy_waits_and_tries_again_then_succeeds():
    act, channel = action(), FakeChannel([(0, "busy"), (0, "busy"), "ok"])
    assert act.run_locked(channel, OPS) == [{"n": 1}, {"n": 2}]
    assert len(channel.batches) == 3


def test_busy_past_the_wait_fails_the_task_saying_so():
    act, channel = action(wait=0.05), FakeChannel([(0, "busy")] * 1000)
    with pytest.raises(_action.ModuleFailure) as caught:
        act.run_locked(channel, OPS)
    assert "The host is busy" in str(caught.value) and caught.value.data["error_kind"] == "busy"


def test_a_failed_op_keeps_its_index_and_the_lock_is_given_back_at_the_end():
    act, channel = action(), FakeChannel([(2, "conflict")])
    with pytest.raises(OpError) as caught:
        act.run_locked(channel, OPS)
    assert caught.value.index == 1 and caught.value.op["op"] == "env.notify" and caught.value.kind == "conflict"
    assert len(caught.value.results) == 2  # the lock.acquire result is not the caller's
    act._give_back_lock(channel)
    assert channel.batches[-1] == ["lock.release"]
    act._give_back_lock(channel)
    assert len(channel.batches) == 2  # only once


def test_a_batch_that_more_batches_follow_keeps_the_lock():
    act, channel = action(), FakeChannel(["ok", "ok"])
    act.run_locked(channel, OPS, release=False)
    assert channel.batches[0][-1] == "env.notify" and act._lock_held
    act.run_locked(channel, OPS)
    assert channel.batches[1] == ["lock.acquire", "registry.set", "env.notify", "lock.release"] and not act._lock_held
