"""Upstox's published MarketDataFeedV3 schema and the Python module generated from it."""
