"""Vision: people counting, zones, seats and floor heatmaps from the hall's cameras.

The modules here are a plain library that knows nothing of the bus
(:mod:`vision.people`, :mod:`vision.geometry`, :mod:`vision.analysis`,
:mod:`vision.heatmap`, :mod:`vision.faces`); :mod:`vision.service` runs one
worker process per camera and publishes the facts they derive. Frames never
leave a worker and are never written to disk.
"""
