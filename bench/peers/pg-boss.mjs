// pg-boss as a peer of measurement 15: its schema and queues, its workers
// with the fastest settings its docs give, and how many of a queue's jobs
// are not done yet.  pg-boss has no SQL function that creates a job: its
// docs ("SQL", "Job table") give INSERT into pgboss.job as the way to
// create jobs from SQL or from triggers, which bench/measure's row triggers
// do.  Such an INSERT sends no NOTIFY (send() adds one to its own INSERT),
// so its jobs are found by polling, unless the trigger notifies too.
//
// Copyright (c) 2026, procflow developers
import { PgBoss } from "pg-boss";
import { makePool } from "./common.mjs";

export const name = "pg-boss";
export const schema = "pgboss";

// docs/api/workers: polling at the smallest interval allowed (0.5 s; also
// while LISTEN/NOTIFY is on, where the default backstop is 30 s), fetching
// on without a pause while batches come back full, LISTEN/NOTIFY on
// (useListenNotify, and notify on every queue).  The docs give no
// concurrency or batch size per core: 10 workers in the process, as many
// jobs at once as graphile-worker's 10, each fetching up to 100 jobs at a
// time, procflow's own batch size; a batch's jobs run one after another
// (PGBOSS_CONCURRENCY and PGBOSS_BATCH_SIZE change them).
export const concurrency = Number(process.env.PGBOSS_CONCURRENCY || 10);
export const batchSize = Number(process.env.PGBOSS_BATCH_SIZE || 100);
const workOptions = {
  localConcurrency: concurrency,
  batchSize,
  burstWhenBatchFull: true,
  pollingIntervalSeconds: 0.5,
  notifyPollingIntervalSeconds: 0.5,
};
export const settings =
  `localConcurrency ${concurrency}, batchSize ${batchSize}, burstWhenBatchFull, ` +
  "pollingIntervalSeconds 0.5 (the smallest allowed), notifyPollingIntervalSeconds 0.5, " +
  "useListenNotify with notify on the queues, pool max 10 (default), handler pool max " + concurrency;

// The queues measurement 15 uses (create with pg-boss's defaults otherwise).
const queues = ["capture", "drain", "latency", "latency_notify", "chain"];

// A pg-boss instance on database "bench" of PGHOST/PGPORT.
function boss() {
  const b = new PgBoss({
    host: process.env.PGHOST,
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER,
    database: "bench",
    useListenNotify: true,
  });
  b.on("error", (e) => console.error("pg-boss error:", e.message));
  return b;
}

// Create pg-boss's schema (start() does) and the queues.
export async function setup() {
  const b = boss();
  await b.start();
  for (const q of queues) await b.createQueue(q, { policy: "standard", notify: true });
  await b.stop({ graceful: true });
}

// Start workers for the given queues: { queue: async (data, ctx) } where
// ctx.query(sql, values) runs SQL (on a pool of the handlers') and
// ctx.enqueue(queue, data) sends a job (send()).  Returns a function that
// stops pg-boss gracefully and closes the pools.
export async function start(handlers) {
  const b = boss();
  await b.start();
  const pool = makePool(concurrency);
  const ctx = {
    query: (sql, values) => pool.query(sql, values),
    enqueue: (queue, data) => b.send(queue, data),
  };
  for (const [queue, handler] of Object.entries(handlers)) {
    await b.work(queue, workOptions, async (jobs) => {
      for (const job of jobs) await handler(job.data, ctx);
    });
  }
  return async () => {
    await b.stop({ graceful: true, close: true });
    await pool.end();
  };
}

// Jobs of a queue not done yet (done jobs stay, as 'completed', until
// pg-boss's maintenance deletes them).
export async function pending(pool, queue) {
  const { rows } = await pool.query(
    "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state < 'completed'", [queue]);
  return rows[0].n;
}
