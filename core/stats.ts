/**
 * H_SCM_PERFORMANCE_STATS (`powervm` only; QEMU does not implement it).
 *
 * Protocol, as the Linux driver's `drc_pmem_query_stats()` drives it:
 * - size 0 → H_SUCCESS with r4 = bytes needed for every statistic (the
 *   driver passes address 0 then);
 * - otherwise the guest buffer at the address already holds the header the
 *   driver wrote: `SCMSTATS`, BE u32 version 1, BE u32 count. Count 0 asks for
 *   every statistic (the buffer must hold them all); count n > 0 asks for the
 *   n stat ids written in the n 16-byte entries that follow, whose values are
 *   filled in place. The header's count is rewritten to the number of entries
 *   returned (16 for "all"). An id the hypervisor does not know → H_PARTIAL, with r4 =
 *   that id's 8 bytes as a BE number (the known ones are still filled in and
 *   the unknown ones' values zeroed).
 *
 * Errors (our design; the doc lists H_Parameter and H_Pn-style codes):
 * DRC not owned → H_PARAMETER; no guest memory to reach, the buffer
 * unreadable or unwritable, or a bad header → H_P2 (the address is the
 * problem); the size too small for the header or what it asks, or more than
 * {@link MAX_REQUESTED_STATS} ids → H_P3. When `guestMemory.read` is absent
 * the request cannot be seen and is taken as count 0 (all statistics).
 *
 * Mapping of the ids to the simulator's real counters (`media` is
 * `env.media(drc)`, the DAX loads and stores the memory controller saw):
 *
 * | id | value |
 * |---|---|
 * | `CtlResCt` | 0: controller resets are not modelled |
 * | `CtlResTm` | 0: idem (no reset time) |
 * | `PonSecs ` | whole seconds since the DRC was created (`env.now()`) |
 * | `MemLife ` | life remaining, %: 100; 5 when HEALTH_CRITICAL; 0 when HEALTH_FATAL |
 * | `CritRscU` | critical resource utilisation, %: bound blocks × 100 / blocks |
 * | `HostLCnt` | host loads: media reads + READ_METADATA hcalls |
 * | `HostSCnt` | host stores: media writes + WRITE_METADATA hcalls |
 * | `HostSDur` | HostSCnt × {@link NOMINAL_NS}.store (ns) |
 * | `HostLDur` | HostLCnt × {@link NOMINAL_NS}.load (ns) |
 * | `MedRCnt ` | media reads |
 * | `MedWCnt ` | media writes |
 * | `MedRDur ` | MedRCnt × NOMINAL_NS.load (ns) |
 * | `MedWDur ` | MedWCnt × NOMINAL_NS.store (ns) |
 * | `CchRHCnt` | cache read hits: READ_METADATA hcalls (served by the controller, no media access) |
 * | `CchWHCnt` | cache write hits: WRITE_METADATA hcalls |
 * | `FastWCnt` | fast writes: flushes requested by hcall |
 * @module
 */
import { H } from "../abi/hcalls.ts";
import { HEALTH } from "../abi/health.ts";
import type { CoreContext } from "./context.ts";
import { fail, ok, result } from "./registers.ts";
import { type DrcState, FREE } from "./state.ts";
import type { HcallResult, LparId } from "./types.ts";

/** The statistic ids, in the order an "all statistics" answer lists them. */
export const STAT_IDS = [
  "CtlResCt",
  "CtlResTm",
  "PonSecs ",
  "MemLife ",
  "CritRscU",
  "HostLCnt",
  "HostSCnt",
  "HostSDur",
  "HostLDur",
  "MedRCnt ",
  "MedWCnt ",
  "MedRDur ",
  "MedWDur ",
  "CchRHCnt",
  "CchWHCnt",
  "FastWCnt",
] as const;

/** One statistic id (8 ASCII characters). */
export type StatId = typeof STAT_IDS[number];

/** Eye-catcher at the start of the buffer. */
export const STATS_EYECATCHER = "SCMSTATS";
/** Buffer format version. */
export const STATS_VERSION = 1;
/** Header bytes: eye-catcher, version, count. */
export const STATS_HEADER_SIZE = 16;
/** Bytes per statistic: 8-byte id, BE u64 value. */
export const STATS_ENTRY_SIZE = 16;
/** Bytes needed for every statistic (what a size query answers). */
export const STATS_BUFFER_SIZE = STATS_HEADER_SIZE + STATS_ENTRY_SIZE * STAT_IDS.length;
/** Most ids one request may name. */
export const MAX_REQUESTED_STATS = 1024;
/** Modelled cost of one access, for the duration statistics. */
export const NOMINAL_NS = { load: 300n, store: 600n } as const;

const ascii = new TextDecoder("ascii");
const encoder = new TextEncoder();

/** Every statistic's current value for `drc`. */
export function statValues(ctx: CoreContext, drc: DrcState): Map<StatId, bigint> {
  const media = ctx.env.media?.(drc.spec.index) ?? { reads: 0n, writes: 0n };
  const c = drc.counters;
  const loads = media.reads + BigInt(c.metadataReads);
  const stores = media.writes + BigInt(c.metadataWrites);
  let bound = 0;
  for (let b = 0; b < drc.spec.blocks; b++) if (drc.boundTo[b] !== FREE && !drc.pending[b]) bound++;
  const life = drc.health & HEALTH.HEALTH_FATAL
    ? 0n
    : drc.health & HEALTH.HEALTH_CRITICAL
    ? 5n
    : 100n;
  const age = ctx.env.now() - drc.createdAt;
  const values: Array<[StatId, bigint]> = [
    ["CtlResCt", 0n],
    ["CtlResTm", 0n],
    ["PonSecs ", age > 0n ? age / 1_000_000_000n : 0n],
    ["MemLife ", life],
    ["CritRscU", drc.spec.blocks ? BigInt(Math.floor((bound * 100) / drc.spec.blocks)) : 0n],
    ["HostLCnt", loads],
    ["HostSCnt", stores],
    ["HostSDur", stores * NOMINAL_NS.store],
    ["HostLDur", loads * NOMINAL_NS.load],
    ["MedRCnt ", media.reads],
    ["MedWCnt ", media.writes],
    ["MedRDur ", media.reads * NOMINAL_NS.load],
    ["MedWDur ", media.writes * NOMINAL_NS.store],
    ["CchRHCnt", BigInt(c.metadataReads)],
    ["CchWHCnt", BigInt(c.metadataWrites)],
    ["FastWCnt", BigInt(c.flushes)],
  ];
  return new Map(values.map(([id, v]) => [id, BigInt.asUintN(64, v)]));
}

/** Builds an `SCMSTATS` buffer: header with `count`, then the entries. */
export function encodeStats(count: number, entries: Array<[Uint8Array, bigint]>): Uint8Array {
  const bytes = new Uint8Array(STATS_HEADER_SIZE + STATS_ENTRY_SIZE * entries.length);
  const view = new DataView(bytes.buffer);
  bytes.set(encoder.encode(STATS_EYECATCHER), 0);
  view.setUint32(8, STATS_VERSION);
  view.setUint32(12, count);
  entries.forEach(([id, value], i) => {
    const at = STATS_HEADER_SIZE + i * STATS_ENTRY_SIZE;
    bytes.set(id.subarray(0, 8), at);
    view.setBigUint64(at + 8, value);
  });
  return bytes;
}

/** Decodes an `SCMSTATS` buffer (for tests and tools): id → value. */
export function decodeStats(bytes: Uint8Array): { version: number; stats: Map<string, bigint> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(12);
  const stats = new Map<string, bigint>();
  for (let i = 0; i < count; i++) {
    const at = STATS_HEADER_SIZE + i * STATS_ENTRY_SIZE;
    stats.set(ascii.decode(bytes.subarray(at, at + 8)), view.getBigUint64(at + 8));
  }
  return { version: view.getUint32(8), stats };
}

/** H_SCM_PERFORMANCE_STATS(drc, buffer address, buffer size) → r4 size when asked. */
export function performanceStats(
  ctx: CoreContext,
  lpar: LparId,
  args: readonly bigint[],
  drc: DrcState | undefined,
): HcallResult {
  const [, address, size] = args;
  if (!drc) return fail(H.PARAMETER);
  if (size === 0n) {
    drc.counters.statsQueries++;
    return ok(BigInt(STATS_BUFFER_SIZE));
  }
  const memory = ctx.env.guestMemory;
  if (!memory) return fail(H.P2);
  if (size < BigInt(STATS_HEADER_SIZE)) return fail(H.P3);
  let requested: Uint8Array[] | undefined; // undefined: all statistics
  if (memory.read) {
    const header = memory.read(lpar, address, STATS_HEADER_SIZE);
    if (!header || header.length < STATS_HEADER_SIZE) return fail(H.P2);
    const view = new DataView(header.buffer, header.byteOffset, STATS_HEADER_SIZE);
    if (ascii.decode(header.subarray(0, 8)) !== STATS_EYECATCHER) return fail(H.P2);
    if (view.getUint32(8) !== STATS_VERSION) return fail(H.P2);
    const count = view.getUint32(12);
    if (count > MAX_REQUESTED_STATS) return fail(H.P3);
    if (count > 0) {
      if (size < BigInt(STATS_HEADER_SIZE + STATS_ENTRY_SIZE * count)) return fail(H.P3);
      const body = memory.read(lpar, address + BigInt(STATS_HEADER_SIZE), STATS_ENTRY_SIZE * count);
      if (!body || body.length < STATS_ENTRY_SIZE * count) return fail(H.P2);
      requested = [];
      for (let i = 0; i < count; i++) {
        requested.push(body.slice(i * STATS_ENTRY_SIZE, i * STATS_ENTRY_SIZE + 8));
      }
    }
  }
  if (!requested && size < BigInt(STATS_BUFFER_SIZE)) return fail(H.P3);
  const values = statValues(ctx, drc);
  let unknown: Uint8Array | undefined;
  const entries: Array<[Uint8Array, bigint]> = [];
  if (requested) {
    for (const id of requested) {
      const value = values.get(ascii.decode(id) as StatId);
      if (value === undefined) unknown ??= id;
      entries.push([id, value ?? 0n]);
    }
  } else {
    for (const [id, value] of values) entries.push([encoder.encode(id), value]);
  }
  // The header's count becomes the number of entries: the driver's sysfs
  // `perf_stats` loops over it after an "all statistics" request.
  const bytes = encodeStats(entries.length, entries);
  if (!memory.write(lpar, address, bytes)) return fail(H.P2);
  drc.counters.statsQueries++;
  if (unknown) {
    return result(H.PARTIAL, new DataView(unknown.buffer, unknown.byteOffset).getBigUint64(0));
  }
  return ok();
}
