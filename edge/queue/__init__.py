"""The queue engine: numbering, choosing whom to call, estimating waits."""
