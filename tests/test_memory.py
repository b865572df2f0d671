"""The command line's Arrow memory pool (analysis.engine.memory)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "from analysis.engine.memory import use_returning_pool; print(use_returning_pool())"


def _pool(env_pool: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    return subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_command_line_uses_the_system_allocator():
    assert _pool(None) == "system"


def _other_pool() -> str | None:
    """A pool this pyarrow has besides the system's (None: it has none)."""
    import pyarrow as pa

    for name, make in (("mimalloc", pa.mimalloc_memory_pool), ("jemalloc", pa.jemalloc_memory_pool)):
        try:
            make()
            return name
        except NotImplementedError:
            continue
    return None


@pytest.mark.skipif(_other_pool() is None, reason="pyarrow built with the system allocator only")
def test_a_pool_the_user_chose_wins():
    assert _pool(_other_pool()) == _other_pool()
