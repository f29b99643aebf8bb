"""``hall chaos``: the fault-injection run we make before each release.

It runs the demo hall in a home of its own, injects faults at random from a seed for N minutes
(:mod:`chaos.plan`: ``kill -9`` of any service, the HQ link through :mod:`chaos.proxy`, a full disk,
devices unplugged, malformed requests), lets the hall settle, and checks the invariants
(:mod:`chaos.check`) against the stores. Unlike the services it may import every package of the
project, as the tests do: it drives the whole hall from outside.
"""
