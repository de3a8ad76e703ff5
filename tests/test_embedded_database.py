"""The embedded default's SQLite database under concurrent writes.

The suite runs on PostgreSQL, so this starts a process of its own on the app's
settings with no DATABASE_URL: the SQLite file of `./scripts/run`, here in a temporary
directory.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Eight threads each read a counter and write it back, inside a transaction, as a
# request that checks then writes does (licences left, then an assignment). With
# SQLite's default deferred transactions, two of them holding a read lock cannot both
# upgrade it: one fails at once with "database is locked", whatever the timeout.
RACE = """if True:
    import threading
    import django
    from django.db import OperationalError, connection, transaction

    django.setup()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (1, 0)")
    errors = []

    def writer():
        for _ in range(25):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute("SELECT value FROM counter WHERE id = 1")
                    (value,) = cursor.fetchone()
                    cursor.execute("UPDATE counter SET value = %s WHERE id = 1", [value + 1])
            except OperationalError as error:
                errors.append(str(error))
        connection.close()

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE id = 1")
        print(cursor.fetchone()[0], len(errors), sorted(set(errors)))
"""


def test_concurrent_writers_wait_for_each_other_instead_of_failing(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "seatmgr.settings",
        "DEBUG": "1",
        "SECRET_KEY": "embedded-database-test",
        "SQLITE_PATH": str(tmp_path / "seatmgr.sqlite3"),
        "CACHE_DIR": str(tmp_path / "cache"),
    }

    result = subprocess.run(
        [sys.executable, "-c", RACE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split(maxsplit=2)[:2] == ["200", "0"], result.stdout
