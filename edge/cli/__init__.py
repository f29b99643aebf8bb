"""The ``hall`` command line."""
