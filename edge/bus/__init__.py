"""The hall bus: ZeroMQ PUB (events) and ROUTER (requests), hosted by the core."""

from edge.bus.client import BusClient, Endpoints, Subscriber

__all__ = ["BusClient", "Endpoints", "Subscriber"]
