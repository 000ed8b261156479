"""Optical flow: the estimators behind one protocol and registry (``registry.py``), the
OpenCV ones and occlusions (``estimate.py``), the seed's ``.h5`` files (``h5.py``) and
per-frame access to a video's flow (``frames.py``)."""
