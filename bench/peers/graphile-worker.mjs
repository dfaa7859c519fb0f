// graphile-worker as a peer of measurement 15: its schema, its worker with
// the settings its performance page gives for the highest throughput, and
// how many of a task's jobs are not done yet.  Jobs are enqueued from SQL
// by graphile_worker.add_job() in row triggers (bench/measure makes them).
//
// Copyright (c) 2026, procflow developers
import { Logger, run, runMigrations } from "graphile-worker";
import { makePool } from "./common.mjs";

export const name = "graphile-worker";
export const schema = "graphile_worker";

// docs/performance ("Batching"): local queue, job completion in batches;
// 10 jobs at once in one Node.js process (the docs' starting point; they
// give no figure per core; GRAPHILE_CONCURRENCY changes it), a pool of
// concurrency + 2 as the docs advise.  New jobs wake the worker through
// LISTEN/NOTIFY (add_job notifies); pollInterval (default 2 s) only
// matters for future and retried jobs.
export const concurrency = Number(process.env.GRAPHILE_CONCURRENCY || 10);
const preset = {
  worker: {
    concurrentJobs: concurrency,
    maxPoolSize: concurrency + 2,
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  },
};
export const settings =
  `concurrentJobs ${concurrency}, maxPoolSize ${concurrency + 2}, localQueue.size 500, ` +
  "completeJobBatchDelay 0, failJobBatchDelay 0, pollInterval 2000 (default; new jobs come by LISTEN/NOTIFY)";

// Install graphile-worker's schema (its migrations).
export async function setup(pool) {
  await runMigrations({ pgPool: pool, logger: quietLogger() });
}

// Start a worker for the given tasks: { identifier: async (payload, ctx) }
// where ctx.query(sql, values) runs SQL and ctx.enqueue(identifier, payload)
// adds a job, both through graphile-worker's own helpers (on its pool).
// Returns a function that stops the worker gracefully and closes its pool.
export async function start(tasks) {
  const pool = makePool(concurrency + 2);
  const taskList = {};
  for (const [identifier, handler] of Object.entries(tasks)) {
    taskList[identifier] = (payload, helpers) =>
      handler(payload, {
        query: (sql, values) => helpers.query(sql, values),
        enqueue: (task, p) => helpers.addJob(task, p),
      });
  }
  const runner = await run({ pgPool: pool, taskList, noHandleSignals: true, logger: quietLogger(), preset });
  return async () => {
    await runner.stop();
    await pool.end();
  };
}

// Jobs of a task not done yet (done jobs are deleted).
export async function pending(pool, identifier) {
  const { rows } = await pool.query(
    "SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = $1", [identifier]);
  return rows[0].n;
}

// A logger that prints warnings and errors only.
function quietLogger() {
  return new Logger((scope) => (level, message) => {
    if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
  });
}
