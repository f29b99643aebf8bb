"""Device protocols and codecs (pure), their transports and simulated peers, and the ``devices`` service.

Each device family is a plain library that knows nothing of the bus; only
``drivers.service`` connects them to it.
"""
