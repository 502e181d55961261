/**
 * Benchmark of the hcall channel, run by `deno task bench` (`--json` prints
 * one JSON object instead of the table).
 *
 * In one run, side by side:
 * - the project's channel: the real hypervisor actor in its worker, bench
 *   LPAR workers issuing H_SCM_HEALTH on their own DRC in a tight loop, with
 *   1 LPAR and with 8 LPARs (median and p99 round trip, aggregate hcalls/s,
 *   fairness = busiest LPAR's hcalls / least busy's);
 * - a comlink call to a worker answering the same hcall from a pure core;
 * - a plain postMessage echo;
 * - an Atomics.wait/notify round trip with no spinning;
 * - paired rounds for the ratios the targets compare: the spin floor, one
 *   LPAR alone and all eight, each round's runs moments apart (see
 *   {@link pairedRatios});
 * - the CPU an idle system burns in one second;
 * - what an LPAR worker costs to start and keep, against a bare Deno worker;
 * - the scale runs: 64, then 1,000 LPARs × 2 nvdimms boot, bind, kexec, bind
 *   again and stop (`--no-1000` leaves the 1,000 out). The 1,000 run is a
 *   process of its own (`bench/scale.ts`), timed until it has ended: the
 *   workers' threads go on ending after `stop()` resolves, and the process
 *   ends only when they have.
 *
 * Channel round trips are timed in batches (mean per call of each batch of
 * {@link BATCH} calls), since one call is shorter than performance.now() can
 * resolve reliably; their p99 is therefore a p99 of batch means. Baselines
 * take microseconds per call and are timed one call at a time.
 * @module
 */
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as Comlink from "comlink";
import { H, OP } from "../abi/hcalls.ts";
import type { BenchWorker } from "./bench_worker.ts";
import { ATOMICS_WORDS, type HammerResult } from "./protocol.ts";
import { Rig } from "./rig.ts";
import { runScale, scaleClean, type ScaleReport } from "./scale.ts";
import { type Spread, spread } from "./spread.ts";
import { measureWorkerCost, type WorkerCost } from "./worker_cost.ts";

/** Calls per timed batch on the channel. */
export const BATCH = 64;
const RUN_MS = 1000;
/** Rounds of the paired ratios, and each hcall run's length in them (ms). */
const PAIRED_ROUNDS = 10, PAIRED_WINDOW_MS = 200;

/** Latency figures of one mechanism, in nanoseconds. */
export interface Latency {
  medianNs: number;
  meanNs: number;
  p99Ns: number;
  samples: number;
}

/** One channel configuration's figures. */
export interface ChannelFigures extends Latency {
  lpars: number;
  hcallsPerSec: number;
  /** Busiest LPAR's completed hcalls / least busy's. */
  fairness: number;
  perLpar: number[];
}

/** Everything the benchmark measures. */
export interface BenchReport {
  channel1: ChannelFigures;
  channel8: ChannelFigures;
  comlink: Latency;
  postMessage: Latency;
  atomics: Latency;
  /** Two workers spinning on one shared word: the machine's floor for a round trip. */
  spinFloor: Latency;
  /** The ratios the targets use, from runs moments apart (see `pairedRatios`). */
  paired: PairedRatios;
  idle: { lpars: number; seconds: number; cpuMs: number; cpuPercent: number };
  /** Scale runs (threads runtime): 64 LPARs, then 1,000 unless left out. */
  scale: ScaleFigures[];
  workers: WorkerCost;
  ratios: {
    comlinkOverChannel: number;
    postMessageOverChannel: number;
    atomicsOverChannel: number;
  };
  targets: Record<string, { met: boolean; value: string }>;
  notes: string[];
}

function quantile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function latency(ns: number[]): Latency {
  const sorted = Float64Array.from(ns).sort();
  return {
    medianNs: quantile(sorted, 0.5),
    meanNs: ns.reduce((a, b) => a + b, 0) / Math.max(1, ns.length),
    p99Ns: quantile(sorted, 0.99),
    samples: ns.length,
  };
}

/** One scale run's figures. */
export interface ScaleFigures {
  lpars: number;
  nvdimms: number;
  /** Start, boot (bind), kexec (bind again), until every LPAR is bound again (ms). */
  wallMs: number;
  /** `stop()` of the whole system (ms). */
  stopMs: number;
  /** Process CPU time of the run, user and system (ms). */
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Peak resident memory of the process so far (MiB): the run's own, as smaller runs go first. */
  peakRssMiB: number;
  /** Results and invariants all as expected. */
  ok: boolean;
  /**
   * Wall time (ms) of the whole process, when the run had one of its own:
   * start of `deno run` to its exit, after every worker thread has ended.
   */
  processMs?: number;
}

/** Most characters of a failed scale process's stderr quoted in the error (its end). */
const STDERR_QUOTED = 4000;

/**
 * Runs `bench/scale.ts lpars` as a process of its own (with this process's
 * Deno and environment) and times it until it exits.
 */
async function scaleProcess(lpars: number): Promise<ScaleFigures> {
  const script = fileURLToPath(new URL("./scale.ts", import.meta.url));
  const root = fileURLToPath(new URL("../", import.meta.url));
  const started = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", `--allow-read=${root}`, script, String(lpars)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const processMs = performance.now() - started;
  if (code !== 0) {
    const text = new TextDecoder().decode(stderr);
    throw new Error(
      `scale run of ${lpars} LPARs exited with ${code}: ${text.slice(-STDERR_QUOTED)}`,
    );
  }
  return { ...parseScaleOutput(new TextDecoder().decode(stdout), lpars), processMs };
}

/**
 * The figures in the last line `bench/scale.ts` printed for a run of
 * `lpars` LPARs (one JSON object), checked: output that is not that line is
 * a clear error, not a NaN in the report.
 * @example
 * ```ts
 * const line = '{"lpars":2,"wallS":1,"stopS":0.5,"cpuUserS":1,"cpuSystemS":0.1,"peakMiB":80,"ok":true}';
 * parseScaleOutput(line + "\n", 2).wallMs; // 1000
 * ```
 */
export function parseScaleOutput(stdout: string, lpars: number): ScaleFigures {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const bad = (what: string) =>
    new Error(
      `scale run of ${lpars} LPARs: ${what}; expected bench/scale.ts's JSON line ` +
        `{lpars, wallS, stopS, cpuUserS, cpuSystemS, peakMiB, ok}, got ${
          JSON.stringify(last.slice(0, 300))
        }`,
    );
  let line: unknown;
  try {
    line = JSON.parse(last);
  } catch {
    throw bad("its last line is not JSON");
  }
  if (typeof line !== "object" || line === null || Array.isArray(line)) {
    throw bad("its last line is not an object");
  }
  const fields = line as Record<string, unknown>;
  const number = (key: string): number => {
    const value = fields[key];
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw bad(`${key} is not a number >= 0`);
    }
    return value;
  };
  if (fields.lpars !== lpars) throw bad(`lpars is not ${lpars}`);
  if (typeof fields.ok !== "boolean") throw bad("ok is not true or false");
  return {
    lpars,
    nvdimms: 2,
    wallMs: number("wallS") * 1000,
    stopMs: number("stopS") * 1000,
    cpuUserMs: number("cpuUserS") * 1000,
    cpuSystemMs: number("cpuSystemS") * 1000,
    peakRssMiB: number("peakMiB"),
    ok: fields.ok,
  };
}

function scaleFigures(r: ScaleReport): ScaleFigures {
  return {
    lpars: r.lpars,
    nvdimms: r.nvdimms,
    wallMs: r.wallMs,
    stopMs: r.stopMs,
    cpuUserMs: r.cpuUserMs,
    cpuSystemMs: r.cpuSystemMs,
    peakRssMiB: r.peakRssMiB,
    ok: scaleClean(r),
  };
}

function spawnBenchWorker(): { worker: Worker; remote: Comlink.Remote<BenchWorker> } {
  const worker = new Worker(new URL("./bench_worker.ts", import.meta.url), { type: "module" });
  return { worker, remote: Comlink.wrap<BenchWorker>(worker) };
}

async function comlinkBaseline(count: number): Promise<Latency> {
  const { worker, remote } = spawnBenchWorker();
  try {
    const args = [0x44100001n];
    for (let i = 0; i < 500; i++) await remote.coreHcall(OP.H_SCM_HEALTH, args);
    const ns: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      const { rc } = await remote.coreHcall(OP.H_SCM_HEALTH, args);
      ns.push((performance.now() - t0) * 1e6);
      if (rc !== H.SUCCESS) throw new Error(`comlink baseline: rc ${rc}`);
    }
    return latency(ns);
  } finally {
    remote[Comlink.releaseProxy]();
    worker.terminate();
  }
}

async function postMessageBaseline(count: number): Promise<Latency> {
  const { worker, remote } = spawnBenchWorker();
  const { port1, port2 } = new MessageChannel();
  try {
    await remote.echoOn(Comlink.transfer(port2, [port2]));
    const ns: number[] = [];
    let resolve = () => {};
    port1.onmessage = () => resolve();
    const message = { opcode: OP.H_SCM_HEALTH, args: [0x44100001n] };
    for (let i = 0; i < count + 500; i++) {
      const answered = new Promise<void>((r) => (resolve = r));
      const t0 = performance.now();
      port1.postMessage(message);
      await answered;
      if (i >= 500) ns.push((performance.now() - t0) * 1e6);
    }
    return latency(ns);
  } finally {
    port1.close();
    await remote.closeEcho();
    remote[Comlink.releaseProxy]();
    worker.terminate();
  }
}

async function atomicsBaseline(count: number): Promise<Latency> {
  const server = spawnBenchWorker(), client = spawnBenchWorker();
  try {
    const buffer = new SharedArrayBuffer(ATOMICS_WORDS * 4);
    const serving = server.remote.atomicsServe(buffer);
    const ns = await client.remote.atomicsClient(buffer, count + 1000);
    await serving;
    return latency(ns.slice(1000));
  } finally {
    for (const w of [server, client]) {
      w.remote[Comlink.releaseProxy]();
      w.worker.terminate();
    }
  }
}

/**
 * Two workers that ping-pong on one shared word, no hcall work: the round
 * trip's floor on this machine now. Kept for several measurements, so the
 * floor can be taken between the runs it is compared with.
 */
export class FloorPair {
  readonly #server = spawnBenchWorker();
  readonly #client = spawnBenchWorker();

  /** `batches` batches of BATCH round trips; the first eighth warm up and are not counted. */
  async measure(batches: number): Promise<Latency> {
    const buffer = new SharedArrayBuffer(ATOMICS_WORDS * 4);
    const serving = this.#server.remote.spinServe(buffer);
    const ns = await this.#client.remote.spinClient(buffer, batches, BATCH);
    await serving;
    return latency(ns.slice(batches >> 3));
  }

  /** Ends both workers. */
  close(): void {
    for (const w of [this.#server, this.#client]) {
      w.remote[Comlink.releaseProxy]();
      w.worker.terminate();
    }
  }
}

/** The spin ping-pong floor measured once (`batches` batches of BATCH round trips). */
export async function spinFloor(batches: number): Promise<Latency> {
  const pair = new FloorPair();
  try {
    return await pair.measure(batches);
  } finally {
    pair.close();
  }
}

/** The ratios the targets compare, each taken from runs made moments apart. */
export interface PairedRatios {
  rounds: number;
  /** Length of each hcall run in a round (ms). */
  windowMs: number;
  /** One LPAR's median round trip over the spin floor's, round by round. */
  oneOverFloor: Spread;
  /** One LPAR's mean round trip over the spin floor's median, round by round. */
  oneMeanOverFloor: Spread;
  /** Eight LPARs' aggregate hcalls/s over one LPAR's, round by round. */
  eightOverOne: Spread;
}

/**
 * Rounds of: the spin floor, one LPAR of `rig` hammering alone, then all of
 * them. On the VM this is developed on, passing a cache line between the
 * two threads changes cost over seconds, as the host moves its two vCPUs
 * (the floor moves between about 0.12 and 0.46 us, and one LPAR's rate
 * halves while its one-thread work stays as fast), so a ratio of two figures measured
 * seconds apart says as much about the VM as about the channel; each round's
 * three runs are taken within half a second.
 */
export async function pairedRatios(
  rig: Rig,
  floor: FloorPair,
  rounds: number,
  windowMs: number,
): Promise<PairedRatios> {
  const oneOverFloor: number[] = [], oneMeanOverFloor: number[] = [], eightOverOne: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const f = await floor.measure(400);
    const one = await channelRun(rig, windowMs, 1);
    const all = await channelRun(rig, windowMs);
    oneOverFloor.push(one.medianNs / f.medianNs);
    oneMeanOverFloor.push(one.meanNs / f.medianNs);
    eightOverOne.push(all.hcallsPerSec / one.hcallsPerSec);
  }
  return {
    rounds,
    windowMs,
    oneOverFloor: spread(oneOverFloor),
    oneMeanOverFloor: spread(oneMeanOverFloor),
    eightOverOne: spread(eightOverOne),
  };
}

async function channelRun(rig: Rig, ms: number, lpars?: number): Promise<ChannelFigures> {
  const { results, answeredPerSec } = await rig.runCounted<HammerResult>(
    ms,
    (l) => l.worker.hammer(OP.H_SCM_HEALTH, [BigInt(l.drc)], BATCH, H.SUCCESS),
    lpars,
  );
  const errors = results.flatMap((r) => r.errors);
  if (errors.length) throw new Error(`channel run: unexpected answers: ${errors.join("; ")}`);
  const perLpar = results.map((r) => r.calls);
  const lat = latency(results.flatMap((r) => r.batchNs));
  return {
    lpars: results.length,
    ...lat,
    hcallsPerSec: answeredPerSec,
    fairness: Math.max(...perLpar) / Math.max(1, Math.min(...perLpar)),
    perLpar,
  };
}

async function channelBench(lpars: number): Promise<{ figures: ChannelFigures; rig: Rig }> {
  const rig = await Rig.start({ lpars });
  try {
    await channelRun(rig, 500); // warm up the JIT on both sides (not counted)
    return { figures: await channelRun(rig, RUN_MS), rig };
  } catch (error) {
    await rig.stop();
    throw error;
  }
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function idleCpu(seconds: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 300)); // let every loop fall asleep
  const before = cpuMs();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return cpuMs() - before;
}

/** Runs every measurement once (`big`: the 1,000-LPAR scale run too). */
export async function runBench(big = true): Promise<BenchReport> {
  const notes = [
    `channel latencies are per-call means of batches of ${BATCH} calls (p99 = p99 of batch means)`,
    "channel calls/s: hcalls answered between the start and stop signals (the channels' " +
    "ANSWERED words), not the tail in which waiting LPARs finish the batch they had begun",
    "baselines are timed one call at a time; the spin ping-pong floor (no hcall work) in " +
    `batches of ${BATCH}, showing what this machine's cores allow in this run`,
    "memory: process.memoryUsage.rss() (VmRSS) and getrusage ru_maxrss (VmHWM), whole process; " +
    "/proc/self/status needs --allow-all in Deno 2.9",
  ];
  // Worker cost first: its memory figure is the growth of the resident set,
  // which memory freed by an earlier run would hide. Then the scale runs,
  // smallest first: the peak RSS is a high-water mark, so each run's peak is
  // its own, and the small run does not share the machine with the teardown
  // of 1,000 workers (which goes on after stop(): a 64-LPAR run after it
  // took 38 s, 40 s of CPU in the kernel).
  const workers = await measureWorkerCost(16);
  const scale: ScaleFigures[] = [
    scaleFigures(await runScale({ lpars: 64, nvdimms: 2, blocks: 2, blockSize: 1 << 20 })),
  ];
  if (big) scale.push(await scaleProcess(1000));
  const comlink = await comlinkBaseline(3000);
  const postMessage = await postMessageBaseline(5000);
  const atomics = await atomicsBaseline(20000);
  const floor = await spinFloor(20000);
  const one = await channelBench(1);
  await one.rig.stop();
  const eight = await channelBench(8);
  let idleMs: number, paired: PairedRatios;
  const pair = new FloorPair();
  try {
    paired = await pairedRatios(eight.rig, pair, PAIRED_ROUNDS, PAIRED_WINDOW_MS);
    idleMs = await idleCpu(1);
  } finally {
    pair.close();
    await eight.rig.stop();
  }
  for (const run of scale) if (!run.ok) notes.push(`scale run of ${run.lpars} LPARs not clean`);
  const s64 = scale.find((run) => run.lpars === 64)!;
  const s1000 = scale.find((run) => run.lpars === 1000);
  const c1 = one.figures, c8 = eight.figures;
  const ratio = (x: Latency) => x.medianNs / c1.medianNs;
  const f = (x: number, d = 2) => x.toFixed(d);
  return {
    channel1: c1,
    channel8: c8,
    comlink,
    postMessage,
    atomics,
    spinFloor: floor,
    paired,
    idle: { lpars: 8, seconds: 1, cpuMs: idleMs, cpuPercent: idleMs / 10 },
    scale,
    workers,
    ratios: {
      comlinkOverChannel: ratio(comlink),
      postMessageOverChannel: ratio(postMessage),
      atomicsOverChannel: ratio(atomics),
    },
    targets: {
      "1 LPAR median <= 1 us": { met: c1.medianNs <= 1000, value: `${f(c1.medianNs, 0)} ns` },
      "1 LPAR median <= 2x spin floor, mean <= 3x (paired rounds' median)": {
        met: paired.oneOverFloor.median <= 2 && paired.oneMeanOverFloor.median <= 3,
        value: `${f(paired.oneOverFloor.median)}x, mean ${f(paired.oneMeanOverFloor.median)}x`,
      },
      "1 LPAR >= 100x faster than comlink": {
        met: ratio(comlink) >= 100,
        value: `${f(ratio(comlink), 0)}x`,
      },
      "8 LPARs >= 1.5M hcalls/s": {
        met: c8.hcallsPerSec >= 1.5e6,
        value: `${f(c8.hcallsPerSec / 1e6)}M/s`,
      },
      "8 LPARs fairness <= 1.25": { met: c8.fairness <= 1.25, value: f(c8.fairness) },
      "8 LPARs >= 0.8x one LPAR's hcalls/s (paired rounds' median), fairness <= 1.2": {
        met: paired.eightOverOne.median >= 0.8 && c8.fairness <= 1.2,
        value: `${f(paired.eightOverOne.median)}x, fairness ${f(c8.fairness)}`,
      },
      "LPAR worker ready <= 1.3x a bare worker's, <= 9 MiB": {
        met: workers.readyRatio <= 1.3 && workers.lpar.mibPerWorker <= 9,
        value: `${f(workers.readyRatio)}x, ${f(workers.lpar.mibPerWorker, 1)} MiB`,
      },
      "idle system burns no core (< 2% of one core)": {
        met: idleMs < 20,
        value: `${f(idleMs, 1)} ms CPU in 1 s`,
      },
      "64 LPARs x 2 nvdimms boot+bind+kexec+bind < 5 s": {
        met: s64.ok && s64.wallMs < 5000,
        value: `${f(s64.wallMs / 1000)} s`,
      },
      ...(s1000
        ? {
          "1,000 LPARs x 2 nvdimms boot+bind+kexec+bind+stop <= 60 s, <= 10 GiB (whole process)": {
            met: s1000.ok && s1000.processMs! <= 60_000 && s1000.peakRssMiB <= 10240,
            value: `${f(s1000.processMs! / 1000, 1)} s, peak ${f(s1000.peakRssMiB / 1024)} GiB`,
          },
        }
        : {}),
    },
    notes,
  };
}

function us(ns: number): string {
  return ns < 10_000 ? (ns / 1000).toFixed(3) : (ns / 1000).toFixed(1);
}

/** The report as a table. */
export function formatBench(r: BenchReport): string {
  const rows: string[][] = [[
    "mechanism",
    "median us",
    "mean us",
    "p99 us",
    "calls/s",
    "fairness",
    "x channel(1)",
  ]];
  const ch = (name: string, c: ChannelFigures) => [
    name,
    us(c.medianNs),
    us(c.meanNs),
    us(c.p99Ns),
    `${(c.hcallsPerSec / 1e6).toFixed(2)}M`,
    c.fairness.toFixed(2),
    (c.medianNs / r.channel1.medianNs).toFixed(2),
  ];
  const base = (name: string, l: Latency) => [
    name,
    us(l.medianNs),
    us(l.meanNs),
    us(l.p99Ns),
    `${(1e9 / l.medianNs / 1e3).toFixed(0)}k`,
    "-",
    (l.medianNs / r.channel1.medianNs).toFixed(1),
  ];
  rows.push(ch("channel, 1 LPAR", r.channel1));
  rows.push(ch("channel, 8 LPARs", r.channel8));
  rows.push(base("comlink call", r.comlink));
  rows.push(base("postMessage echo", r.postMessage));
  rows.push(base("Atomics.wait/notify", r.atomics));
  rows.push(base("(floor: spin ping-pong)", r.spinFloor));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  const out = [
    line(rows[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
  ];
  out.push("");
  out.push(`8 LPARs per-LPAR hcalls: ${r.channel8.perLpar.join(" ")}`);
  const p = r.paired;
  const sp = (x: Spread) => `${x.median.toFixed(2)}x (${x.min.toFixed(2)} to ${x.max.toFixed(2)})`;
  out.push(
    `paired (${p.rounds} rounds of the floor, 1 LPAR, 8 LPARs, ${p.windowMs} ms each; ` +
      `median, least to most): 1 LPAR median/floor ${sp(p.oneOverFloor)}, mean/floor ${
        sp(p.oneMeanOverFloor)
      }; 8 LPARs/1 LPAR hcalls/s ${sp(p.eightOverOne)}`,
  );
  out.push(
    `idle (${r.idle.lpars} LPARs started, ${r.idle.seconds} s): ${
      r.idle.cpuMs.toFixed(1)
    } ms CPU (${r.idle.cpuPercent.toFixed(2)}% of one core)`,
  );
  const w = r.workers;
  const worker = (name: string, x: typeof w.bare) =>
    `${name} ready median ${x.readyMedianMs.toFixed(1)} ms (mean ${x.readyMeanMs.toFixed(1)}, p99 ${
      x.readyP99Ms.toFixed(1)
    }), ${x.mibPerWorker.toFixed(1)} MiB, ${x.cpuMsPerWorker.toFixed(1)} ms CPU`;
  out.push(
    `workers (${w.lpar.workers} each): ${worker("LPAR", w.lpar)}; ${worker("bare", w.bare)}; ` +
      `LPAR/bare ready ${w.readyRatio.toFixed(2)}x; unbundled LPAR (its modules): ${
        worker("", w.modules).trim()
      }`,
  );
  for (const s of r.scale) {
    out.push(
      `scale: ${s.lpars} LPARs x ${s.nvdimms} nvdimms boot+bind+kexec+bind in ${
        (s.wallMs / 1000).toFixed(2)
      } s, stop ${(s.stopMs / 1000).toFixed(2)} s, CPU ${(s.cpuUserMs / 1000).toFixed(1)} s user ${
        (s.cpuSystemMs / 1000).toFixed(1)
      } s system, peak RSS ${s.peakRssMiB.toFixed(0)} MiB${
        s.processMs === undefined
          ? ""
          : `; its own process, ${(s.processMs / 1000).toFixed(2)} s until every thread ended`
      }${s.ok ? "" : " (NOT CLEAN)"}`,
    );
  }
  out.push("");
  out.push("targets:");
  for (const [name, t] of Object.entries(r.targets)) {
    out.push(`  [${t.met ? "met" : "NOT MET"}] ${name}: ${t.value}`);
  }
  out.push("");
  for (const note of r.notes) out.push(`note: ${note}`);
  return out.join("\n");
}

if (import.meta.main) {
  const report = await runBench(!Deno.args.includes("--no-1000"));
  if (Deno.args.includes("--json")) {
    console.log(JSON.stringify(report));
  } else {
    console.log(formatBench(report));
  }
}
