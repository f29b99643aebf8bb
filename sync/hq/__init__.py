"""The HQ side of the sync API: store, HTTP app and the ``hall hq`` command."""
