"""Broker onboarding: log in to Upstox or Kite, keep the day's token, fetch the instrument master."""
