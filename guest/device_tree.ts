/**
 * The flattened device tree an LPAR boots with: plain data, so the managed
 * system can build it and hand it to the guest's worker.
 * @module
 */

/** A property value: text, a cell (u32), a 64-bit number, or empty (a flag). */
export type DtValue = string | number | bigint | true;

/** A device-tree node. */
export interface DtNode {
  /** Node name with unit address, e.g. `ibm,pmemory@44100002`. */
  name: string;
  /** Properties by name. */
  properties: Record<string, DtValue>;
  /** Child nodes, in order. */
  children: DtNode[];
}

/** What the device tree says of one nvdimm. */
export interface PmemNodeSpec {
  drcIndex: number;
  blockSize: bigint;
  blocks: number;
  metadataSize: number;
  uuid: string;
  hcallFlushRequired?: boolean;
  /** Absent means the region is volatile (reference §4). Default true. */
  cacheFlushRequired?: boolean;
  persistenceFailedCount?: number;
}

/** Path of the SCM parent node. */
export const PMEM_PARENT = "ibm,persistent-memory";

/** The `ibm,pmemory@<drc hex>` node for one nvdimm, with QEMU's properties. */
export function pmemNode(spec: PmemNodeSpec): DtNode {
  const properties: Record<string, DtValue> = {
    reg: spec.drcIndex,
    compatible: "ibm,pmemory",
    device_type: "ibm,pmemory",
    "ibm,unit-guid": spec.uuid,
    "ibm,my-drc-index": spec.drcIndex,
    "ibm,block-size": spec.blockSize,
    "ibm,number-of-blocks": BigInt(spec.blocks),
    "ibm,metadata-size": BigInt(spec.metadataSize),
    "ibm,pmem-application": "operating-system",
  };
  if (spec.cacheFlushRequired ?? true) properties["ibm,cache-flush-required"] = true;
  if (spec.hcallFlushRequired) properties["ibm,hcall-flush-required"] = true;
  if (spec.persistenceFailedCount !== undefined) {
    properties["ibm,persistence-failed-count"] = BigInt(spec.persistenceFailedCount);
  }
  return { name: `ibm,pmemory@${spec.drcIndex.toString(16)}`, properties, children: [] };
}

/** A partition's device tree with one `ibm,pmemory` node per nvdimm. */
export function buildDeviceTree(nvdimms: readonly PmemNodeSpec[]): DtNode {
  return {
    name: "",
    properties: { compatible: "IBM,pseries", "#address-cells": 2, "#size-cells": 2 },
    children: [{
      name: PMEM_PARENT,
      properties: { device_type: "ibm,persistent-memory", "#address-cells": 1, "#size-cells": 0 },
      children: nvdimms.map(pmemNode),
    }],
  };
}

/** Every node below the SCM parent, with its full path. */
export function pmemNodes(root: DtNode): Array<{ path: string; node: DtNode }> {
  const parent = root.children.find((c) => c.name === PMEM_PARENT);
  return (parent?.children ?? []).map((node) => ({ path: `/${PMEM_PARENT}/${node.name}`, node }));
}

/** A u32 property, or undefined when missing or not a cell. */
export function readU32(node: DtNode, name: string): number | undefined {
  const v = node.properties[name];
  return typeof v === "number" ? v >>> 0 : undefined;
}

/** A u64 property, or undefined when missing. */
export function readU64(node: DtNode, name: string): bigint | undefined {
  const v = node.properties[name];
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(v);
  return undefined;
}

/** A string property, or undefined. */
export function readString(node: DtNode, name: string): string | undefined {
  const v = node.properties[name];
  return typeof v === "string" ? v : undefined;
}

/** Whether a property is present (as `of_property_read_bool`). */
export function readBool(node: DtNode, name: string): boolean {
  return name in node.properties;
}
