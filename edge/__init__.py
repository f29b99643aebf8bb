"""Smart Hall Edge: the software of a customer-service hall's on-site box.

This package holds the contracts every process shares (message envelope and
schemas, the bus client and hub, config, storage, errors), the ``core`` service
(queue engine) and the ``hall`` command line.
"""

__version__ = "0.1.0"
