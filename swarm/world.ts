/**
 * The state one swarm run carries between operations: the system under
 * test, the data model, the switches the swarm set, and the snapshot taken
 * by the last invariant check (which is the state the next operation starts
 * from).
 * @module
 */
import type { NvdimmConfig, PanicAtConfig } from "../actors/config.ts";
import type { BindingView, ManagedSystem } from "../actors/managed_system.ts";
import type { Lpar, LparState } from "../actors/lpar.ts";
import type { Personality } from "../core/types.ts";
import type { RegionInfo } from "../guest/host.ts";
import type { DataModel, WrittenRange } from "./model.ts";
import type { MemoryStore } from "../storage/memory_store.ts";

/** A panic point no kernel reaches: boots with it run with faults off. */
export const NO_PANIC: PanicAtConfig = { hcall: "H_SCM_QUERY_LOGICAL_MEM_BINDING", nth: 2 ** 31 };

/** An invariant that did not hold; `invariant` names it (e.g. `region-bound`). */
export class Violation extends Error {
  /** The invariant's name. */
  readonly invariant: string;
  /** Makes the error. */
  constructor(invariant: string, message: string) {
    super(message);
    this.name = "Violation";
    this.invariant = invariant;
  }
}

/** One LPAR as the last check saw it. */
export interface LparView {
  /** The LPAR. */
  lpar: Lpar;
  /** Its state. */
  state: LparState;
  /** Regions of its kernel (running or panicked; none otherwise). */
  regions: RegionInfo[];
  /** Blocks the hypervisor has bound or reserved to it. */
  held: BindingView[];
  /** A hash of `held`. */
  heldHash: number;
  /** Changes whenever its regions or bindings change. */
  fingerprint: string;
}

/** The system as the last check saw it. */
export interface Snapshot {
  /** Per DRC, per block: its binding, if any. */
  blocks: Map<number, Array<BindingView | undefined>>;
  /** Per LPAR name. */
  lpars: Map<string, LparView>;
  /** Per DRC: the LPARs it is assigned to. */
  owners: Map<number, string[]>;
}

/** Everything a run keeps. */
export interface World {
  /** The system under test. */
  system: ManagedSystem;
  /** Its hypervisor personality. */
  personality: Personality;
  /** What SCM must hold. */
  data: DataModel;
  /** Every nvdimm the case knows (configured and spare), by DRC index. */
  nvdimms: Map<number, NvdimmConfig>;
  /** Block size of every known DRC, bytes. */
  blockSizes: Map<number, number>;
  /** DRCs the hypervisor has created (configured, and spares once added). */
  created: Set<number>;
  /** DRCs whose flushes the swarm made fail. */
  flushFailing: Set<number>;
  /** LPARs whose running kernel may still panic at a panic point. */
  armed: Set<string>;
  /** The last check's view (the state the next operation starts from). */
  snapshot: Snapshot;
  /** Per LPAR: the fingerprint whose DAX and data were last verified. */
  verified: Map<string, string>;
  /** DAX probes made (chooses where the next one reads). */
  probes: number;
  /** Per DRC: ranges written since its stores were last made durable (a power loss may take them). */
  unflushed: Map<number, WrittenRange[]>;
  /** With power losses: the durable state, how to power on again, and the runs before. */
  power?: PowerState;
}

/** What a case with power losses keeps. */
export interface PowerState {
  /** The durable state every system of the case powers on from. */
  store: MemoryStore;
  /** Starts a new system on it (not yet booted). */
  powerOn(): Promise<ManagedSystem>;
  /** The simulations of the systems that lost power, in order. */
  earlier: Array<{ traceHash: string; steps: number; virtualNs: number }>;
}

/** Most unflushed ranges kept per DRC; past it they are merged into one (more is uncertain, never less). */
export const MAX_UNFLUSHED_RANGES = 1024;

/** Records that a range of `drc` was written and is not durable yet. */
export function noteUnflushed(world: World, drc: number, offset: number, length: number): void {
  let ranges = world.unflushed.get(drc);
  if (!ranges) world.unflushed.set(drc, ranges = []);
  ranges.push({ offset, length });
  if (ranges.length > MAX_UNFLUSHED_RANGES) {
    const start = Math.min(...ranges.map((r) => r.offset));
    const end = Math.max(...ranges.map((r) => r.offset + r.length));
    ranges.splice(0, ranges.length, { offset: start, length: end - start });
  }
}

/** The DRC index of an nvdimm description. */
export function drcIndex(n: NvdimmConfig): number {
  return typeof n.drc === "number" ? n.drc : parseInt(n.drc, 16);
}

/** Hex form of a DRC index, for messages. */
export function hex(drc: number): string {
  return `0x${drc.toString(16)}`;
}

/** Whether `drc` is assigned to `lpar` alone. */
export function soleOwner(snapshot: Snapshot, drc: number, lpar: string): boolean {
  const owners = snapshot.owners.get(drc) ?? [];
  return owners.length === 1 && owners[0] === lpar;
}

/** The LPAR of that name, if the system (maybe shrunk) has it. */
export function lparNamed(world: World, name: string): Lpar | undefined {
  return world.system.lpars.find((l) => l.name === name);
}

/** An error's message. */
export function msg(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
