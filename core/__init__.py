"""StrikeIQ core: feeds, state, analytics, engines, storage and learning. Never imports Streamlit, except
core.bench, whose page benchmarks drive the dashboard through streamlit.testing when they run."""
