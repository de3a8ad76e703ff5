"""gunicorn hooks for `licence_check.py`: count each worker's SQL queries.

When BENCH_STATS_DIR is set, every worker keeps the number of SQL queries it ran
in an 8-byte file `<dir>/<pid>.queries`, memory-mapped, so the driver can read the
counts between runs without asking the workers anything. The counter lives in a
database execute wrapper: it costs nothing on a request that runs no query (a
cache hit) and well under a microsecond on one that does.
"""

import mmap
import os
import struct


def post_worker_init(worker):
    stats_dir = os.environ.get("BENCH_STATS_DIR")
    if not stats_dir:
        return
    from django.db import connection

    path = os.path.join(stats_dir, f"{os.getpid()}.queries")
    with open(path, "wb") as file:
        file.write(bytes(8))
    with open(path, "r+b") as file:
        counter = mmap.mmap(file.fileno(), 8)
    count = 0

    def count_queries(execute, sql, params, many, context):
        nonlocal count
        count += 1
        struct.pack_into("<Q", counter, 0, count)
        return execute(sql, params, many, context)

    # Sync workers serve every request on this (the main) thread, whose connection
    # object outlives the database connections it opens and closes.
    connection.execute_wrappers.append(count_queries)
