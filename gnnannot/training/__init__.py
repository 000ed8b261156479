"""Training the GNN on simulated interactive sessions (``train.py``) over temporal clips of
the cached graphs (``clip.py``)."""
