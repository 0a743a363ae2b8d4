"""StrikeIQ core: feeds, state, analytics, engines, storage and learning. Never imports Streamlit."""
