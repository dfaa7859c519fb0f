// Measurement 15 of bench/measure, the Node.js side: one phase of one peer
// (graphile-worker or pg-boss) against database "bench" of the server in
// PGHOST/PGPORT.  bench/measure makes the tables and the row triggers that
// enqueue the jobs through each peer's documented SQL path, runs the phases
// interleaved with procflow's, and records what this prints
// (measure|variant|value lines) into bench_result.
//
//   node run.mjs PEER setup                     install the peer's schema and queues
//   node run.mjs PEER about                     print its version and settings
//   node run.mjs PEER drain JOBS                the JOBS jobs queued in PEER's "drain":
//       time from starting the worker to the last one done, each job's handler
//       inserting one row into drain_sink
//   node run.mjs PEER latency SAMPLES RATE QUEUE LABEL
//       commit to handler start: pgbench commits SAMPLES rows at RATE per
//       second into table PREFIX_QUEUE_src, whose trigger enqueues a job; its
//       handler notes the time it starts in peer_lat_sink, under LABEL (the
//       row's INSERT time, just before its commit, is in its column t)
//   node run.mjs PEER chains CHAINS             three-step chains: CHAINS rows
//       inserted into PREFIX_chain_src enqueue step 1 each; each step's handler
//       inserts a row into peer_chain_effect and enqueues the next; steps per
//       second from the commit to the last step done, WAL bytes and the rows
//       the peer writes in its own tables, per step
//
// Copyright (c) 2026, procflow developers
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as graphile from "./graphile-worker.mjs";
import * as pgboss from "./pg-boss.mjs";
import {
  makePool, nowMs, one, peerConnectionsGone, result, schemaWrites, waitFor, walBytes, walLsn,
} from "./common.mjs";

const peers = { "graphile-worker": { ...graphile, prefix: "gw" }, "pg-boss": { ...pgboss, prefix: "pb" } };

// The drain: the handler inserts one row into drain_sink, as procflow's
// "drain" process does.  Timed from starting the worker (which connects
// and looks for jobs) to the last job done.
async function drain(peer, pool, jobs) {
  const t0 = nowMs();
  const stop = await peer.start({
    drain: (p, ctx) => ctx.query("INSERT INTO drain_sink (v) VALUES ($1)", [p.id]),
  });
  await waitFor("the drain", async () =>
    Number(await one(pool, "SELECT count(*) FROM drain_sink")) >= jobs &&
    (await peer.pending(pool, "drain")) === 0, 600);
  const t1 = nowMs();
  await stop();
  result("peer_drain_jobs_per_s", peer.name, Math.round(jobs / ((t1 - t0) / 1000)));
}

// Commit to handler start: the handler notes when it starts, before its
// INSERT; pgbench commits the rows (synchronous_commit off, as measurement
// 4 does), each with the time of its INSERT in column t.
async function latency(peer, pool, samples, rate, queue, label) {
  const table = `${peer.prefix}_${queue}_src`;
  const stop = await peer.start({
    [queue]: (p, ctx) => {
      const started = nowMs();
      return ctx.query("INSERT INTO peer_lat_sink VALUES ($1, $2, to_timestamp($3::float8 / 1000))",
        [label, p.id, started]);
    },
  });
  const script = join(process.env.BENCH_DIR || "/tmp", `latency_${table}.sql`);
  writeFileSync(script, `INSERT INTO ${table} (t) VALUES (clock_timestamp());\n`);
  await pgbench(["-n", "-c", "1", "-R", String(rate), "-t", String(samples), "-f", script, "bench"]);
  await waitFor("the latency samples", async () =>
    Number(await one(pool, "SELECT count(*) FROM peer_lat_sink WHERE peer = $1", [label])) >= samples, 60);
  await stop();
}

// Run pgbench with synchronous_commit off, without blocking the workers
// of this process.
function pgbench(args) {
  return new Promise((resolve, reject) => {
    const child = spawn("pgbench", args, {
      env: { ...process.env, PGOPTIONS: "-c synchronous_commit=off" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`pgbench exited with ${code}`))));
  });
}

// Three-step chains: step n's handler inserts its row and enqueues step
// n+1.  Step 1's job comes from the trigger, with the row's id only.  The
// rows the peer writes are read when no connection of its workers is left
// (see schemaWrites), before they start and after they stop: their own
// start and stop are counted too.
async function chains(peer, pool, count) {
  await waitFor("the connections of earlier workers to close", () => peerConnectionsGone(pool), 30);
  const w0 = await schemaWrites(pool, peer.schema);
  const stop = await peer.start({
    chain: async (p, ctx) => {
      const chain = p.chain ?? p.id, step = p.step ?? 1;
      await ctx.query("INSERT INTO peer_chain_effect VALUES ($1, $2, $3)", [peer.name, chain, step]);
      if (step < 3) await ctx.enqueue("chain", { chain, step: step + 1 });
    },
  });
  const lsn0 = await walLsn(pool);
  const writer = makePool(1);
  await writer.query(`INSERT INTO ${peer.prefix}_chain_src SELECT g FROM generate_series(1, $1) g`, [count]);
  const t0 = nowMs();
  await writer.end();
  await waitFor("the chains", async () =>
    Number(await one(pool, "SELECT count(*) FROM peer_chain_effect WHERE peer = $1", [peer.name])) >= 3 * count &&
    (await peer.pending(pool, "chain")) === 0, 600);
  const t1 = nowMs();
  const lsn1 = await walLsn(pool);
  await stop();
  await waitFor("the workers' connections to close", () => peerConnectionsGone(pool), 30);
  const w1 = await schemaWrites(pool, peer.schema);
  const steps = 3 * count;
  result("peer_chain_steps_per_s", peer.name, Math.round(steps / ((t1 - t0) / 1000)));
  result("peer_chain_wal_bytes_per_step", peer.name, (await walBytes(pool, lsn0, lsn1) / steps).toFixed(1));
  result("peer_chain_rows_per_step", peer.name, ((w1 - w0) / steps).toFixed(2));
}

// The peer's version (from its installed package) and the settings used.
function about(peer) {
  const pkg = JSON.parse(readFileSync(new URL(`./node_modules/${peer.name}/package.json`, import.meta.url)));
  process.stdout.write(`${peer.name} ${pkg.version} on Node.js ${process.version}: ${peer.settings}\n`);
}

// Dispatch on the command line.
async function main() {
  const [peerName, phase, ...args] = process.argv.slice(2);
  const peer = peers[peerName];
  if (!peer) throw new Error(`unknown peer ${peerName}: one of ${Object.keys(peers).join(", ")}`);
  const pool = makePool(2, "procflow-bench-control");
  try {
    if (phase === "setup") await peer.setup(pool);
    else if (phase === "about") about(peer);
    else if (phase === "drain") await drain(peer, pool, Number(args[0]));
    else if (phase === "latency") await latency(peer, pool, Number(args[0]), Number(args[1]), args[2], args[3]);
    else if (phase === "chains") await chains(peer, pool, Number(args[0]));
    else throw new Error(`unknown phase ${phase}`);
  } finally {
    await pool.end();
  }
}

main().catch((e) => {
  console.error(`peers/run.mjs ${process.argv.slice(2).join(" ")}: ${e.stack || e}`);
  process.exit(1);
});
