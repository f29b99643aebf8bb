"""The customers' touch kiosk: take a ticket, identify by card, look-ups, consent, rating.

``kiosk`` holds the state and the hall's events, ``screens`` the registry, and
``queueing``, ``selfservice`` and ``consent`` build the screens. Nothing here
imports Kivy until a screen module is imported.
"""
