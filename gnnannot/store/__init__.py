"""Zarr stores of the pipeline (one group per video, ``SCHEMA.md``): the shared base
(``base.py``: group writer, shard reader, fingerprints; ``guard.py``: locks, temporaries,
integrity), the flow, superpixels, features and graphs stores, and the file formats
outside zarr (the seed's flow ``.h5``: ``flow_h5.py``; palette PNG masks: ``palette.py``)."""
