#!/usr/bin/env python3
"""Writes to a PlanToCode database the way the running app does: WAL, busy_timeout=5000,
synchronous=NORMAL, small transactions back to back. Used by the tests (a second process that
commits during an export) and by Scripts/bench-export (commit latency with and without an export).

Each commit inserts one row into ptc_writer_log(n) and sets key_value_store['ptc_writer_n'] to the
same n, so any consistent snapshot has max(n) == count(*) == that value.

usage: app-writer.py DB --seconds S [--ready FILE] [--latencies FILE] [--payload BYTES] [--max-commits N]
"""
import argparse
import os
import sqlite3
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ready", help="file created once the first commit is done")
    parser.add_argument("--stop", help="stop as soon as this file exists")
    parser.add_argument("--latencies", help="write one commit latency (seconds) per line here")
    parser.add_argument("--payload", type=int, default=200, help="bytes of text per commit")
    parser.add_argument("--max-commits", type=int, default=10_000_000)
    args = parser.parse_args()

    conn = sqlite3.connect(args.db, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE IF NOT EXISTS ptc_writer_log (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    start_n = conn.execute("SELECT coalesce(max(n), 0) FROM ptc_writer_log").fetchone()[0]
    payload = "x" * args.payload
    latencies = []
    deadline = time.monotonic() + args.seconds
    n = start_n
    while time.monotonic() < deadline and n - start_n < args.max_commits:
        if args.stop and os.path.exists(args.stop):
            break
        n += 1
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ptc_writer_log (n, payload) VALUES (?, ?)", (n, payload))
        conn.execute(
            "INSERT INTO key_value_store (key, value, updated_at) VALUES ('ptc_writer_n', ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (str(n), int(time.time() * 1000)),
        )
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t0)
        if n == start_n + 1 and args.ready:
            open(args.ready, "w").close()
    conn.close()
    if args.latencies:
        with open(args.latencies, "w") as f:
            f.write("\n".join(f"{x:.6f}" for x in latencies))
    print(f"{n - start_n} commits", file=sys.stderr)


if __name__ == "__main__":
    main()
