// What the peers of measurement 15 share: a connection pool on database
// "bench" of the server in PGHOST/PGPORT (PGUSER), waiting with a deadline,
// wall-clock time in milliseconds, and the rows and WAL a phase writes.
//
// Copyright (c) 2026, procflow developers
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";

// A pool on database "bench"; node-postgres reads PGHOST, PGPORT and PGUSER
// (PGHOST may be a socket directory, as bench/run's is).  The workers'
// pools are named "procflow-bench-peer" (see peerConnectionsGone).
export function makePool(max, applicationName = "procflow-bench-peer") {
  const pool = new pg.Pool({ database: "bench", max, application_name: applicationName });
  const report = (e) => console.error(`a connection of ${applicationName}: ${e.message}`);
  pool.on("error", report);
  pool.on("connect", (client) => client.on("error", report));
  return pool;
}

// True when no connection of a peer's worker is left: ours, and pg-boss's
// own (it names them "pgboss" or "pgboss:<id>").  A backend sends its
// statistics as it exits, so they are all in once this holds.
export async function peerConnectionsGone(pool) {
  return Number(await one(pool, `SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench'
      AND (application_name = 'procflow-bench-peer' OR application_name LIKE 'pgboss%')`)) === 0;
}

// One value of the first row of a query.
export async function one(pool, sql, values) {
  const { rows } = await pool.query({ text: sql, values, rowMode: "array" });
  return rows[0][0];
}

// Wall-clock time in milliseconds with a fraction, comparable with
// PostgreSQL's clock_timestamp() on the same machine.
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

// Poll a condition (an async function returning true when done) every
// 20 ms until it holds, failing after `seconds`.
export async function waitFor(what, condition, seconds = 300) {
  const deadline = Date.now() + seconds * 1000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Rows inserted, updated and deleted so far in the tables of one schema (a
// queue's own tables), as the statistics system has them.  An idle backend
// may hold its counts back for up to 10 s, an exiting one sends them: the
// callers read this when no connection that wrote is left.
export async function schemaWrites(pool, schema) {
  return Number(await one(pool,
    `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema]));
}

// The current WAL insert position.
export function walLsn(pool) {
  return one(pool, "SELECT pg_current_wal_insert_lsn()::text");
}

// Bytes of WAL between two positions.
export function walBytes(pool, from, to) {
  return one(pool, "SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::float8", [from, to]);
}

// Print one result for bench/measure to record: measure|variant|value.
export function result(measure, variant, value) {
  process.stdout.write(`${measure}|${variant}|${value}\n`);
}
