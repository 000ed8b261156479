"""gnnannot: fast interactive video object segmentation with graph neural networks."""

__version__ = "0.1.0"
