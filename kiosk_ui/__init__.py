"""The customers' touch kiosk (Kivy): take a ticket, identify by card, look-ups, rating, consent.

Kivy is imported only by the modules that draw (``kiosk_ui.app`` and what it
loads), so ``hall --help`` and the config check stay fast.
"""
