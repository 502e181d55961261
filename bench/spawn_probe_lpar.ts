/**
 * Probe: N LPAR workers (workers/lpar_worker.ts, no partition behind them)
 * started and ended from the main thread (K = 0) or by K spawners
 * (runtime/spawners.ts); ready means one comlink call answered.
 * `deno run --allow-read=. bench/spawn_probe_lpar.ts N K [C]` (C starts at once,
 * default 4 x cores as runtime/threads.ts). One JSON line.
 * @module
 */
import process from "node:process";
import * as Comlink from "comlink";
import { spawnWorker, terminateWorker } from "../actors/workers.ts";
import { Spawners } from "../runtime/spawners.ts";
import type { LparWorker } from "../workers/lpar_worker.ts";

const [n, k, c] = Deno.args.map(Number);
if (Deno.args.length !== 2 && Deno.args.length !== 3) {
  throw new RangeError(`usage: spawn_probe_lpar.ts N K [C] (workers, spawners, starts at once)`);
}
if (!Number.isInteger(n) || n < 1 || n > 1000) {
  throw new RangeError(`workers N ${Deno.args[0]}: expected a whole number 1..1000`);
}
if (!Number.isInteger(k) || k < 0 || k > 64) {
  throw new RangeError(`spawners K ${Deno.args[1]}: expected 0 (the main thread) to 64`);
}
/** Starts at once: by default as runtime/threads.ts allows (4 x cores). */
const concurrent = Deno.args.length === 3 ? c : 4 * (navigator.hardwareConcurrency ?? 2);
if (!Number.isInteger(concurrent) || concurrent < 1 || concurrent > 1000) {
  throw new RangeError(`starts at once C ${Deno.args[2]}: expected a whole number 1..1000`);
}
const url = new URL("../workers/lpar_worker.ts", import.meta.url);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const ends: Array<() => void> = [];
const spawners = k > 0 ? new Spawners(k) : undefined;
let next = 0;
const errors: string[] = [];
const startOne = async (i: number) => {
  if (spawners) {
    const lpar = await spawners.start(`p${i}`, (m) => errors.push(m));
    const remote = Comlink.wrap<LparWorker>(lpar.port);
    await remote.guestSpans();
    ends.push(() => lpar.end());
  } else {
    const { worker } = spawnWorker(url, `LPAR p${i}`, (m) => errors.push(m));
    const remote = Comlink.wrap<LparWorker>(worker);
    await remote.guestSpans();
    ends.push(() => {
      remote[Comlink.releaseProxy]();
      terminateWorker(worker);
    });
  }
};
await Promise.all(
  Array.from({ length: concurrent }, async () => {
    for (let i; (i = next++) < n;) await startOne(i);
  }),
);
const readyMs = performance.now() - t0;
const cpuReady = process.cpuUsage(cpu0);
const t1 = performance.now();
for (const end of ends) {
  end();
  if (!spawners) await new Promise((r) => setTimeout(r, 0));
}
if (spawners) {
  await spawners.drained();
  spawners.terminate();
}
const endMs = performance.now() - t1;
const cpu = process.cpuUsage(cpu0);
const s = (ms: number) => Number((ms / 1000).toFixed(2));
console.log(JSON.stringify({
  n,
  k,
  concurrent,
  readyS: s(readyMs),
  endS: s(endMs),
  cpuReadyUserS: s(cpuReady.user / 1000),
  cpuReadySysS: s(cpuReady.system / 1000),
  cpuUserS: s(cpu.user / 1000),
  cpuSysS: s(cpu.system / 1000),
  peakMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  errors: errors.length,
}));
