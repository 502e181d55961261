/**
 * `ndctl list` as ndctl prints it: the same objects, keys in ndctl's order,
 * and json-c's pretty layout (`"key":value`, two-space indent).
 * @module
 */
import type { DimmHealth, Libnvdimm, Nvdimm, Region } from "./libnvdimm.ts";
import type { Task } from "./task.ts";

/** A JSON value that may hold 64-bit integers. */
export type Json = string | number | bigint | boolean | null | Json[] | { [key: string]: Json };

/** Which objects to list, as ndctl's flags select them. */
export interface NdctlListFlags {
  /** `-R`: regions. */
  regions?: boolean;
  /** `-D`: dimms. */
  dimms?: boolean;
  /** `-H`: health of dimms. */
  health?: boolean;
  /** `-N`: namespaces (nested in their region when `-R` is given too). */
  namespaces?: boolean;
}

const FLAG_LETTERS: Readonly<Record<string, keyof NdctlListFlags>> = {
  R: "regions",
  D: "dimms",
  H: "health",
  N: "namespaces",
};
const LONG_FLAGS: Readonly<Record<string, keyof NdctlListFlags>> = {
  "--regions": "regions",
  "--dimms": "dimms",
  "--health": "health",
  "--namespaces": "namespaces",
};

/**
 * Parses `ndctl list` options as ndctl takes them (`-R -D`, `-RDH`,
 * `--regions`, ...; a leading `list` is allowed). No object flag lists
 * namespaces, as ndctl does. Throws RangeError naming what is accepted.
 * @example
 * ```ts
 * import { parseNdctlArgs } from "./ndctl.ts";
 * parseNdctlArgs(["list", "-RD"]); // { regions: true, dimms: true }
 * ```
 */
export function parseNdctlArgs(args: readonly string[]): NdctlListFlags {
  const flags: NdctlListFlags = {};
  const rest = args[0] === "list" ? args.slice(1) : args;
  for (const arg of rest) {
    if (arg in LONG_FLAGS) {
      flags[LONG_FLAGS[arg]] = true;
    } else if (/^-[A-Za-z]+$/.test(arg) && [...arg.slice(1)].every((c) => c in FLAG_LETTERS)) {
      for (const c of arg.slice(1)) flags[FLAG_LETTERS[c]] = true;
    } else {
      throw new RangeError(
        `ndctl list: unsupported option "${arg}"; accepted: -R, -D, -H, -N (combinable, ` +
          `e.g. -RDH), --regions, --dimms, --health, --namespaces`,
      );
    }
  }
  if (!flags.regions && !flags.dimms && !flags.health && !flags.namespaces) {
    flags.namespaces = true;
  }
  return flags;
}

/**
 * One region as `ndctl list -R` shows it. With `-D` too, its `mappings`
 * (the dimm, offset, length and position of each) come after `iset_id`;
 * with `-N`, its namespaces follow under `namespaces`.
 */
export function regionJson(region: Region, flags: NdctlListFlags = {}): Record<string, Json> {
  const out: Record<string, Json> = {
    dev: region.dev,
    size: region.size,
    // The region's align attribute exists from Linux 5.7; ndctl omits what is absent.
    ...(region.align === undefined ? {} : { align: region.align }),
    available_size: region.size,
    max_available_extent: region.size,
    type: region.volatile ? "volatile" : "pmem",
    iset_id: region.isetId,
  };
  if (flags.dimms) {
    out.mappings = [{ dimm: region.dimm.dev, offset: 0, length: region.size, position: 0 }];
  }
  out.persistence_domain = region.persistenceDomain;
  if (flags.namespaces) out.namespaces = [namespaceJson(region)];
  return out;
}

/**
 * The region's namespace as `util_namespace_to_json` shows a label-less
 * (`nd_namespace_io`) raw namespace: `dev`, `mode`, `size`, `sector_size`,
 * `blockdev`; no uuid (it has no label). The simulator does not parse the
 * label area, so each region has one such namespace spanning it
 * (`namespaceN.0`, block device `pmemN`).
 */
export function namespaceJson(region: Region): Record<string, Json> {
  const id = region.dev.slice("region".length);
  return {
    dev: `namespace${id}.0`,
    mode: "raw",
    size: region.size,
    sector_size: 512,
    blockdev: `pmem${id}`,
  };
}

/** The dimm flag keys, in the order `util_dimm_to_json` adds them. */
const DIMM_FLAG_ORDER = [
  "flag_failed_map",
  "flag_failed_save",
  "flag_failed_arm",
  "flag_failed_restore",
  "flag_failed_flush",
  "flag_smart_event",
] as const;

/** libndctl's `parse_papr_flags`: the `papr/flags` words it turns into dimm flags. */
const PAPR_FLAG_WORDS: Readonly<Record<string, string>> = {
  not_armed: "flag_failed_arm",
  flush_fail: "flag_failed_flush",
  restore_fail: "flag_failed_restore",
  smart_notify: "flag_smart_event",
  save_fail: "flag_failed_save",
};

/** The dimm's true flags, read from its `papr/flags` file as libndctl does. */
export function* dimmFlagKeys(dimm: Nvdimm): Task<string[]> {
  let text = "";
  try {
    const flags = dimm.papr.flags;
    if (flags) text = yield* flags();
  } catch {
    // An unreadable flags file leaves every flag clear.
  }
  const set = new Set(text.split(" ").map((w) => PAPR_FLAG_WORDS[w]).filter(Boolean));
  return DIMM_FLAG_ORDER.filter((k) => set.has(k));
}

/** `-H`: the health object in `util_dimm_health_to_json`'s key order. */
export function healthJson(health: DimmHealth): Record<string, Json> {
  const out: Record<string, Json> = { health_state: health.health_state };
  if (health.health_state === "unknown") return out;
  if (health.life_used_percentage !== undefined) {
    out.life_used_percentage = health.life_used_percentage;
  }
  if (health.shutdown_state !== undefined) out.shutdown_state = health.shutdown_state;
  if (health.shutdown_count !== undefined) out.shutdown_count = health.shutdown_count;
  return out;
}

/**
 * One dimm as `ndctl list -D` shows it (`util_dimm_to_json`): `dev`, then
 * only the flags that are true; papr dimms have no id, handle, phys_id or
 * security. With `-H`, `health` follows when the driver reports health.
 */
export function* dimmJson(dimm: Nvdimm, flags: NdctlListFlags = {}): Task<Record<string, Json>> {
  const out: Record<string, Json> = { dev: dimm.dev };
  for (const key of yield* dimmFlagKeys(dimm)) out[key] = true;
  if (flags.health && dimm.health) out.health = healthJson(yield* dimm.health());
  return out;
}

/**
 * The value `ndctl list` prints for the given flags: `-R` regions, `-D`
 * dimms (`-H` adds health); both together give `{dimms, regions}` as
 * ndctl nests them under the bus-less top level.
 */
export function* ndctlList(lib: Libnvdimm, flags: NdctlListFlags): Task<Json> {
  const wantDimms = flags.dimms || (flags.health && !flags.regions);
  const dimms: Json[] = [];
  if (wantDimms) { for (const d of lib.dimms) dimms.push(yield* dimmJson(d, flags)); }
  // -N with -R: namespaces nest in their regions; -N alone: a top-level list.
  const regions = flags.regions ? lib.regions.map((r) => regionJson(r, flags)) : [];
  const namespaces = flags.namespaces && !flags.regions ? lib.regions.map(namespaceJson) : [];
  const kinds: Array<[string, Json[]]> = [];
  if (wantDimms) kinds.push(["dimms", dimms]);
  if (flags.regions) kinds.push(["regions", regions]);
  if (flags.namespaces && !flags.regions) kinds.push(["namespaces", namespaces]);
  if (kinds.length === 0) return lib.regions.map((r) => regionJson(r));
  if (kinds.length === 1) return kinds[0][1];
  // Several kinds: an object of the non-empty lists, as ndctl nests them.
  const out: Record<string, Json> = {};
  for (const [key, list] of kinds) if (list.length) out[key] = list;
  return Object.keys(out).length ? out : [];
}

/** What `ndctl list` prints: nothing at all when nothing matched. */
export function formatNdctl(value: Json): string {
  return Array.isArray(value) && value.length === 0 ? "" : formatJson(value);
}

/** Formats a value as json-c's pretty printer does (ndctl's output). */
export function formatJson(value: Json, indent = ""): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint" || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[\n]";
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{\n}";
  const body = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}:${formatJson(v, inner)}`);
  return `{\n${body.join(",\n")}\n${indent}}`;
}
