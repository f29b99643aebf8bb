"""The Kivy apps facing customers: the touch kiosk and the counter pad (同屏), on one shared frame.

Shared by both: the frame (``shell``: header, footer, language, large text,
offline screen, technician exit, timeouts), one screen registry per app
(``registry``), the widgets, icons and text catalogue, the bus link, the rating
flow, and what tests and tours use to drive them by touch (``drive``, ``tours``).
Each app is a subpackage: ``kiosk`` and ``pad``.

Kivy is imported only by the modules that draw, so ``hall --help`` and the
config check stay fast.
"""
