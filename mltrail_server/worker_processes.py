"""Whether this process is one worker of a server that may run several: uvicorn's
`--workers N` (its workers are processes spawned by `multiprocessing`) or gunicorn (its
arbiter forks the workers and sets SERVER_SOFTWARE). The app cannot see how many siblings it
has, only that it may have some, and then an in-process cache would serve one worker's
stale copy of another's write."""

import multiprocessing
import os

__all__ = ["IN_PROCESS_CACHE_OFF_MESSAGE", "one_of_several_workers"]

IN_PROCESS_CACHE_OFF_MESSAGE = (
    "this is one worker of several and REDIS_URL is empty: the read cache is off, since an "
    "in-memory cache per worker would serve reads that miss the other workers' writes; set "
    "REDIS_URL to share one cache (or CACHE_ENABLED=false to silence this)"
)


def one_of_several_workers() -> bool:
    """True in a worker of `uvicorn --workers N` (and of `--reload`, whose one worker is
    spawned the same way) and in any gunicorn worker."""
    if multiprocessing.parent_process() is not None:
        return True
    return os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")
