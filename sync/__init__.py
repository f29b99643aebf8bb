"""HQ sync: the box's agent (``hall sync``) and the HQ-side reference server (``hall hq``)."""
