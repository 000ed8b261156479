"""Datasets in DAVIS layout: reading, writing, validation, the synthetic generator and the
DAVIS-2017 download."""
