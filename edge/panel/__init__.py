"""The staff panel: a local web app for counters, the hall dashboard, alerts and the daily report."""
