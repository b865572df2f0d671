"""The process's Arrow memory pool.

pandas holds text in Arrow arrays, so every id column of a national pass is allocated
from Arrow's default pool. On Linux that is mimalloc, which keeps memory once freed: after
the pass's large transients (a factorisation of 7.7 million activity ids, say) the
process stays that much larger. The command line asks for the system's allocator
instead (glibc's ``malloc`` on Linux): it reuses the blocks freed within a step without
asking the system for new pages, and gives them all back where the pass asks it to
(before it forks, and after each task while forked when the process is large:
``malloc_trim`` in :func:`analysis.domain.forking.side_by_side`), so the peak is as low
as with jemalloc, which returns freed pages a second later and so takes fresh zeroed
pages from the system again and again (at 300,000 customers: 8.2 against 9.3 s of
system time, 0.94x the wall time, the same peak). An ``ARROW_DEFAULT_MEMORY_POOL`` set by
the user wins.
"""
from __future__ import annotations

import os

#: The environment variable with which pyarrow's users choose the pool themselves.
POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"


def use_returning_pool() -> str:
    """Make the system's allocator the process's Arrow pool (unless :data:`POOL_VARIABLE`
    chooses one); returns the name of the pool in use."""
    import pyarrow as pa

    if not os.environ.get(POOL_VARIABLE):
        pa.set_memory_pool(pa.system_memory_pool())
    return pa.default_memory_pool().backend_name
