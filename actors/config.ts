/**
 * The managed system's configuration: plain objects (or JSON), checked and
 * resolved into what the actors need. Every error names the field, the bad
 * value and what is accepted.
 * @module
 */
import { clip, excerpt, EXCERPT_CHARS } from "./excerpt.ts";
import { OP, opByName } from "../abi/hcalls.ts";
import { healthFromNames } from "../abi/health.ts";
import type { Personality } from "../core/types.ts";
import { MAX_LPAR_MAPPINGS } from "../core/state.ts";
import type { RuntimeKind } from "../runtime/types.ts";
import { KERNEL_VERSIONS, type KernelVersion } from "../guest/papr_scm/mod.ts";

/** One nvdimm of an LPAR. */
export interface NvdimmConfig {
  /** DRC index: a number or a hex string such as "0x44100002". */
  drc: number | string;
  /** Number of SCM blocks. */
  blocks: number;
  /** Bytes per block (default 256 MiB). */
  blockSize?: number;
  /** Label area bytes (default 128 KiB). */
  metadataSize?: number;
  /** Unit GUID (default derived from the DRC index). */
  uuid?: string;
  /** Health bits set at start, e.g. ["SHUTDOWN_DIRTY"]. */
  health?: string[];
  /** Whether flushes need an hcall (`ibm,hcall-flush-required`). */
  hcallFlushRequired?: boolean;
  /** `ibm,persistence-failed-count`. */
  persistenceFailedCount?: number;
}

/** A point where a kernel panics: right after its `nth` call of `hcall` returns. */
export interface PanicAtConfig {
  /** Hcall name, e.g. `H_SCM_BIND_MEM`. */
  hcall: string;
  /** Which call (1 = the first). */
  nth: number;
}

/** Faults injected into an LPAR. */
export interface FaultsConfig {
  /** The kernel started by activation (boot, and a supervisor's reboot) panics here. */
  panicAt?: PanicAtConfig;
  /** The kernel ignores DLPAR remove requests (the hypervisor then forces the release). */
  ignoreDlparRemove?: boolean;
}

/** What the managed system does when an LPAR's kernel panics. */
export type PanicPolicy = "kdump" | "reboot" | "stay-down";

/** Supervision of an LPAR: the policy on panic and its restart budget. */
export interface SupervisionConfig {
  /** `kdump`: kexec a kdump kernel; `reboot`: restart the partition; `stay-down` (default). */
  onPanic?: PanicPolicy;
  /** At most this many restarts ... (default 3) */
  maxRestarts?: number;
  /** ... within this many seconds; then the LPAR stays down (default 60). */
  windowSeconds?: number;
}

/** One logical partition. */
export interface LparConfig {
  /** Partition name, unique in the system. */
  name: string;
  /** Kernel version booted by default (default "5.4"). */
  kernel?: KernelVersion;
  /** Load the papr_scm driver at boot (default true). */
  paprScm?: boolean;
  /** Nvdimms assigned to the LPAR (default none). */
  nvdimms?: NvdimmConfig[];
  /** Faults to inject, e.g. `{ panicAt: { hcall: "H_SCM_BIND_MEM", nth: 2 } }`. */
  faults?: FaultsConfig;
  /** What happens when the kernel panics (default: it stays down). */
  supervision?: SupervisionConfig;
}

/** The hypervisor's settings. */
export interface HypervisorSettings {
  /** Which hypervisor to behave like: `powervm` (default) or `qemu`. */
  personality?: Personality;
  /** Blocks per BIND_MEM slice (powervm). */
  bindSliceBlocks?: number;
  /** Blocks per unbind slice (powervm). */
  unbindSliceBlocks?: number;
  /** What a partial unbind answers (powervm). */
  unbindContinue?: "long-busy" | "busy";
  /** How long a flush takes to complete, in ms (default 2). */
  flushLatencyMs?: number;
  /**
   * The HMC's "Enable Performance Information Collection" (powervm; default
   * true). False: H_SCM_PERFORMANCE_STATS answers H_AUTHORITY.
   */
  performanceCollection?: boolean;
  /** What binding and unbinding cost the hypervisor (powervm; default nothing). */
  costs?: HypervisorCosts;
}

/**
 * Hypervisor time per block (powervm). A bind slice takes its blocks' time
 * inside the hcall; an unbind works in the background and its long-busy
 * answers say how long to wait (see ARCHITECTURE.md).
 */
export interface HypervisorCosts {
  /** Milliseconds to bind one block (default 0). */
  bindMsPerBlock?: number;
  /** Milliseconds to unbind one block (default 0). */
  unbindMsPerBlock?: number;
}

/** What the guest kernels' own work costs (virtual time on the sim runtime). */
export interface GuestCostsConfig {
  /** Milliseconds from the start of a kernel to its first driver probe (default 0). */
  bootMs?: number;
  /** Milliseconds to register one GiB of region memory (default 0). */
  registerMsPerGiB?: number;
}

/** A managed system: a hypervisor and its LPARs. */
export interface SystemConfig {
  /** Free text saying what the configuration is for (ignored by the simulator). */
  description?: string;
  /** The hypervisor's settings (default: powervm with its defaults). */
  hypervisor?: HypervisorSettings;
  /** What the guest kernels' own work costs (default nothing). */
  guest?: GuestCostsConfig;
  /** The LPARs, each with its nvdimms. */
  lpars: LparConfig[];
  /**
   * Where the nvdimms' durable state lives (sim runtime): memory, label area
   * and the hypervisor's facts, in sparse files (see storage/file_store.ts).
   * A system started on the same directory finds what was durable.
   */
  storage?: StorageConfig;
}

/** Durable state in a directory. */
export interface StorageConfig {
  /** The directory (created if missing; its parent must exist). */
  dir: string;
}

/** An nvdimm with every default filled in. */
export interface ResolvedNvdimm {
  /** DRC index. */
  drc: number;
  /** Number of SCM blocks. */
  blocks: number;
  /** Bytes per block. */
  blockSize: bigint;
  /** Label area bytes. */
  metadataSize: number;
  /** Unit GUID. */
  uuid: string;
  /** Health bitmap set at start. */
  health: bigint;
  /** Whether flushes need an hcall (`ibm,hcall-flush-required`). */
  hcallFlushRequired: boolean;
  /** `ibm,persistence-failed-count`, if given. */
  persistenceFailedCount?: number;
}

/** An LPAR with every default filled in. */
export interface ResolvedLpar {
  /** Partition name. */
  name: string;
  /** Kernel version booted by default. */
  kernel: KernelVersion;
  /** Whether the papr_scm driver is loaded at boot. */
  paprScm: boolean;
  /** Nvdimms assigned to the LPAR. */
  nvdimms: ResolvedNvdimm[];
  /** Faults to inject. */
  faults: FaultsConfig;
  /** What happens when the kernel panics, and the restart budget. */
  supervision: Required<SupervisionConfig>;
}

/** A configuration with every default filled in. */
export interface ResolvedConfig {
  /** Free text saying what the configuration is for. */
  description?: string;
  /** The hypervisor's settings. */
  hypervisor: Required<HypervisorSettings> & { costs: Required<HypervisorCosts> };
  /** What the guest kernels' own work costs. */
  guest: Required<GuestCostsConfig>;
  /** The LPARs. */
  lpars: ResolvedLpar[];
  /** Durable state, when asked for. */
  storage?: StorageConfig;
}

/** Default block size: 256 MiB, as PowerVM and QEMU use. */
export const DEFAULT_BLOCK_SIZE = 256 * 1024 * 1024;
/** Default and smallest label area: 128 KiB. */
export const DEFAULT_METADATA_SIZE = 128 * 1024;
/** Largest SCM one nvdimm may have on the threads runtime (its memory is a SharedArrayBuffer). */
export const MAX_NVDIMM_BYTES = 16 * 1024 ** 3;
/**
 * Largest SCM one nvdimm may have on the sim runtime, where memory is taken
 * only for pages written: 64 TiB (262,144 blocks of 256 MiB).
 */
export const MAX_SIM_NVDIMM_BYTES = 64 * 1024 ** 4;
/** Largest label area: the hypervisor keeps it in memory. */
export const MAX_METADATA_SIZE = 16 * 1024 * 1024;
/** Most LPARs in one system (PowerVM's own limit per managed system). */
export const MAX_LPARS = 1000;
/**
 * Most nvdimms one LPAR may have: its page table's mappings
 * (`MAX_LPAR_MAPPINGS`, 256), since each nvdimm takes at least one.
 */
export const MAX_NVDIMMS_PER_LPAR: number = MAX_LPAR_MAPPINGS;
/**
 * Most blocks one nvdimm may have: the hypervisor keeps 13 bytes of state per
 * block (binding, pending flag, address), so 1,048,576 blocks take 13 MiB.
 */
export const MAX_BLOCKS_PER_NVDIMM = 1 << 20;
/** Most distinct nvdimms (DRCs) in one system, shared ones counted once. */
export const MAX_NVDIMMS_PER_SYSTEM = 4096;
/**
 * Most restarts `supervision.maxRestarts` may allow within its window: a
 * kernel that panics at every boot is restarted that many times, then stays down.
 */
export const MAX_RESTARTS = 100;

/** A configuration error; the message says where, what and what is accepted. */
export class ConfigError extends Error {
  /** Makes the error; `message` names the field, the bad value and what is accepted. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Number literals of a JSON text that do not read back as written (`1e400`
 * is Infinity, `1.0` is 1), while parseConfigText checks that text: `fail`
 * quotes them as written.
 */
let writtenNumbers: readonly NumberLiteral[] | undefined;

/** How a bad value is shown: as written in the JSON text if it was a number there. */
function shown(path: string, value: unknown): string {
  if (typeof value === "number" && writtenNumbers?.length) {
    const segments = pathSegments(path);
    const literal = segments &&
      writtenNumbers.find((n) => Object.is(Number(n.text), value) && samePath(n.path, segments));
    if (literal) return clip(literal.text);
  }
  return excerpt(value);
}

function fail(path: string, value: unknown, accepted: string): never {
  throw new ConfigError(`${path}: ${shown(path, value)} is not valid; expected ${accepted}`);
}

function positiveInt(path: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    fail(path, value, "a positive integer");
  }
  return value as number;
}

/** Parses a DRC index from a number or a hex string. */
export function parseDrc(path: string, value: unknown): number {
  const n = typeof value === "string" && /^0x[0-9a-f]{1,8}$/i.test(value)
    ? parseInt(value, 16)
    : value;
  if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 0xFFFF_FFFF) {
    fail(path, value, 'a 32-bit DRC index, as a number or a hex string like "0x44100002"');
  }
  return n as number;
}

/** A stable UUID for a DRC, used when none is configured. */
export function defaultUuid(drc: number): string {
  const h = drc.toString(16).padStart(8, "0");
  return `${h}-5ca1-4e00-8000-${h}${"0000"}`;
}

function checkKeys(path: string, obj: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!keys.includes(key)) {
      throw new ConfigError(`${path}: unknown key "${key}"; accepted keys: ${keys.join(", ")}`);
    }
  }
}

function object(path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, value, "an object");
  }
  return value as Record<string, unknown>;
}

/** Checks one nvdimm (at `path`, for messages) and fills in its defaults. */
export function resolveNvdimm(
  path: string,
  value: unknown,
  runtime: RuntimeKind = "threads",
): ResolvedNvdimm {
  const o = object(path, value);
  checkKeys(path, o, [
    "drc",
    "blocks",
    "blockSize",
    "metadataSize",
    "uuid",
    "health",
    "hcallFlushRequired",
    "persistenceFailedCount",
  ]);
  const drc = parseDrc(`${path}.drc`, o.drc);
  const blocks = positiveInt(`${path}.blocks`, o.blocks);
  if (blocks > MAX_BLOCKS_PER_NVDIMM) {
    fail(`${path}.blocks`, o.blocks, `at most ${MAX_BLOCKS_PER_NVDIMM} (MAX_BLOCKS_PER_NVDIMM)`);
  }
  const blockSize = o.blockSize === undefined
    ? DEFAULT_BLOCK_SIZE
    : positiveInt(`${path}.blockSize`, o.blockSize);
  if (blockSize % 4096 !== 0) fail(`${path}.blockSize`, o.blockSize, "a multiple of 4096");
  const max = runtime === "sim" ? MAX_SIM_NVDIMM_BYTES : MAX_NVDIMM_BYTES;
  if (blocks * blockSize > max) {
    const other = runtime === "sim" ? "" : "; the sim runtime takes up to 64 TiB";
    fail(
      `${path}.blocks`,
      o.blocks,
      `blocks × blockSize of at most ${max} bytes on the ${runtime} runtime${other}`,
    );
  }
  const metadataSize = o.metadataSize === undefined
    ? DEFAULT_METADATA_SIZE
    : positiveInt(`${path}.metadataSize`, o.metadataSize);
  if (metadataSize < DEFAULT_METADATA_SIZE) {
    fail(`${path}.metadataSize`, o.metadataSize, `at least ${DEFAULT_METADATA_SIZE} (128 KiB)`);
  }
  if (metadataSize > MAX_METADATA_SIZE) {
    fail(`${path}.metadataSize`, o.metadataSize, `at most ${MAX_METADATA_SIZE} (16 MiB)`);
  }
  const uuid = o.uuid === undefined ? defaultUuid(drc) : o.uuid;
  if (typeof uuid !== "string" || !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(uuid)) {
    fail(`${path}.uuid`, o.uuid, "a UUID such as 1e5c7e1f-2d6a-4bd1-9f3c-3f4f1b2e9a01");
  }
  let health = 0n;
  if (o.health !== undefined) {
    if (!Array.isArray(o.health)) fail(`${path}.health`, o.health, "an array of health bit names");
    try {
      health = healthFromNames(o.health as string[]);
    } catch (e) {
      throw new ConfigError(`${path}.health: ${(e as Error).message}`);
    }
  }
  if (o.hcallFlushRequired !== undefined && typeof o.hcallFlushRequired !== "boolean") {
    fail(`${path}.hcallFlushRequired`, o.hcallFlushRequired, "true or false");
  }
  if (
    o.persistenceFailedCount !== undefined &&
    (!Number.isSafeInteger(o.persistenceFailedCount) || (o.persistenceFailedCount as number) < 0)
  ) {
    fail(`${path}.persistenceFailedCount`, o.persistenceFailedCount, "a non-negative integer");
  }
  return {
    drc,
    blocks,
    blockSize: BigInt(blockSize),
    metadataSize,
    uuid,
    health,
    hcallFlushRequired: o.hcallFlushRequired === true,
    persistenceFailedCount: o.persistenceFailedCount as number | undefined,
  };
}

/**
 * Checks a configuration and fills in defaults; throws ConfigError.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * const config = resolveConfig({
 *   lpars: [{ name: "lpar1", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
 * });
 * console.log(config.lpars[0].kernel, config.lpars[0].nvdimms[0].blockSize); // "5.4" 268435456n
 * ```
 */
export function resolveConfig(value: unknown, runtime: RuntimeKind = "threads"): ResolvedConfig {
  const root = object("config", value);
  checkKeys("config", root, ["description", "hypervisor", "guest", "lpars", "storage"]);
  const storage = resolveStorage(root.storage);
  if (root.description !== undefined && typeof root.description !== "string") {
    fail("config.description", root.description, "a string");
  }
  const hv = object("config.hypervisor", root.hypervisor ?? {});
  checkKeys("config.hypervisor", hv, [
    "personality",
    "bindSliceBlocks",
    "unbindSliceBlocks",
    "unbindContinue",
    "flushLatencyMs",
    "performanceCollection",
    "costs",
  ]);
  const personality = hv.personality ?? "powervm";
  if (personality !== "powervm" && personality !== "qemu") {
    fail("config.hypervisor.personality", personality, '"powervm" or "qemu"');
  }
  const unbindContinue = hv.unbindContinue ?? "long-busy";
  if (unbindContinue !== "long-busy" && unbindContinue !== "busy") {
    fail("config.hypervisor.unbindContinue", unbindContinue, '"long-busy" or "busy"');
  }
  const costs = object("config.hypervisor.costs", hv.costs ?? {});
  checkKeys("config.hypervisor.costs", costs, ["bindMsPerBlock", "unbindMsPerBlock"]);
  const hypervisor: ResolvedConfig["hypervisor"] = {
    personality,
    bindSliceBlocks: hv.bindSliceBlocks === undefined
      ? 16
      : positiveInt("config.hypervisor.bindSliceBlocks", hv.bindSliceBlocks),
    unbindSliceBlocks: hv.unbindSliceBlocks === undefined
      ? 16
      : positiveInt("config.hypervisor.unbindSliceBlocks", hv.unbindSliceBlocks),
    unbindContinue,
    flushLatencyMs: flushLatency(hv.flushLatencyMs),
    performanceCollection: hv.performanceCollection === undefined
      ? true
      : hv.performanceCollection === true
      ? true
      : hv.performanceCollection === false
      ? false
      : fail("config.hypervisor.performanceCollection", hv.performanceCollection, "true or false"),
    costs: {
      bindMsPerBlock: cost("config.hypervisor.costs.bindMsPerBlock", costs.bindMsPerBlock),
      unbindMsPerBlock: cost("config.hypervisor.costs.unbindMsPerBlock", costs.unbindMsPerBlock),
    },
  };
  const guestValue = object("config.guest", root.guest ?? {});
  checkKeys("config.guest", guestValue, ["bootMs", "registerMsPerGiB"]);
  const guest: ResolvedConfig["guest"] = {
    bootMs: cost("config.guest.bootMs", guestValue.bootMs),
    registerMsPerGiB: cost("config.guest.registerMsPerGiB", guestValue.registerMsPerGiB),
  };
  if (runtime === "threads") {
    // Costs are virtual time: the threads runtime would ignore some and wait out others.
    const costly = [
      ["config.hypervisor.costs", Object.values(hypervisor.costs)],
      ["config.guest", Object.values(guest)],
    ] as const;
    for (const [path, values] of costly) {
      if (values.some((v) => v > 0)) {
        throw new ConfigError(
          `${path}: costs are virtual time, spent only on the sim runtime; ` +
            `run with --runtime sim (StartOptions runtime: "sim") or leave them out`,
        );
      }
    }
  }
  if (!Array.isArray(root.lpars) || root.lpars.length === 0) {
    fail("config.lpars", root.lpars, "a non-empty array of LPARs");
  }
  if (root.lpars.length > MAX_LPARS) {
    throw new ConfigError(
      `config.lpars: ${root.lpars.length} LPARs is not valid; expected at most ${MAX_LPARS} (MAX_LPARS)`,
    );
  }
  const names = new Set<string>();
  const drcs = new Map<number, { path: string; nvdimm: ResolvedNvdimm }>();
  const lpars = (root.lpars as unknown[]).map((value, i): ResolvedLpar => {
    const path = `config.lpars[${i}]`;
    const o = object(path, value);
    checkKeys(path, o, ["name", "kernel", "paprScm", "nvdimms", "faults", "supervision"]);
    if (typeof o.name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(o.name)) {
      fail(`${path}.name`, o.name, "1 to 64 letters, digits, '_', '.' or '-'");
    }
    if (names.has(o.name)) fail(`${path}.name`, o.name, "a name no other LPAR has");
    names.add(o.name);
    const kernel = o.kernel ?? "5.4";
    if (!(KERNEL_VERSIONS as readonly unknown[]).includes(kernel)) {
      fail(`${path}.kernel`, kernel, `one of ${KERNEL_VERSIONS.join(", ")}`);
    }
    if (o.paprScm !== undefined && typeof o.paprScm !== "boolean") {
      fail(`${path}.paprScm`, o.paprScm, "true or false");
    }
    if (o.nvdimms !== undefined && !Array.isArray(o.nvdimms)) {
      fail(`${path}.nvdimms`, o.nvdimms, "an array of nvdimms");
    }
    if (Array.isArray(o.nvdimms) && o.nvdimms.length > MAX_NVDIMMS_PER_LPAR) {
      throw new ConfigError(
        `${path}.nvdimms: ${o.nvdimms.length} nvdimms is not valid; expected at most ` +
          `${MAX_NVDIMMS_PER_LPAR} (MAX_NVDIMMS_PER_LPAR, the LPAR's page-table mappings)`,
      );
    }
    const seen = new Set<number>();
    const nvdimms = ((o.nvdimms ?? []) as unknown[]).map((n, j) => {
      const npath = `${path}.nvdimms[${j}]`;
      const nvdimm = resolveNvdimm(npath, n, runtime);
      if (seen.has(nvdimm.drc)) {
        fail(
          `${npath}.drc`,
          n && (n as NvdimmConfig).drc,
          "a DRC index not already given to this LPAR",
        );
      }
      seen.add(nvdimm.drc);
      // The same DRC may be assigned to several LPARs, but it is one device.
      const other = drcs.get(nvdimm.drc);
      if (other && !sameDevice(other.nvdimm, nvdimm)) {
        throw new ConfigError(
          `${npath}: drc 0x${nvdimm.drc.toString(16)} is also defined at ${other.path} ` +
            `with different settings; a DRC shared by LPARs must be described identically`,
        );
      }
      if (!other && drcs.size >= MAX_NVDIMMS_PER_SYSTEM) {
        throw new ConfigError(
          `${npath}: drc 0x${nvdimm.drc.toString(16)} is nvdimm ${drcs.size + 1} of the system; ` +
            `expected at most ${MAX_NVDIMMS_PER_SYSTEM} (MAX_NVDIMMS_PER_SYSTEM) distinct DRCs`,
        );
      }
      drcs.set(nvdimm.drc, { path: npath, nvdimm });
      return nvdimm;
    });
    return {
      name: o.name,
      kernel: kernel as KernelVersion,
      paprScm: o.paprScm !== false,
      nvdimms,
      faults: resolveFaults(`${path}.faults`, o.faults),
      supervision: resolveSupervision(`${path}.supervision`, o.supervision),
    };
  });
  const resolved: ResolvedConfig = { hypervisor, guest, lpars };
  if (root.description !== undefined) resolved.description = root.description as string;
  if (storage) resolved.storage = storage;
  return resolved;
}

/** Checks `config.storage`: `{ dir }`. */
function resolveStorage(value: unknown): StorageConfig | undefined {
  if (value === undefined) return undefined;
  const o = object("config.storage", value);
  checkKeys("config.storage", o, ["dir"]);
  if (typeof o.dir !== "string" || o.dir === "" || o.dir.length > 4096) {
    fail("config.storage.dir", o.dir, "a path to a directory (1 to 4096 characters)");
  }
  return { dir: o.dir };
}

/** Checks a panic point, e.g. `{ hcall: "H_SCM_BIND_MEM", nth: 2 }`. */
export function resolvePanicAt(path: string, value: unknown): PanicAtConfig {
  const o = object(path, value);
  checkKeys(path, o, ["hcall", "nth"]);
  if (typeof o.hcall !== "string" || opByName(o.hcall) === undefined) {
    fail(`${path}.hcall`, o.hcall, `an hcall name, one of ${Object.keys(OP).join(", ")}`);
  }
  return { hcall: o.hcall, nth: positiveInt(`${path}.nth`, o.nth) };
}

function resolveFaults(path: string, value: unknown): FaultsConfig {
  if (value === undefined) return {};
  const o = object(path, value);
  checkKeys(path, o, ["panicAt", "ignoreDlparRemove"]);
  const faults: FaultsConfig = {};
  if (o.panicAt !== undefined) faults.panicAt = resolvePanicAt(`${path}.panicAt`, o.panicAt);
  if (o.ignoreDlparRemove !== undefined) {
    if (typeof o.ignoreDlparRemove !== "boolean") {
      fail(`${path}.ignoreDlparRemove`, o.ignoreDlparRemove, "true or false");
    }
    faults.ignoreDlparRemove = o.ignoreDlparRemove;
  }
  return faults;
}

/** The policies an LPAR may have on panic. */
export const PANIC_POLICIES: readonly PanicPolicy[] = ["kdump", "reboot", "stay-down"];

/** Checks a supervision policy and fills in its defaults. */
export function resolveSupervision(path: string, value: unknown): Required<SupervisionConfig> {
  const o = object(path, value ?? {});
  checkKeys(path, o, ["onPanic", "maxRestarts", "windowSeconds"]);
  const onPanic = o.onPanic ?? "stay-down";
  if (!(PANIC_POLICIES as readonly unknown[]).includes(onPanic)) {
    fail(`${path}.onPanic`, onPanic, PANIC_POLICIES.map((p) => `"${p}"`).join(", "));
  }
  let maxRestarts = 3;
  if (o.maxRestarts !== undefined) {
    if (
      !Number.isSafeInteger(o.maxRestarts) || (o.maxRestarts as number) < 0 ||
      (o.maxRestarts as number) > MAX_RESTARTS
    ) {
      fail(
        `${path}.maxRestarts`,
        o.maxRestarts,
        `an integer from 0 to ${MAX_RESTARTS} (MAX_RESTARTS)`,
      );
    }
    maxRestarts = o.maxRestarts as number;
  }
  const windowSeconds = o.windowSeconds === undefined
    ? 60
    : positiveInt(`${path}.windowSeconds`, o.windowSeconds);
  return { onPanic: onPanic as PanicPolicy, maxRestarts, windowSeconds };
}

/** Where a JSON syntax error is: 1-based line and column of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** Where a value is in a JSON text, as a linked list (built in O(1) per value). */
interface PathNode {
  /** The enclosing value's node; undefined for the root's children. */
  parent?: PathNode;
  /** Key in an object or index in an array. */
  segment: string | number;
  /** Number of segments from the root. */
  depth: number;
}

/** A number literal whose value does not read back as written (`1e400`, `1.0`). */
interface NumberLiteral {
  /** Where it is; undefined for the root. */
  path?: PathNode;
  /** As written. */
  text: string;
}

/** What scanJson found. */
interface JsonScan {
  /** The offset of the first syntax error, if any. */
  errorAt?: number;
  /** The first key given twice in one object: where, and where it first was. */
  duplicate?: { key: string; object?: PathNode; at: number; firstAt: number };
  /** Number literals that do not read back as written. */
  numbers: NumberLiteral[];
}

/** The segments of a message path such as `config.lpars[0].name`; undefined if not one. */
function pathSegments(path: string): (string | number)[] | undefined {
  if (!path.startsWith("config")) return undefined;
  const segments: (string | number)[] = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]/y;
  re.lastIndex = "config".length;
  while (re.lastIndex < path.length) {
    const m = re.exec(path);
    if (!m) return undefined;
    segments.push(m[1] ?? Number(m[2]));
  }
  return segments;
}

function samePath(node: PathNode | undefined, segments: readonly (string | number)[]): boolean {
  if ((node?.depth ?? 0) !== segments.length) return false;
  for (let k = segments.length - 1; node; k--, node = node.parent) {
    if (node.segment !== segments[k]) return false;
  }
  return true;
}

/** A node's path as messages write it (`config.lpars[0]`), shortened if very long. */
function pathText(node: PathNode | undefined): string {
  const segments: string[] = [];
  for (; node; node = node.parent) {
    segments.push(typeof node.segment === "number" ? `[${node.segment}]` : `.${node.segment}`);
  }
  const path = `config${segments.reverse().join("")}`;
  return path.length <= 2 * EXCERPT_CHARS
    ? path
    : `${path.slice(0, EXCERPT_CHARS)}…${path.slice(-EXCERPT_CHARS)}`;
}

/**
 * Scans a JSON text without recursion (any nesting depth): the offset of
 * the first syntax error, the first duplicate key, and the number literals
 * that do not read back as written. JSON.parse gives none of these reliably.
 */
function scanJson(text: string): JsonScan {
  const scan: JsonScan = { numbers: [] };
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const escape = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;
  /** Open objects and arrays, innermost last. */
  const stack: { array: boolean; keys: Map<string, number>; index: number; path?: PathNode }[] = [];
  let i = 0;
  const syntax = (): never => {
    throw i;
  };
  const ws = () => {
    for (let c = text[i]; c === " " || c === "\t" || c === "\n" || c === "\r"; c = text[++i]);
  };
  /** Skips a string at `i`; returns its value. */
  const string = (): string => {
    const start = i;
    if (text[i] !== '"') syntax();
    let escaped = false;
    for (i++; text[i] !== '"'; i++) {
      if (i >= text.length || text[i] < " ") syntax();
      if (text[i] === "\\") {
        escape.lastIndex = i;
        if (!escape.test(text)) syntax();
        i = escape.lastIndex - 1;
        escaped = true;
      }
    }
    i++;
    return escaped ? JSON.parse(text.slice(start, i)) : text.slice(start + 1, i - 1);
  };
  /** Reads `"key":` in the innermost object; returns the path of its value. */
  const key = (): PathNode => {
    const top = stack[stack.length - 1];
    ws();
    const at = i;
    const name = string();
    const firstAt = top.keys.get(name);
    if (firstAt === undefined) top.keys.set(name, at);
    else scan.duplicate ??= { key: name, object: top.path, at, firstAt };
    ws();
    if (text[i] !== ":") syntax();
    i++;
    return { parent: top.path, segment: name, depth: (top.path?.depth ?? 0) + 1 };
  };
  try {
    let path: PathNode | undefined; // where the value about to be read is
    for (;;) {
      ws();
      const c = text[i];
      if (c === "{" || c === "[") {
        i++;
        ws();
        if (text[i] === (c === "{" ? "}" : "]")) i++;
        else {
          stack.push({ array: c === "[", keys: new Map(), index: 0, path });
          path = c === "[" ? { parent: path, segment: 0, depth: (path?.depth ?? 0) + 1 } : key();
          continue;
        }
      } else if (c === '"') string();
      else if (c === "t" || c === "f" || c === "n") {
        const word = c === "t" ? "true" : c === "f" ? "false" : "null";
        for (const w of word) {
          if (text[i] !== w) syntax();
          i++;
        }
      } else {
        number.lastIndex = i;
        const m = number.exec(text) ?? syntax();
        if (String(Number(m[0])) !== m[0]) scan.numbers.push({ path, text: m[0] });
        i = number.lastIndex;
      }
      // A value ended: close what it ends, then go to the next value, or stop.
      for (;;) {
        const top = stack[stack.length - 1];
        ws();
        if (!top) {
          if (i < text.length) syntax();
          return scan;
        }
        if (text[i] === ",") {
          i++;
          path = top.array
            ? { parent: top.path, segment: ++top.index, depth: (top.path?.depth ?? 0) + 1 }
            : key();
          break;
        }
        if (text[i] !== (top.array ? "]" : "}")) syntax();
        i++;
        stack.pop();
      }
    }
  } catch (at) {
    if (typeof at !== "number") throw at;
    scan.errorAt = Math.min(at, text.length);
    return scan;
  }
}

/**
 * Parses a configuration's JSON text and checks it. `source` names it in
 * messages (a file name). Syntax errors and duplicate keys give the line
 * and column; a bad number is quoted as written (`1e400`, not Infinity).
 *
 * @example
 * ```ts
 * import { parseConfigText } from "./config.ts";
 * const config = parseConfigText('{"lpars":[{"name":"lpar1"}]}', "inline");
 * ```
 */
export function parseConfigText(
  text: string,
  source = "config",
  runtime: RuntimeKind = "sim",
): SystemConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message.replace(/ \(line \d+ column \d+\)$/, "");
    const at = /position (\d+)/.exec(message);
    const offset = at ? Number(at[1]) : scanJson(text).errorAt ?? text.length;
    const { line, column } = lineColumn(text, offset);
    const end = offset >= text.length ? " (end of file)" : "";
    throw new ConfigError(
      `${source}: not valid JSON at line ${line}, column ${column}${end}: ${message}`,
    );
  }
  // JSON.parse keeps the last of duplicate keys and rounds numbers silently.
  const scan = scanJson(text);
  if (scan.duplicate) {
    const { key, object, at, firstAt } = scan.duplicate;
    const here = lineColumn(text, at);
    const first = lineColumn(text, firstAt);
    throw new ConfigError(
      `${source}: duplicate key ${excerpt(key)} in ${pathText(object)} at line ${here.line}, ` +
        `column ${here.column} (first at line ${first.line}, column ${first.column}); ` +
        `a key may be given once in each object`,
    );
  }
  writtenNumbers = scan.numbers;
  try {
    resolveConfig(value, runtime);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
    throw error;
  } finally {
    writtenNumbers = undefined;
  }
  return value as SystemConfig;
}

/** Why a file could not be read, in a few words (for messages that name the file). */
export function unreadable(error: unknown): string {
  return error instanceof Deno.errors.NotFound
    ? "no such file"
    : error instanceof Deno.errors.IsADirectory
    ? "it is a directory"
    : (error as Error).message;
}

/**
 * Reads a JSON configuration file (the SystemConfig format) and checks it.
 * The object is returned as written, nothing dropped; errors name the file
 * and say what is wrong (unreadable, bad JSON with line and column, or the
 * field, value and what is accepted).
 *
 * @example
 * ```ts
 * import { loadConfigFile, ManagedSystem } from "../mod.ts";
 * await using system = await ManagedSystem.start(await loadConfigFile("examples/seed.json"));
 * ```
 */
export async function loadConfigFile(path: string): Promise<SystemConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the configuration file: ${unreadable(error)}`);
  }
  return parseConfigText(text, path);
}

/** A cost in milliseconds: 0 when absent, at most an hour. */
function cost(path: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 3_600_000) {
    fail(path, value, "a number of milliseconds from 0 to 3600000");
  }
  return value;
}

function flushLatency(value: unknown): number {
  if (value === undefined) return 2;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 60_000) {
    fail("config.hypervisor.flushLatencyMs", value, "a number of milliseconds from 0 to 60000");
  }
  return value;
}

function sameDevice(a: ResolvedNvdimm, b: ResolvedNvdimm): boolean {
  return a.blocks === b.blocks && a.blockSize === b.blockSize &&
    a.metadataSize === b.metadataSize && a.uuid === b.uuid && a.health === b.health &&
    a.hcallFlushRequired === b.hcallFlushRequired;
}
