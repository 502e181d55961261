/**
 * What the kill benchmark's child writes and where (shared by the child and
 * the parent that checks the media after each kill).
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";

/** Record slots. */
export const SLOTS = 256;
/** Scratch lines. */
export const SCRATCH_LINES = 1024;

/** One LPAR, one 16 MiB nvdimm, the mainline driver (it shows the shutdown count). */
export function KILL_CONFIG(dir: string): SystemConfig {
  return {
    storage: { dir },
    lpars: [{
      name: "lpar1",
      kernel: "mainline",
      nvdimms: [{ drc: "0x44100002", blocks: 16, blockSize: 1 << 20 }],
    }],
  };
}

/** Byte offset of record `n`'s slot. */
export const SLOT_AT = (n: number): number => (n % SLOTS) * 64;
/** Byte offset of scratch line `n`. */
export const SCRATCH_AT = (n: number): number => (1 << 20) + (n % SCRATCH_LINES) * 64;

function line(n: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(64);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(n) + 1n, true);
  for (let i = 8; i < 64; i++) bytes[i] = (n * 31 + i * 7 + salt) & 0xFF;
  return bytes;
}

/** Record `n`'s 64 bytes. */
export const record = (n: number): Uint8Array => line(n, 0);
/** Scratch line `n`'s 64 bytes. */
export const scratch = (n: number): Uint8Array => line(n, 0x5C);
