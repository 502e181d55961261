/**
 * A device's durable state whose host I/O a test makes fail: every call goes
 * to the device it wraps, after asking the test's `when` whether this one
 * fails. A failing call throws the StorageIoError a failing file gives
 * (FileStore's `io()`) and changes nothing, as `io()` throws before the
 * file records anything.
 * @module
 */
import {
  type DrcFacts,
  type DrcGeometry,
  type DurableDrc,
  type DurableStore,
  StorageIoError,
} from "../storage/types.ts";

/** The host's I/O error for `what` (`write at 64`, `replace facts`), as a failing file gives it. */
export function ioError(what: string): StorageIoError {
  const os = `${what}: Input/output error (os error 5)`;
  return new StorageIoError(`drc: ${os}`, { guestText: os });
}

/** Which calls fail; a call with no rule works. */
export interface FailWhen {
  /** An SCM read at `offset`. */
  read?(offset: number): boolean;
  /** An SCM write at `offset`. */
  write?(offset: number): boolean;
  /** A replacement of the facts (`ENOSPC` on the new facts file, say). */
  facts?(): boolean;
  /** A rewrite of the mark: a flush intent of `lines` lines, or with 0 the plain mark again. */
  mark?(lines: number): boolean;
}

/** A durable device whose calls fail as `when` says. */
export class FailingDrc implements DurableDrc {
  readonly size: number;
  /** The device itself, which never fails: for checking what reached the media. */
  readonly inner: DurableDrc;
  when: FailWhen = {};
  /** Calls that failed. */
  failures = 0;

  constructor(inner: DurableDrc) {
    this.inner = inner;
    this.size = inner.size;
  }

  /** Every SCM write fails from now on (or, with false, none does and nothing else fails). */
  failWrites(on = true): void {
    this.when = on ? { write: () => true } : {};
  }

  #fail(what: string): never {
    this.failures++;
    throw ioError(what);
  }

  facts(): DrcFacts {
    return this.inner.facts();
  }
  saveFacts(facts: DrcFacts): void {
    if (this.when.facts?.()) this.#fail("replace facts");
    this.inner.saveFacts(facts);
  }
  read(offset: number, length: number): Uint8Array {
    if (this.when.read?.(offset)) this.#fail(`read at ${offset}`);
    return this.inner.read(offset, length);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (this.when.write?.(offset)) this.#fail(`write at ${offset}`);
    this.inner.write(offset, bytes);
  }
  reserve(offset: number, length: number): void {
    this.inner.reserve?.(offset, length);
  }
  intendFlush(lines: ReadonlyMap<number, Uint8Array>): void {
    if (this.when.mark?.(lines.size)) {
      this.#fail(lines.size > 0 ? "write a flush intent" : "set the mark");
    }
    this.inner.intendFlush?.(lines);
  }
  label(): Uint8Array {
    return this.inner.label();
  }
  writeLabel(offset: number, bytes: Uint8Array): void {
    this.inner.writeLabel(offset, bytes);
  }
  usedBytes(): number {
    return this.inner.usedBytes();
  }
  close(): void {
    this.inner.close();
  }
}

/** A store whose devices are FailingDrcs; `device` is the last one it opened. */
export class FailingStore implements DurableStore {
  readonly where: string;
  readonly #inner: DurableStore;
  device?: FailingDrc;

  constructor(inner: DurableStore) {
    this.#inner = inner;
    this.where = inner.where;
  }
  open(geometry: DrcGeometry): DurableDrc {
    return this.device = new FailingDrc(this.#inner.open(geometry));
  }
  close(): void {
    this.#inner.close?.();
  }
}
