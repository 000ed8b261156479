"""Arrays in, arrays out: optical flow (``flow/``), superpixels, node features, descriptors
and the superpixel graph. Nothing here reads or writes a store (``gnnannot.store``) or knows
a stage (``gnnannot.pipeline``)."""
