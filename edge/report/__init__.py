"""The daily report: HTML and PDF with plots, generated on the box from ``stats.day``."""
