/**
 * A guest's DAX accesses on the `threads` runtime: each goes over the LPAR's
 * own channel, a chunk at a time through its bounce buffer, and the
 * hypervisor's thread copies between that buffer and the SCM it translates
 * to (core/dax.ts). The worker holds no SCM and no page table, so what it
 * can reach is only what the hypervisor copies for it, checked at each chunk:
 * a release in the middle of a long access faults the rest of it.
 * @module
 */
import { ARG_COUNT, RET_COUNT } from "../abi/hcalls.ts";
import {
  CACHE_LINE,
  type DaxAccess,
  MachineCheck,
  type MediaAction,
  MediaError,
} from "../core/dax.ts";
import type { GuestPort } from "./guest_port.ts";
import {
  DAX_BUFFER_BYTES,
  DAX_FAULT,
  DAX_MEDIA_ERROR,
  DAX_MEDIA_TEXT_BYTES,
  DAX_READ,
  DAX_WRITE,
  DAX_WRITEBACK,
} from "./layout.ts";

const utf8 = new TextDecoder();

/** Logical addresses are 64-bit: anything outside faults, as the sim runtime's engine does. */
function checkRange(address: bigint, length: number): void {
  if (address < 0n || address + BigInt(length) > 1n << 64n) throw new MachineCheck(address, length);
}

/**
 * Bytes of the chunk starting `done` bytes into an access: at most the
 * bounce buffer, and ending on a cache line after the first, so the lines
 * the hypervisor counts per chunk add up to the access's own.
 */
function chunk(address: bigint, done: number, length: number): number {
  const misalign = done === 0 ? Number(address % BigInt(CACHE_LINE)) : 0;
  return Math.min(DAX_BUFFER_BYTES - misalign, length - done);
}

/** DAX over the channel. */
export class ChannelDax implements DaxAccess {
  readonly #port: GuestPort;
  readonly #bounce: Uint8Array;
  readonly #args = new Array<bigint>(ARG_COUNT).fill(0n);
  readonly #rets = new Array<bigint>(RET_COUNT).fill(0n);

  constructor(port: GuestPort, bounce: SharedArrayBuffer) {
    if (bounce.byteLength < DAX_BUFFER_BYTES) {
      throw new RangeError(
        `bounce buffer of ${bounce.byteLength} bytes; ${DAX_BUFFER_BYTES} needed`,
      );
    }
    this.#port = port;
    this.#bounce = new Uint8Array(bounce, 0, DAX_BUFFER_BYTES);
  }

  read(address: bigint, length: number): Uint8Array {
    checkRange(address, length);
    const out = new Uint8Array(length);
    let done = 0;
    do {
      const n = chunk(address, done, length);
      this.#copy(DAX_READ, address, length, done, n);
      out.set(this.#bounce.subarray(0, n), done);
      done += n;
    } while (done < length);
    return out;
  }

  write(address: bigint, bytes: Uint8Array): void {
    checkRange(address, bytes.length);
    let done = 0;
    do {
      const n = chunk(address, done, bytes.length);
      this.#bounce.set(bytes.subarray(done, done + n));
      this.#copy(DAX_WRITE, address, bytes.length, done, n);
      done += n;
    } while (done < bytes.length);
  }

  writeBack(address: bigint, length: number): number {
    const args = this.#args;
    args[0] = address;
    args[1] = BigInt(length);
    args[2] = 0n;
    const rc = this.#port.request(DAX_WRITEBACK, args, this.#rets);
    if (rc === DAX_MEDIA_ERROR) throw this.#mediaError(address, length, "written back");
    if (rc < 0) throw new Error(`DAX write-back refused by the hypervisor (r3 ${rc})`);
    return rc;
  }

  /**
   * The chunk of `n` bytes, `done` bytes into the access of `total` bytes at
   * `start`. The first chunk asks the hypervisor to check the whole access:
   * all of it is mapped, or it faults. A fault of the first chunk or a media
   * error names the whole access, as the sim's engine does.
   */
  #copy(kind: number, start: bigint, total: number, done: number, n: number): void {
    const at = start + BigInt(done), whole = done === 0 ? total : 0;
    const args = this.#args;
    args[0] = at;
    args[1] = BigInt(n);
    args[2] = BigInt(whole);
    const rc = this.#port.request(kind, args, this.#rets);
    if (rc === DAX_FAULT) {
      throw whole > 0 ? new MachineCheck(start, whole) : new MachineCheck(at, n);
    }
    if (rc === DAX_MEDIA_ERROR) {
      throw this.#mediaError(start, total, kind === DAX_WRITE ? "stored" : "loaded");
    }
    if (rc !== 0) throw new Error(`DAX request refused by the hypervisor (r3 ${rc})`);
  }

  /** The machine check the hypervisor answered, with the host's message from the bounce buffer. */
  #mediaError(address: bigint, length: number, action: MediaAction): MediaError {
    const bytes = Math.min(Number(this.#rets[0]), DAX_MEDIA_TEXT_BYTES);
    const text = utf8.decode(this.#bounce.subarray(0, bytes > 0 ? bytes : 0));
    return new MediaError(address, length, action, text);
  }
}
