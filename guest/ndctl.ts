/**
 * `ndctl list` as ndctl prints it: the same objects, keys in ndctl's order,
 * and json-c's pretty layout (`"key":value`, two-space indent).
 * @module
 */
import type { Libnvdimm, Region } from "./libnvdimm.ts";

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
}

/** One region as `ndctl list -R` shows it. */
export function regionJson(region: Region): Record<string, Json> {
  return {
    dev: region.dev,
    size: region.size,
    align: 16777216,
    available_size: region.size,
    max_available_extent: region.size,
    type: region.volatile ? "volatile" : "pmem",
    iset_id: region.isetId,
    persistence_domain: region.persistenceDomain,
  };
}

/** The value `ndctl list` prints for the given flags. */
export function ndctlList(lib: Libnvdimm, flags: NdctlListFlags): Json {
  const regions = lib.regions.map(regionJson);
  if (flags.regions && !flags.dimms) return regions;
  return regions;
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
