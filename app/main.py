"""StrikeIQ dashboard entry point: page setup and routing only."""

import streamlit as st

from app.alerts_ui import alert_toasts
from app.broker_panel import handle_login_redirect

st.set_page_config(page_title="StrikeIQ", page_icon=":bar_chart:", layout="wide")
handle_login_redirect()  # a broker login redirects back to the app with ?code= / ?request_token=

pages = [
    st.Page("views/live.py", title="Live", icon=":material/monitoring:", default=True),
    st.Page("views/chain.py", title="Option chain", icon=":material/table_chart:"),
    st.Page("views/intraday.py", title="Intraday", icon=":material/timeline:"),
    st.Page("views/history.py", title="Signal history", icon=":material/history:"),
    st.Page("views/performance.py", title="Performance", icon=":material/insights:"),
    st.Page("views/alerts.py", title="Alerts", icon=":material/notifications:"),
    st.Page("views/system.py", title="System", icon=":material/settings:"),
]
# Fired alerts pop up on whatever page is open. These pages' timed panels toast them themselves
# (alerts_ui.toast_new_alerts): a second timed fragment beside theirs would sometimes lose a toast.
# Intraday has a timed panel on today's chart only and runs `alert_toasts` itself otherwise.
SELF_TOASTING = {"Live", "Option chain", "Intraday", "Alerts", "System"}
page = st.navigation(pages)
if page.title not in SELF_TOASTING:
    alert_toasts()
page.run()
