/**
 * Probe: is starting and ending N bare workers cheaper for the main thread
 * (and in wall time) from K nested "spawner" workers than from the main
 * thread itself? `deno run --allow-read=. bench/spawn_probe.ts N K` (K = 0:
 * the main thread spawns). One JSON line per run.
 * @module
 */
import process from "node:process";

const [n, k] = Deno.args.map(Number);
if (Deno.args.length !== 2) {
  throw new RangeError(
    `usage: spawn_probe.ts N K (workers, spawners); got ${Deno.args.length} arguments`,
  );
}
if (!Number.isInteger(n) || n < 1 || n > 1000) {
  throw new RangeError(`workers N ${Deno.args[0]}: expected a whole number 1..1000`);
}
if (!Number.isInteger(k) || k < 0 || k > 64) {
  throw new RangeError(`spawners K ${Deno.args[1]}: expected 0 (the main thread) to 64`);
}
const child = new URL("./spawn_probe_child.ts", import.meta.url);
const spawnerUrl = new URL("./spawn_probe_spawner.ts", import.meta.url);

// Event-loop lag on the main thread: the longest a 5 ms timer came late.
let maxLagMs = 0, last = performance.now();
const ticker = setInterval(() => {
  const now = performance.now();
  maxLagMs = Math.max(maxLagMs, now - last - 5);
  last = now;
}, 5);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
let mainSyncMs = 0;
/** When the first worker answered (ms from t0): a nested worker's module runs late. */
let firstReadyMs: number | undefined;
const answered = () => {
  firstReadyMs ??= performance.now() - t0;
};
const ports: MessagePort[] = [];
const workers: Worker[] = [];
const spawners: Worker[] = [];
const ping = (target: MessagePort | Worker) =>
  new Promise<void>((resolve) => {
    target.onmessage = () => resolve();
    target.postMessage("ping");
  });

if (k === 0) {
  const pings: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const w = new Worker(child, { type: "module" });
    mainSyncMs += performance.now() - t;
    workers.push(w);
    pings.push(ping(w).then(answered));
    await new Promise((r) => setTimeout(r, 0));
  }
  await Promise.all(pings);
} else {
  const pings: Promise<void>[] = [];
  const done: Promise<number>[] = [];
  for (let s = 0; s < k; s++) {
    const t = performance.now();
    const w = new Worker(spawnerUrl, { type: "module" });
    mainSyncMs += performance.now() - t;
    spawners.push(w);
    const share = Math.floor(n / k) + (s < n % k ? 1 : 0);
    done.push(
      new Promise((resolve) => {
        w.onmessage = (e: MessageEvent) => {
          if (e.data.port) {
            const port = e.data.port as MessagePort;
            ports.push(port);
            pings.push(
              new Promise<void>((r) => {
                port.onmessage = () => {
                  answered();
                  r();
                };
              }),
            );
          } else if (e.data.spawned !== undefined) resolve(e.data.newWorkerMs);
        };
      }),
    );
    w.postMessage({ spawn: share });
  }
  await Promise.all(done);
  await Promise.all(pings);
  // Round trip through every port: each child is live.
  await Promise.all(ports.map((p) => ping(p)));
}
const readyMs = performance.now() - t0;
const cpuReady = process.cpuUsage(cpu0);
const rssMiB = process.memoryUsage.rss() / 2 ** 20;

const t1 = performance.now();
const lagBeforeEnd = maxLagMs;
maxLagMs = 0;
if (k === 0) {
  for (const w of workers) {
    const t = performance.now();
    w.terminate();
    mainSyncMs += performance.now() - t;
    await new Promise((r) => setTimeout(r, 0));
  }
} else {
  await Promise.all(spawners.map((w) =>
    new Promise<void>((resolve) => {
      w.onmessage = (e: MessageEvent) => e.data.ended && resolve();
      w.postMessage({ end: true });
    })
  ));
  for (const p of ports) p.close();
  for (const w of spawners) w.terminate();
}
const endMs = performance.now() - t1;
clearInterval(ticker);
const cpu = process.cpuUsage(cpu0);
const s = (ms: number) => Number((ms / 1000).toFixed(2));
console.log(JSON.stringify({
  n,
  k,
  firstReadyS: s(firstReadyMs ?? NaN),
  readyS: s(readyMs),
  endS: s(endMs),
  mainSyncS: s(mainSyncMs),
  maxLagReadyS: s(lagBeforeEnd),
  maxLagEndS: s(maxLagMs),
  cpuReadyUserS: s(cpuReady.user / 1000),
  cpuReadySysS: s(cpuReady.system / 1000),
  cpuUserS: s(cpu.user / 1000),
  cpuSysS: s(cpu.system / 1000),
  rssMiB: Math.round(rssMiB),
  peakMiB: Math.round(process.resourceUsage().maxRSS / 1024),
}));
