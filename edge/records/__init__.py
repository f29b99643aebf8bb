"""Paperless forms and signed records: templates, values, handwriting, digests, receipts.

Pure library code (no bus): the core's ``edge.core.records`` area stores and
serves what these modules check and compute; the panel renders receipts.
"""
