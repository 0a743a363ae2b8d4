"""One StrikeIQ runtime per Streamlit server process (st.cache_resource), plus demo restarts.

With STRIKEIQ_LIVE_SOURCE=db there is no in-process runtime: pages read what a headless worker
publishes to `live_chain_state` (core.live_source.DbLiveSource), so replicas can scale out.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import replace
from typing import Any, cast

import streamlit as st

from core.config import load_config
from core.errors import ConfigError, StrikeIQError
from core.live import LiveSource
from core.runtime import Runtime

# Demo controls on the System page restart the runtime with these feed overrides (process-wide).
_feed_overrides: dict[str, Any] = {}
_started: list[LiveSource] = []  # runtimes this process started, newest last
_lock = threading.Lock()


@st.cache_resource(show_spinner="Starting the StrikeIQ runtime...")
def _runtime() -> LiveSource:
    config = load_config()
    if config.live_source == "db":
        from core.live_source import DbLiveSource

        source = DbLiveSource(config)
        _started.append(source)
        return source
    if _feed_overrides:
        config = replace(config, feed=replace(config.feed, **_feed_overrides))
    runtime = Runtime(config).start()
    atexit.register(runtime.stop)
    _started.append(runtime)
    return runtime


class RuntimeHandle:
    """What pages hold instead of a LiveSource (Runtime or DbLiveSource): every attribute read resolves the current runtime.

    A page binds `runtime` once per full run, but its fragments (`run_every`) rerun alone for as long
    as the tab stays open. Holding the Runtime itself, a Live tab kept rendering the stopped one
    ("OFFLINE - simulator stopped", frozen event time) after "Restart simulator" in another tab until
    a navigation click; resolving per read (a cache lookup) makes every open page follow a restart
    within one refresh.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current_runtime(), name)

    def __repr__(self) -> str:
        return f"RuntimeHandle({current_runtime()!r})"


_HANDLE = RuntimeHandle()


def get_runtime() -> LiveSource:
    """The process runtime, as a handle that follows demo restarts (see RuntimeHandle)."""
    current_runtime()  # start it now, so a configuration error stops the page before it renders
    return cast(LiveSource, _HANDLE)


def current_runtime() -> LiveSource:
    """The runtime running now; a configuration error stops the page with the fix in words."""
    try:
        return _runtime()
    except ConfigError as exc:
        st.error(f"Configuration error: {exc}")
        st.stop()
    except StrikeIQError as exc:
        st.error(f"StrikeIQ could not start: {exc}")
        st.stop()
    raise AssertionError("unreachable")


def restart_runtime(**feed_overrides: Any) -> None:
    """Stop the running runtime and start a new one with the given feed settings (demo controls)."""
    with _lock:
        _stop_all()
        _feed_overrides.clear()
        _feed_overrides.update(feed_overrides)
        _runtime.clear()


def shutdown_runtime() -> None:
    """Stop and forget the process runtime (tests; a server process stops it at exit)."""
    with _lock:
        try:
            _stop_all()
        finally:
            _runtime.clear()
            _feed_overrides.clear()


def _stop_all() -> None:
    while _started:
        _started.pop().stop(timeout=10.0)
    # Page caches (history, performance) hold query results of the stopped runtime's database.
    st.cache_data.clear()
