"""A running loopback broker and the BrokerSecrets that point StrikeIQ at it."""

from __future__ import annotations

import pytest

from core.config import BrokerSecrets
from tests.core.broker.loopback import BrokerLoopback


@pytest.fixture
def broker():
    with BrokerLoopback() as server:
        yield server


@pytest.fixture
def secrets(broker) -> BrokerSecrets:
    return BrokerSecrets(
        upstox_api_key=broker.upstox_client_id,
        upstox_api_secret=broker.upstox_client_secret,
        upstox_redirect_uri=broker.upstox_redirect_uri,
        kite_api_key=broker.kite_api_key,
        kite_api_secret=broker.kite_api_secret,
        upstox_base_url=broker.base_url,
        kite_base_url=broker.base_url,
    )


def broker_env(broker: BrokerLoopback, data_dir) -> dict[str, str]:
    """The environment a StrikeIQ process needs to log in against `broker`."""
    return {
        "STRIKEIQ_DATA_DIR": str(data_dir),
        "UPSTOX_API_KEY": broker.upstox_client_id,
        "UPSTOX_API_SECRET": broker.upstox_client_secret,
        "UPSTOX_REDIRECT_URI": broker.upstox_redirect_uri,
        "KITE_API_KEY": broker.kite_api_key,
        "KITE_API_SECRET": broker.kite_api_secret,
        "STRIKEIQ_UPSTOX_BASE_URL": broker.base_url,
        "STRIKEIQ_KITE_BASE_URL": broker.base_url,
    }
