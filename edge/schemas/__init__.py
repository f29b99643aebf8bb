"""Message schemas, one module per area; every process imports them from here.

Each area module (``queue``, ``bus``, …) defines pydantic models for the
``data`` of its requests, a ``REQUESTS`` table (topic → model), ``READS`` (the
topics that change nothing) and ``EVENTS`` (the event topics it emits).
Unknown fields are errors everywhere.
"""
