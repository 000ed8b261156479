"""Thin DVC stage entry points: read params.yaml, call the library, write outputs.

numpy/scipy's OpenBLAS runs single-threaded in the stages (unless the environment says
otherwise): the random walker's conjugate gradients make thousands of small vector
products (N ~ 1e4), where a multi-threaded BLAS only synchronises, and on a loaded
2-core machine each ``dot`` of 14k doubles took 3.4 ms with the default 2 threads vs
0.025 ms with one (a 3-interaction training session: 312 s vs 6.3 s, measured with
cProfile). Set here, before numpy is first imported; worker processes inherit it.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
