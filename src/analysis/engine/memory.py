"""The process's Arrow memory pool.

pandas holds text in Arrow arrays, so every id column of a national pass is allocated
from Arrow's default pool. On Linux that is mimalloc, which keeps memory once freed for
its next allocations: after the pass's large transients (a factorisation of 7.7 million
activity ids, say) the process stays that much larger. jemalloc gives freed memory back
to the system, which lowers the pass's peak at 300,000 customers by about 200 MB at the
same speed. The command line asks for it; an ``ARROW_DEFAULT_MEMORY_POOL`` set by the
user wins, and a pyarrow built without jemalloc keeps its default.
"""
from __future__ import annotations

import os

#: The environment variable with which pyarrow's users choose the pool themselves.
POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_returning_pool() -> str:
    """Make jemalloc the process's Arrow pool (unless :data:`POOL_VARIABLE` chooses one,
    or pyarrow lacks it); returns the name of the pool in use."""
    import pyarrow as pa

    if not os.environ.get(POOL_VARIABLE):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a pyarrow built without jemalloc
            pass
    return pa.default_memory_pool().backend_name
