/**
 * What survives a power-off: the durable side of an nvdimm, as a store the
 * machine is handed. The machine never touches files itself; a store does
 * (`MemoryStore` keeps everything in this process, `FileStore` in a
 * directory, one set of files per DRC).
 * @module
 */

/** The hypervisor's durable facts about one nvdimm. */
export interface DrcFacts {
  /** Unit GUID (`ibm,unit-guid`). */
  uuid: string;
  /** Bytes per SCM block (decimal text: a 64-bit value). */
  blockSize: string;
  /** Number of blocks. */
  blocks: number;
  /** Label area bytes. */
  metadataSize: number;
  /** Health bitmap (hex text of the 64-bit H_SCM_HEALTH bitmap). */
  health: string;
  /** `ibm,persistence-failed-count`: power-ons that found data of this nvdimm lost. */
  persistenceFailedCount: number;
  /**
   * True while stores of this nvdimm may sit in a CPU cache (or an
   * hcall-flush device's host buffer) and are not durable. Found true at
   * power-on, the previous power-off lost data: the count goes up.
   */
  unflushed: boolean;
}

/** How a store is asked to open an nvdimm. */
export interface DrcGeometry {
  /** DRC index. */
  index: number;
  /** Unit GUID. */
  uuid: string;
  /** Bytes per block. */
  blockSize: bigint;
  /** Blocks. */
  blocks: number;
  /** Label area bytes. */
  metadataSize: number;
  /** Health of a new device. */
  health?: bigint;
  /** Count of a new device. */
  persistenceFailedCount?: number;
}

/** The durable side of one nvdimm. Every write is durable when it returns. */
export interface DurableDrc {
  /** Bytes of SCM. */
  readonly size: number;
  /** The facts as stored now. */
  facts(): DrcFacts;
  /** Replaces the facts. */
  saveFacts(facts: DrcFacts): void;
  /** A copy of durable SCM bytes (unwritten bytes read as zero). */
  read(offset: number, length: number): Uint8Array;
  /** Makes SCM bytes durable. */
  write(offset: number, bytes: Uint8Array): void;
  /**
   * Makes room for a later `write` of `length` bytes at `offset`, or throws
   * (taking nothing) when the store has none: called when a store enters the
   * cache, so a store with a budget (`MemoryStore`) refuses the storer, not
   * a later write-back on another's behalf. A store without a budget
   * (`FileStore`) leaves it out.
   */
  reserve?(offset: number, length: number): void;
  /**
   * Called before `lines` (line index to its 64 bytes) are written when,
   * once they are, the device holds nothing volatile. A store whose state
   * outlives the process records them with its unflushed mark, so the
   * power-on after a kill inside the flush counts a loss only when a line
   * did not arrive (`FileStore`: up to 56 lines); one that cannot, or need
   * not, leaves it out (`MemoryStore`). Called again with no lines when a
   * write of the batch failed: the intent is withdrawn (the device still
   * holds lines, and later stores are not in it), the plain mark stays.
   */
  intendFlush?(lines: ReadonlyMap<number, Uint8Array>): void;
  /** A copy of the whole label area. */
  label(): Uint8Array;
  /** Makes label bytes durable. */
  writeLabel(offset: number, bytes: Uint8Array): void;
  /** Bytes the SCM takes in the store (pages written; `du` for files). */
  usedBytes(): number;
  /** Lets go of the files (or nothing). */
  close(): void;
}

/** Where nvdimms' durable state lives. */
export interface DurableStore {
  /** For messages: `memory` or the directory. */
  readonly where: string;
  /** Opens (or creates) an nvdimm's durable state; a mismatch with what is stored is an error. */
  open(geometry: DrcGeometry): DurableDrc;
  /** Lets the store go (a directory's lock); the system that used it has powered off. */
  close?(): void;
  /**
   * Every configured nvdimm is open: a store with a budget divides it among
   * them now (see runtime/sim/sparse_scm.ts `PageBudget`), before any
   * partition runs, so no partition's writes decide another's share.
   */
  divide?(): void;
}

/** A store's state is unusable: the message names the file and what is wrong. */
export class StorageError extends Error {
  /** Makes the error; `message` names the file or directory and what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "StorageError";
  }
}

/**
 * The host could not complete a read or write of a device's backing (its
 * file: `EIO`, `ENOSPC` on a sparse file, a closed descriptor) while the
 * machine runs. The message names the file, the operation and the OS error.
 * It is the asker's error, never the machine's: the DAX engine turns it into
 * a machine check on the range asked for (core/dax.ts `MediaError`), a
 * flush or label write whose bytes could not be written answers
 * `H_HARDWARE` (storage/persistence.ts). Anything else a store throws is a
 * bug and fails the hypervisor.
 */
export class StorageIoError extends Error {
  /**
   * The same failure as the partition that made the access is told it: the
   * device, the operation and the OS error, without the host's paths (a
   * guest learns nothing of the host's file system).
   */
  readonly guestText: string;
  /** Makes the error; `message` names the file, the operation and the OS error. */
  constructor(message: string, options: { guestText: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "StorageIoError";
    this.guestText = options.guestText;
  }
}

/** Facts for a new device. */
export function freshFacts(g: DrcGeometry): DrcFacts {
  return {
    uuid: g.uuid,
    blockSize: g.blockSize.toString(),
    blocks: g.blocks,
    metadataSize: g.metadataSize,
    health: (g.health ?? 0n).toString(16),
    persistenceFailedCount: g.persistenceFailedCount ?? 0,
    unflushed: false,
  };
}

/** Checks stored facts against the device asked for; the first difference, or undefined. */
export function geometryMismatch(facts: DrcFacts, g: DrcGeometry): string | undefined {
  const pairs: Array<[string, unknown, unknown]> = [
    ["uuid", facts.uuid, g.uuid],
    ["blockSize", facts.blockSize, g.blockSize.toString()],
    ["blocks", facts.blocks, g.blocks],
    ["metadataSize", facts.metadataSize, g.metadataSize],
  ];
  for (const [name, stored, asked] of pairs) {
    if (stored !== asked) {
      return `${name} is ${JSON.stringify(stored)} there but the configuration asks for ` +
        `${JSON.stringify(asked)}; use another directory or the same configuration`;
    }
  }
  return undefined;
}

/** Checks a parsed facts object field by field; the first problem, or undefined. */
export function factsProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const o = value as Record<string, unknown>;
  const want: Array<[string, (v: unknown) => boolean, string]> = [
    ["uuid", (v) => typeof v === "string", "a string"],
    ["blockSize", (v) => typeof v === "string" && /^\d{1,20}$/.test(v), "decimal text"],
    ["blocks", (v) => Number.isSafeInteger(v) && (v as number) > 0, "a positive integer"],
    ["metadataSize", (v) => Number.isSafeInteger(v) && (v as number) >= 0, "an integer from 0"],
    ["health", (v) => typeof v === "string" && /^[0-9a-f]{1,16}$/.test(v), "hex text"],
    [
      "persistenceFailedCount",
      (v) => Number.isSafeInteger(v) && (v as number) >= 0,
      "an integer from 0",
    ],
    ["unflushed", (v) => typeof v === "boolean", "true or false"],
  ];
  for (const [key, ok, accepted] of want) {
    if (!ok(o[key])) return `field ${key} is ${JSON.stringify(o[key])}; expected ${accepted}`;
  }
  return undefined;
}
