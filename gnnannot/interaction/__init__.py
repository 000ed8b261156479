"""The user's interactions with a video: scribbles turned into graph seeds (``seeds.py``)."""
