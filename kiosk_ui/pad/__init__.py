"""The counter pad (同屏): the screen facing the customer at one counter.

It shows the ticket called to its counter, then the form the clerk pushes from
the panel for the customer to read and confirm, a box to sign it by hand, the
signed result, and the rating. ``pad`` holds the state and the hall's events,
``screens`` the registry, ``signing`` the handwriting box. Nothing here imports
Kivy until a screen module is imported.
"""
