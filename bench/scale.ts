/**
 * The scale run: many LPARs with several small nvdimms each boot, bind,
 * kexec and bind again, all at once, on one managed system. The benchmark
 * reports its wall time and memory; tests/scale_test.ts checks its results.
 * @module
 */
import process from "node:process";
import { type BindingView, ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import type { RegionInfo } from "../guest/host.ts";

/** Options of a scale run. */
export interface ScaleOptions {
  lpars: number;
  /** nvdimms per LPAR (default 2). */
  nvdimms?: number;
  /** Blocks per nvdimm (default 2). */
  blocks?: number;
  /** Bytes per block (default 1 MiB, so the SCM buffers stay small). */
  blockSize?: number;
  /** Which runtime (default threads). */
  start?: StartOptions;
}

/** What a scale run saw. */
export interface ScaleReport {
  lpars: number;
  nvdimms: number;
  blocks: number;
  /** Milliseconds from start() until every LPAR is bound again after kexec. */
  wallMs: number;
  /** Of which: starting the system (workers, DRCs). */
  startMs: number;
  /** Of which: every LPAR's first boot (binding its nvdimms). */
  bootMs: number;
  /** Of which: every LPAR's kexec (binding again). */
  kexecMs: number;
  /** Milliseconds `stop()` took, after the checks. */
  stopMs: number;
  /** Process CPU time (ms) from start() to the end of stop(), user and system. */
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Resident memory of the whole process at the end (MiB). */
  rssMiB: number;
  /** Peak resident memory of the whole process so far (getrusage ru_maxrss, MiB). */
  peakRssMiB: number;
  /** Each LPAR's regions after the first boot, by LPAR name. */
  regionsBefore: Record<string, RegionInfo[]>;
  /** Each LPAR's regions after kexec, by LPAR name. */
  regionsAfter: Record<string, RegionInfo[]>;
  /** LPAR states after kexec. */
  states: Record<string, string>;
  /** The binding table after kexec. */
  bindings: BindingView[];
  /** Invariant violations after kexec (none expected). */
  invariants: string[];
  /** Worker errors. */
  errors: string[];
}

/** Whether a scale run came out clean: no invariant broken, no worker error, every region back. */
export function scaleClean(r: ScaleReport): boolean {
  return r.invariants.length === 0 && r.errors.length === 0 &&
    Object.values(r.regionsAfter).every((regions) => regions.length === r.nvdimms);
}

/** DRC index of nvdimm `j` of LPAR `i` (both 0-based). */
export function scaleDrc(i: number, j: number): number {
  return 0x44300000 + i * 16 + j;
}

/** Boots, kexecs and checks `lpars` LPARs at once; the system is stopped before returning. */
export async function runScale(options: ScaleOptions): Promise<ScaleReport> {
  const nvdimms = options.nvdimms ?? 2, blocks = options.blocks ?? 2;
  const blockSize = options.blockSize ?? 1 << 20;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const system = await ManagedSystem.start({
    lpars: Array.from({ length: options.lpars }, (_, i) => ({
      name: `lpar${i + 1}`,
      nvdimms: Array.from({ length: nvdimms }, (_, j) => ({
        drc: scaleDrc(i, j),
        blocks,
        blockSize,
      })),
    })),
  }, options.start);
  let report: Omit<ScaleReport, "stopMs" | "cpuUserMs" | "cpuSystemMs">;
  let stopMs = 0;
  try {
    const startMs = performance.now() - t0;
    const regionsBefore: Record<string, RegionInfo[]> = {};
    const regionsAfter: Record<string, RegionInfo[]> = {};
    const states: Record<string, string> = {};
    await Promise.all(system.lpars.map(async (lpar) => {
      await lpar.boot();
      regionsBefore[lpar.name] = await lpar.regions();
    }));
    const bootMs = performance.now() - t0 - startMs;
    await Promise.all(system.lpars.map(async (lpar) => {
      await lpar.kexec();
      regionsAfter[lpar.name] = await lpar.regions();
      states[lpar.name] = lpar.state;
    }));
    const wallMs = performance.now() - t0;
    const kexecMs = wallMs - startMs - bootMs;
    const bindings = await system.bindings();
    const invariants = await system.invariants();
    report = {
      lpars: options.lpars,
      nvdimms,
      blocks,
      wallMs,
      startMs,
      bootMs,
      kexecMs,
      rssMiB: process.memoryUsage.rss() / 2 ** 20,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      regionsBefore,
      regionsAfter,
      states,
      bindings,
      invariants,
      errors: [...system.errors],
    };
  } finally {
    const stopping = performance.now();
    await system.stop();
    stopMs = performance.now() - stopping;
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    ...report,
    stopMs,
    cpuUserMs: cpu.user / 1000,
    cpuSystemMs: cpu.system / 1000,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

if (import.meta.main) {
  // The scale curve: `deno run --allow-read=. bench/scale.ts 64 128 256`, one
  // run per count, one JSON line each (peak memory is the process's so far:
  // run one count per process for each count's own).
  for (const arg of Deno.args) {
    const lpars = Number(arg);
    if (!Number.isInteger(lpars) || lpars < 1 || lpars > 1000) {
      throw new RangeError(`LPAR count ${arg}: expected a whole number 1..1000 (MAX_LPARS)`);
    }
    const r = await runScale({ lpars });
    const s = (ms: number) => Number((ms / 1000).toFixed(2));
    console.log(JSON.stringify({
      lpars,
      wallS: s(r.wallMs),
      startS: s(r.startMs),
      bootS: s(r.bootMs),
      kexecS: s(r.kexecMs),
      stopS: s(r.stopMs),
      cpuUserS: s(r.cpuUserMs),
      cpuSystemS: s(r.cpuSystemMs),
      peakMiB: Math.round(r.peakRssMiB),
      ok: scaleClean(r),
    }));
  }
}
