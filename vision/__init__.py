"""Vision: people, zones, seats, door counts, heatmaps and consented faces from the hall's cameras.

The modules here are a plain library that knows nothing of the bus: people
(:mod:`vision.detector`, :mod:`vision.tracking`, :mod:`vision.people`),
geometry and analysis (:mod:`vision.geometry`, :mod:`vision.analysis`,
:mod:`vision.heatmap`), and the face pipeline that the kiosk's face flows
reuse (:mod:`vision.faces`: detection with landmarks, alignment, the quality
gate; :mod:`vision.embed`: embeddings; :mod:`vision.facemesh`: head pose, eye
openness and blinks; :mod:`vision.gallery`: the consented gallery).
:mod:`vision.service` runs one worker process per camera and publishes the
facts they derive. Frames never leave a worker and are never written to disk.
"""
