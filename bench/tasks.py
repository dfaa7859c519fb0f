#!/usr/bin/env python3
"""Measurement 13 of bench/measure: tasks and the taskbox.

- notify latency: a client commits the launch of an instance whose first
  activity is a task (the commit makes it ready); another client, LISTENing
  on procflow_task, receives the notification.  Time from the launching
  client's COMMIT returning to the listener reading the notification.
- taskbox query: procflow.taskbox() for one user with three groups while
  1,000,000 tasks are open across 10,000 users, beside 1,000 unassigned ready
  tasks of 100 groups; the plan is printed.  The tasks are written straight
  into the catalog tables (launching a million instances would take the
  run's time, and is measured elsewhere): the query is what is measured.
- another owner's tasks: procflow.taskbox('clerk') called by an
  application role of one owner, with 10 tasks of its own for 'clerk',
  beside another owner's OTHER_TASKS open tasks for the same name (which
  the caller may not see), and without them; the plan is printed.
- completion throughput: two sessions complete tasks (complete_task), each
  leading to an automatic step and the end, which the executors run; tasks
  completed per second until every instance has completed.

Results go to table bench_result of database "bench", like the others.

Copyright (c) 2026, procflow developers
"""
import os
import select
import statistics
import threading
import time

import psycopg2
import psycopg2.extensions

SAMPLES = int(os.environ.get("TASK_SAMPLES", "1000"))
BIG = int(os.environ.get("TASKBOX_TASKS", "1000000"))
USERS = int(os.environ.get("TASKBOX_USERS", "10000"))
GROUPS = int(os.environ.get("TASKBOX_GROUPS", "100"))
CALLS = int(os.environ.get("TASKBOX_CALLS", "200"))
COMPLETE = int(os.environ.get("TASK_COMPLETE", "4000"))
OTHER = int(os.environ.get("OTHER_TASKS", "100000"))


# The statement inside procflow.taskbox() (task_api.c): the assignees (a),
# groups (g), the caller's flows (f), and the assignees and groups that are
# the caller's roles (wa, wg).
TASKBOX_SQL = """
    SELECT a.id FROM (
        SELECT t.* FROM unnest(%(f)s::int4[]) f(id), unnest(%(a)s::text[]) w(name), LATERAL (
            SELECT * FROM procflow.activity x WHERE x.kind = 'human'
               AND x.status IN ('ready', 'open') AND x.assignee = w.name AND x.process_id = f.id OFFSET 0) t
        UNION ALL
        SELECT t.* FROM unnest(%(wa)s::text[]) w(name), LATERAL (
            SELECT * FROM procflow.activity x WHERE x.kind = 'human'
               AND x.status IN ('ready', 'open') AND x.assignee = w.name
               AND NOT x.process_id = ANY (%(f)s::int4[]) OFFSET 0) t
        UNION ALL
        SELECT t.* FROM unnest(%(f)s::int4[]) f(id), unnest(%(g)s::text[]) g(name), LATERAL (
            SELECT * FROM procflow.activity x WHERE x.kind = 'human'
               AND x.status = 'ready' AND x.assignee IS NULL
               AND x."group" = g.name AND x.process_id = f.id OFFSET 0) t
        UNION ALL
        SELECT t.* FROM unnest(%(wg)s::text[]) g(name), LATERAL (
            SELECT * FROM procflow.activity x WHERE x.kind = 'human'
               AND x.status = 'ready' AND x.assignee IS NULL
               AND x."group" = g.name AND NOT x.process_id = ANY (%(f)s::int4[]) OFFSET 0) t
        UNION ALL
        SELECT t.* FROM unnest(%(f)s::int4[]) f(id), LATERAL (
            SELECT * FROM procflow.activity x WHERE x.kind = 'human'
               AND x.status = 'ready' AND x.assignee IS NULL
               AND x."group" IS NULL AND x.process_id = f.id OFFSET 0) t) a
      JOIN procflow.instance i ON i.id = a.instance_id
      JOIN procflow.process p ON p.id = i.process_id
     ORDER BY a.due_at NULLS LAST, p.execution_order, a.created_at, a.id"""


def connect(autocommit=True):
    conn = psycopg2.connect(dbname=os.environ.get("BENCH_DB", "bench"))
    conn.autocommit = autocommit
    return conn


def record(cur, measure, variant, value):
    cur.execute("INSERT INTO bench_result (measure, variant, value) VALUES (%s, %s, %s)",
                (measure, variant, value))


def setup(cur):
    cur.execute("""
        CREATE TABLE IF NOT EXISTS task_item (id int PRIMARY KEY);
        SELECT procflow.create_flow('bench_task', 'task_item', $${"start": "t", "activities": {
            "t": {"kind": "human", "group": "bench", "next": "a"},
            "a": {"kind": "automatic", "action": "SELECT 1", "next": "e"},
            "e": {"kind": "end"}}}$$)
         WHERE NOT EXISTS (SELECT 1 FROM procflow.processes WHERE name = 'bench_task');
    """)


def notify_latency(cur):
    listener = connect()
    lcur = listener.cursor()
    lcur.execute("LISTEN procflow_task")
    cur.execute("TRUNCATE task_item")
    cur.execute("INSERT INTO task_item SELECT g FROM generate_series(1, %s) g", (SAMPLES,))
    writer = connect(autocommit=False)
    wcur = writer.cursor()
    samples = []
    for i in range(1, SAMPLES + 1):
        wcur.execute("SELECT procflow.launch('bench_task', %s)", (str(i),))
        wcur.execute("SELECT activity FROM procflow.tasks WHERE key = %s", ('{"id": %d}' % i,))
        activity = str(wcur.fetchone()[0])
        writer.commit()
        committed = time.perf_counter()
        got = None
        while got is None:
            select.select([listener], [], [], 5)
            listener.poll()
            while listener.notifies:
                n = listener.notifies.pop(0)
                if n.payload == activity:
                    got = time.perf_counter()
        samples.append((got - committed) * 1000)
        time.sleep(0.005)
    for s in samples:
        record(cur, "taskbox_notify_ms", "commit of the launch that makes a task ready -> listener", s)
    samples.sort()
    print("-- notify latency p50 %.3f ms, p99 %.3f ms" % (
        samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]))
    listener.close()
    writer.close()
    cur.execute("SELECT procflow.disable_process('bench_task', cancel_pending => true)")
    cur.execute("SELECT procflow.enable_process('bench_task')")


def taskbox_query(cur):
    cur.execute("""
        INSERT INTO procflow.instance (process_id, version, key, status)
        SELECT p.id, 1, ARRAY['0'], 'active' FROM procflow.process p WHERE p.name = 'bench_task';
    """)
    cur.execute("""
        INSERT INTO procflow.activity (instance_id, process_id, name, kind, status, assignee, "group", due_at)
        SELECT i.id, i.process_id, 't', 'human', 'open',
               'user' || (g %% %s), 'group' || (g %% %s), now() + (g %% 1000) * interval '1 minute'
          FROM generate_series(1, %s) g, (SELECT * FROM procflow.instance ORDER BY id DESC LIMIT 1) i;
        INSERT INTO procflow.activity (instance_id, process_id, name, kind, status, "group", due_at)
        SELECT i.id, i.process_id, 't', 'human', 'ready',
               'group' || (g %% %s), now() + g * interval '1 minute'
          FROM generate_series(1, 1000) g, (SELECT * FROM procflow.instance ORDER BY id DESC LIMIT 1) i;
    """, (USERS, GROUPS, BIG, GROUPS))
    # the steady state: vacuumed and analysed, so that autovacuum does not
    # run over the million new rows while the calls are timed
    cur.execute("VACUUM (ANALYZE) procflow.activity")
    for i in range(20):
        cur.execute("SELECT * FROM procflow.taskbox(%s, %s)", ('user%d' % i, ['group1']))
        cur.fetchall()
    groups = ['group1', 'group2', 'group3']
    cur.execute("SELECT count(*) FROM procflow.taskbox('user42', %s)", (groups,))
    rows = cur.fetchone()[0]
    times = []
    for i in range(CALLS):
        user = 'user%d' % (i * 37 % USERS)
        t0 = time.perf_counter()
        cur.execute("SELECT * FROM procflow.taskbox(%s, %s)", (user, groups))
        cur.fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    for t in times:
        record(cur, "taskbox_query_ms", "one user, three groups, %d open tasks (%d rows each)"
               % (BIG, rows), t)
    # the same calls inside the server, without the client's round trips
    # and decoding: the function's own cost per call
    t0 = time.perf_counter()
    cur.execute("""SELECT count(*) FROM generate_series(0, %s - 1) g,
                          LATERAL procflow.taskbox('user' || (g * 37 %% %s), %s)""",
                (CALLS, USERS, groups))
    server = (time.perf_counter() - t0) * 1000 / CALLS
    record(cur, "taskbox_call_in_server_ms", "one user, three groups, %d open tasks" % BIG, server)
    print("-- taskbox call in the server: %.3f ms" % server)
    # the plan of the statement inside taskbox() (task_api.c), for user42
    # and three groups, as the bench's superuser: every flow is its own
    cur.execute("SELECT array_agg(id) FROM procflow.process")
    cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + TASKBOX_SQL,
                {'a': ['user42'], 'g': groups, 'f': cur.fetchone()[0], 'wa': [], 'wg': []})
    print("-- taskbox plan:\n" + "\n".join(r[0] for r in cur.fetchall()))
    times.sort()
    print("-- taskbox query p50 %.3f ms, p99 %.3f ms, %d rows" % (
        times[len(times) // 2], times[int(len(times) * 0.99) - 1], rows))
    cur.execute("DELETE FROM procflow.instance WHERE key = ARRAY['0']")


def other_owner(cur):
    """taskbox('clerk') of one owner's application role, beside another
    owner's OTHER open tasks for the same name, and without them."""
    cur.execute("""
        DO $$ BEGIN
            CREATE ROLE bench_owner_a; CREATE ROLE bench_owner_b; CREATE ROLE bench_app_a;
        EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        GRANT bench_owner_a TO bench_app_a;
        GRANT CREATE ON SCHEMA public TO bench_owner_a, bench_owner_b;
        SET ROLE bench_owner_a;
        CREATE TABLE IF NOT EXISTS owner_a_item (id int PRIMARY KEY);
        SELECT procflow.create_flow('bench_owner_a', 'owner_a_item', $${"start": "t", "activities": {
            "t": {"kind": "human", "assignee": "clerk", "next": "e"}, "e": {"kind": "end"}}}$$)
         WHERE NOT EXISTS (SELECT 1 FROM procflow.processes WHERE name = 'bench_owner_a');
        INSERT INTO owner_a_item SELECT g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING;
        SELECT count(procflow.launch('bench_owner_a', to_jsonb(id))) FROM owner_a_item;
        SELECT procflow.run_jobs();
        RESET ROLE;
        SET ROLE bench_owner_b;
        CREATE TABLE IF NOT EXISTS owner_b_item (id int PRIMARY KEY);
        SELECT procflow.create_flow('bench_owner_b', 'owner_b_item', $${"start": "t", "activities": {
            "t": {"kind": "human", "assignee": "clerk", "next": "e"}, "e": {"kind": "end"}}}$$)
         WHERE NOT EXISTS (SELECT 1 FROM procflow.processes WHERE name = 'bench_owner_b');
        RESET ROLE;
    """)
    results = {}
    for other in (0, OTHER):
        cur.execute("""
            INSERT INTO procflow.instance (process_id, version, key, status)
            SELECT p.id, 1, ARRAY['0'], 'active' FROM procflow.process p WHERE p.name = 'bench_owner_b';
            INSERT INTO procflow.activity (instance_id, process_id, name, kind, status, assignee)
            SELECT i.id, i.process_id, 't', 'human', 'ready', 'clerk'
              FROM generate_series(1, %s) g, (SELECT * FROM procflow.instance ORDER BY id DESC LIMIT 1) i;
        """, (other,))
        cur.execute("VACUUM (ANALYZE) procflow.activity")
        cur.execute("SET ROLE bench_app_a")
        for i in range(20):
            cur.execute("SELECT * FROM procflow.taskbox('clerk', '{}')")
            cur.fetchall()
        t0 = time.perf_counter()
        # (the argument names g, so that each row calls the function)
        cur.execute("""SELECT count(*) FROM generate_series(1, %s) g,
                              LATERAL procflow.taskbox('clerk' || left(g::text, 0), '{}')""",
                    (CALLS,))
        rows = cur.fetchone()[0] // CALLS
        server = (time.perf_counter() - t0) * 1000 / CALLS
        cur.execute("RESET ROLE")
        # the statement inside it, as taskbox() runs it for that role
        cur.execute("SELECT array_agg(id) FROM procflow.process"
                    " WHERE pg_has_role('bench_app_a', owner, 'USAGE')")
        flows = cur.fetchone()[0]
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + TASKBOX_SQL,
                    {'a': ['clerk'], 'g': [], 'f': flows, 'wa': [], 'wg': []})
        plan = "\n".join(r[0] for r in cur.fetchall())
        record(cur, "taskbox_other_owner_ms",
               "an application role's taskbox('clerk'), %d rows, beside %d tasks of another owner for 'clerk'"
               % (rows, other), server)
        print("-- taskbox('clerk') of owner A's application role beside %d of owner B's tasks: %.3f ms, %d rows"
              % (other, server, rows))
        results[other] = plan
        cur.execute("DELETE FROM procflow.instance i USING procflow.process p"
                    " WHERE p.id = i.process_id AND p.name = 'bench_owner_b' AND i.key = ARRAY['0']")
    print("-- its plan beside %d tasks of another owner:\n%s" % (OTHER, results[OTHER]))

def completion(cur):
    cur.execute("TRUNCATE task_item")
    cur.execute("INSERT INTO task_item SELECT g FROM generate_series(1, %s) g", (COMPLETE,))
    cur.execute("SELECT count(procflow.launch('bench_task', to_jsonb(id))) FROM task_item")
    cur.execute("SELECT activity FROM procflow.tasks WHERE flow = 'bench_task' ORDER BY activity")
    tasks = [r[0] for r in cur.fetchall()]
    halves = [tasks[0::2], tasks[1::2]]

    def work(ids):
        conn = connect()
        c = conn.cursor()
        for a in ids:
            c.execute("SELECT procflow.complete_task(%s)", (a,))
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.time() + 600
    while True:
        cur.execute("SELECT count(*) FROM procflow.instances WHERE flow = 'bench_task' AND status = 'completed'")
        if cur.fetchone()[0] >= len(tasks) or time.time() > deadline:
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    record(cur, "tasks_completed_per_s", "2 sessions: complete_task, then an automatic step and the end",
           len(tasks) / elapsed)
    print("-- %d tasks completed in %.2f s: %.0f per second" % (len(tasks), elapsed, len(tasks) / elapsed))


def main():
    conn = connect()
    cur = conn.cursor()
    setup(cur)
    notify_latency(cur)
    taskbox_query(cur)
    other_owner(cur)
    completion(cur)
    conn.close()


if __name__ == "__main__":
    main()
