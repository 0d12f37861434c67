"""Whether a statement comes from one of the server's background tasks (the audit log's
writer, the artifact purge queue's drainer, the garbage collector) rather than from the
request a test counts the statements of: they may run at any moment, the more so on a busy
machine. They are told apart by their task's name (services/)."""

import asyncio

__all__ = ["BACKGROUND_TASKS", "in_background_task"]

BACKGROUND_TASKS = frozenset({"audit-writer", "artifact-purge-drainer", "garbage-collector"})


def in_background_task() -> bool:
    """Called from an engine event hook: the task whose statement it is."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return False
    return task is not None and task.get_name() in BACKGROUND_TASKS
