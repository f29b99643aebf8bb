"""The core service: the only writer of the hall database, and the bus's hub."""
