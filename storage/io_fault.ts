/**
 * Fault injection for the host's storage: a device's durable state that
 * fails its I/O as a full or failing host disk would, so what the machine
 * does with a StorageIoError can be seen on every runtime (the threads
 * runtime opens its store on the hypervisor's thread, where no test can
 * hand it a store of its own).
 *
 * - `enospc`: every write (SCM, label, facts, mark) fails with
 *   `No space left on device`, as on a sparse backing file when the host's
 *   disk is full; reads work.
 * - `eio`: every read and write of the SCM and the label area fails with
 *   `Input/output error`, as on a failing disk.
 * - `none`: the device works.
 * @module
 */
import { type DrcFacts, type DurableDrc, StorageIoError } from "./types.ts";

/** The storage faults a device can be given. */
export const STORAGE_FAULTS = ["none", "enospc", "eio"] as const;
/** One of {@link STORAGE_FAULTS}. */
export type StorageFault = typeof STORAGE_FAULTS[number];

/** Checks a fault's name; a RangeError naming what is accepted. */
export function parseStorageFault(value: unknown): StorageFault {
  if (!STORAGE_FAULTS.includes(value as StorageFault)) {
    throw new RangeError(
      `storage fault ${JSON.stringify(value)}: expected one of ${STORAGE_FAULTS.join(", ")}`,
    );
  }
  return value as StorageFault;
}

const OS_ERROR = {
  enospc: "No space left on device (os error 28)",
  eio: "Input/output error (os error 5)",
} as const;

/** A device's durable state that fails as its `fault` says (none at first). */
export class FaultyDrc implements DurableDrc {
  readonly size: number;
  readonly inner: DurableDrc;
  readonly #name: string;
  fault: StorageFault = "none";

  /** `name` says which device, for messages (its index and store). */
  constructor(inner: DurableDrc, name: string) {
    this.inner = inner;
    this.size = inner.size;
    this.#name = name;
  }

  #fail(kind: "read" | "write" | "meta", what: string): void {
    const fault = this.fault;
    if (fault === "none") return;
    if (fault === "enospc" ? kind === "read" : kind === "meta") return;
    const error = `${what}: ${OS_ERROR[fault]} (injected)`;
    throw new StorageIoError(`${this.#name}: ${error}`, { guestText: error });
  }

  facts(): DrcFacts {
    return this.inner.facts();
  }
  saveFacts(facts: DrcFacts): void {
    this.#fail("meta", "replace facts");
    this.inner.saveFacts(facts);
  }
  read(offset: number, length: number): Uint8Array {
    this.#fail("read", `read ${length} bytes of SCM at ${offset}`);
    return this.inner.read(offset, length);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.#fail("write", `write ${bytes.length} bytes of SCM at ${offset}`);
    this.inner.write(offset, bytes);
  }
  reserve(offset: number, length: number): void {
    this.inner.reserve?.(offset, length);
  }
  intendFlush(lines: ReadonlyMap<number, Uint8Array>): void {
    // Withdrawing an intent (no lines) follows a failure: let it through, as a rewrite in place.
    if (lines.size > 0) this.#fail("meta", "write a flush intent");
    this.inner.intendFlush?.(lines);
  }
  label(): Uint8Array {
    this.#fail("read", "read the label area");
    return this.inner.label();
  }
  writeLabel(offset: number, bytes: Uint8Array): void {
    this.#fail("write", `write ${bytes.length} label bytes at ${offset}`);
    this.inner.writeLabel(offset, bytes);
  }
  usedBytes(): number {
    return this.inner.usedBytes();
  }
  close(): void {
    this.inner.close();
  }
}
