"""The runtime a page holds follows a demo restart (issue 13 #1): a fragment rerunning on its own
timer reads the new runtime, not the stopped one it was handed when the page last ran in full."""

from __future__ import annotations

from app.runtime import get_runtime, restart_runtime


def test_a_handle_taken_before_a_restart_reads_the_new_runtime(app_env):
    handle = get_runtime()  # what a page script binds once per full run
    first_run = handle.run_id
    restart_runtime(seed=5)
    assert handle.run_id != first_run
    assert handle.running and handle.config.feed.seed == 5
    assert handle.view(handle.symbols[0]).feed_state != "stopped"


def test_the_handle_is_the_same_object_across_restarts(app_env):
    before = get_runtime()
    restart_runtime(seed=6)
    assert get_runtime() is before  # pages may keep it in module globals and session state
