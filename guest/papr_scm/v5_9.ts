/**
 * papr_scm of Linux 5.9: the dimm's performance statistics from
 * H_SCM_PERFORMANCE_STATS (2d02bf835e57, `powerpc/papr_scm: Fetch nvdimm
 * performance stats from PHYP`): at the end of `papr_scm_nvdimm_init` the
 * driver asks the size of the statistics buffer, and when there is none says
 * `Dimm performance stats unavailable`; `papr/perf_stats` prints them; and
 * the PDSM health answer carries the `MemLife ` fuel gauge (af0870c4e756,
 * `powerpc/papr_scm: Add support for fetching nvdimm 'fuel-gauge' metric`).
 * Every failure of the hcall but H_PARTIAL is logged as an error here
 * (`Failed to query performance stats, Err:-10` when the partition may not
 * collect them), until 5.14. Also from 5.9: `ibm,pmemory-v2` nodes (POWER10,
 * 8c26ab72663b, `powerpc/pmem: Initialize pmem device on newer hardware`).
 * @module
 */
import { H, OP } from "../../abi/hcalls.ts";
import type { DimmHealth } from "../libnvdimm.ts";
import { EIO, ENOENT, ENOMEM, type Task } from "./services.ts";
import { hex16, PaprScm58, SysfsError } from "./v5_8.ts";

/** SCMSTATS header: eye-catcher, version, count. */
const STATS_HEADER = 16;
/** One SCMSTATS entry: 8-byte id, big-endian u64 value. */
const STAT_ENTRY = 16;
const EYECATCHER = "SCMSTATS";
const STATS_VERSION = 1;

/** One performance statistic as the hypervisor returned it. */
export interface PerfStat {
  /** 8-character id, e.g. `MedRCnt ` (trailing spaces kept). */
  id: string;
  /** Its value: a count or a duration, depending on the id. */
  value: bigint;
}

/** Linux 5.9 papr_scm. */
export class PaprScm59 extends PaprScm58 {
  /** Kernel version whose driver this is. */
  static override readonly version: string = "5.9";
  /** `ibm,pmemory-v2` (POWER10) from 5.9 (8c26ab72663b). */
  static override readonly compatible: readonly string[] = ["ibm,pmemory", "ibm,pmemory-v2"];

  /** Bytes the hypervisor needs for all statistics; 0 when it has none. */
  statBufferLen = 0;

  /** 5.9-5.13: the stats size query ends `papr_scm_nvdimm_init`; from 5.14 it precedes it. */
  protected override *registerNvdimm(): Task<void> {
    const first = this.statsQueryFirst();
    if (first) yield* this.probeStats(false);
    yield* super.registerNvdimm();
    if (!first) yield* this.probeStats(true);
  }

  /** Whether the probe asks the stats size before `papr_scm_nvdimm_init` (5.14 on). */
  protected statsQueryFirst(): boolean {
    return false;
  }

  /** The probe's size query; `sayUnavailable` is 5.9's `dev_info` when there is none. */
  protected *probeStats(sayUnavailable: boolean): Task<void> {
    const size = yield* this.queryStats();
    if (size > 0) {
      this.statBufferLen = size;
      this.dev("debug", `Max perf-stat size ${size}-bytes`);
    } else if (sayUnavailable) {
      this.dev("info", "Dimm performance stats unavailable");
    }
  }

  /** `papr/flags` and `papr/perf_stats` (the latter fails with -ENOENT without statistics). */
  protected override sysfs(): Record<string, () => Task<string>> {
    return { ...super.sysfs(), perf_stats: () => this.perfStatsText() };
  }

  /** The fuel gauge in the PDSM health answer, when it can be read. */
  protected override *healthExtensions(health: DimmHealth): Task<void> {
    yield* super.healthExtensions(health);
    const gauge = yield* this.fuelGauge();
    // dimm_fuel_gauge is a u16; ndctl prints 100 - gauge as an int.
    if (gauge !== undefined) health.life_used_percentage = (100 - Number(gauge & 0xFFFFn)) | 0;
  }

  /**
   * What `drc_pmem_query_stats` does with an answer other than H_SUCCESS
   * and H_PARTIAL; 5.9 logs every one as an error.
   */
  protected statsFailure(rc: number): number {
    this.dev("err", `Failed to query performance stats, Err:${rc}`);
    return -EIO;
  }

  /**
   * `drc_pmem_query_stats`. Without a buffer: the size the hypervisor needs
   * (or a negative errno). With one: fills it (every statistic when
   * `numStats` is 0, else the ids already in it) and returns 0 or an errno.
   */
  *queryStats(buffer?: bigint, numStats = 0): Task<number> {
    let size = 0;
    if (buffer !== undefined) {
      size = numStats ? STATS_HEADER + numStats * STAT_ENTRY : this.statBufferLen;
      const head = dataView(this.#ram().view(buffer, STATS_HEADER));
      for (let i = 0; i < 8; i++) head.setUint8(i, EYECATCHER.charCodeAt(i));
      head.setUint32(8, STATS_VERSION);
      head.setUint32(12, numStats);
    }
    const r = yield* this.hcall(
      OP.H_SCM_PERFORMANCE_STATS,
      BigInt(this.drcIndex),
      buffer ?? 0n,
      BigInt(size),
    );
    if (r.rc === H.PARTIAL) {
      this.dev("err", `Unknown performance stats, Err:0x${hex16(r.rets[0])}`);
      return -ENOENT;
    } else if (r.rc !== H.SUCCESS) {
      return this.statsFailure(r.rc);
    } else if (!size) {
      this.dev("debug", `Performance stats size ${r.rets[0]}`);
      return Number(r.rets[0]);
    }
    const count = dataView(this.#ram().view(buffer!, STATS_HEADER)).getUint32(12);
    this.dev("debug", `Performance stats returned ${count} stats`);
    return 0;
  }

  /** Every statistic, as `perf_stats_show` fetches them; a negative errno on failure. */
  *readStats(): Task<PerfStat[] | number> {
    if (!this.statBufferLen) return -ENOENT;
    const ram = this.kernel.memory;
    if (!ram) return -ENOMEM;
    const buffer = ram.alloc(this.statBufferLen);
    try {
      const rc = yield* this.queryStats(buffer, 0);
      if (rc) return rc;
      return parseStats(ram.view(buffer, this.statBufferLen));
    } finally {
      ram.free(buffer);
    }
  }

  /** `perf_stats_show`: one `%.8s = 0x%016llX` line per statistic. */
  *perfStatsText(): Task<string> {
    const stats = yield* this.readStats();
    if (typeof stats === "number") throw new SysfsError("perf_stats", stats);
    return stats.map((s) => `${s.id.split("\0")[0]} = 0x${hex16(s.value)}\n`).join("");
  }

  /** `papr_pdsm_fuel_gauge`: the `MemLife ` statistic alone, or undefined. */
  *fuelGauge(): Task<bigint | undefined> {
    const ram = this.kernel.memory;
    if (!this.statBufferLen || !ram) return undefined;
    const size = STATS_HEADER + STAT_ENTRY;
    const buffer = ram.alloc(size);
    try {
      const entry = ram.view(buffer + BigInt(STATS_HEADER), STAT_ENTRY);
      for (let i = 0; i < 8; i++) entry[i] = "MemLife ".charCodeAt(i);
      if ((yield* this.queryStats(buffer, 1)) < 0) return undefined;
      return dataView(ram.view(buffer, size)).getBigUint64(STATS_HEADER + 8);
    } finally {
      ram.free(buffer);
    }
  }

  #ram() {
    const ram = this.kernel.memory;
    if (!ram) throw new Error("this partition has no real memory for hypervisor buffers");
    return ram;
  }
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Parses an SCMSTATS buffer (header, then `count` entries). */
export function parseStats(bytes: Uint8Array): PerfStat[] {
  const view = dataView(bytes);
  const count = view.getUint32(12);
  const out: PerfStat[] = [];
  for (let i = 0; i < count; i++) {
    const at = STATS_HEADER + i * STAT_ENTRY;
    if (at + STAT_ENTRY > bytes.length) break;
    const id = String.fromCharCode(...bytes.subarray(at, at + 8));
    out.push({ id, value: view.getBigUint64(at + 8) });
  }
  return out;
}
