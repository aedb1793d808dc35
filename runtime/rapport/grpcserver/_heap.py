"""The garbage collector's view of a long-running server's heap."""

from __future__ import annotations

import gc

# Full collections after 100 young-generation passes instead of 10. A full pass walks
# every object created since start-up (caches, pooled statements): tens of
# milliseconds during which no call is answered, which set GetProfile's p99 (p99
# 2.5-2.9 ms instead of 2.8-5.1 ms at 1,000 calls/s, bench/bench_profile_get.py).
# Cyclic garbage that outlived two young passes waits longer to be freed.
_THRESHOLDS = (700, 10, 100)

_settled = False


def settle_heap() -> None:
    """Once per process: take what start-up built out of the collector's sight
    (``gc.freeze``) and make full collections rarer.

    Modules, descriptors, tables and compiled rules live as long as the process;
    left in view, every full collection walks them all (a ~60 ms pause in the
    middle of large BatchResolve calls, bench/bench_identity_resolve.py). Once:
    tests start many servers in one process.
    """
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)
