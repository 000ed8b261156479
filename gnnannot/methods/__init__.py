"""Segmentation methods that plug into the interactive session: the non-GNN baselines,
the superpixel oracle and (in :mod:`gnnannot.methods.gnn`) the GNN itself."""
