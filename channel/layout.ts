/**
 * Shared-memory layout of the hcall channel.
 *
 * Each LPAR has one register file in its own SharedArrayBuffer: a header of
 * 32-bit words (sequence numbers, not flags) and r3..r12 as 64-bit registers.
 * All LPARs and the hypervisor share one doorbell buffer, so an idle
 * hypervisor can sleep on a single word.
 * @module
 */

/** Header word: sequence number of the latest request (guest increments). */
export const REQ = 0;
/** Header word: sequence number of the latest answer (hypervisor copies REQ). */
export const RESP = 1;
/** Header word: non-zero while the guest sleeps in `Atomics.wait` on RESP. */
export const GUEST_WAITING = 2;
/** Header word: non-zero while the dispatcher holds this LPAR back for fairness. */
export const DEFERRED = 3;
/** Header word: stop word; non-zero asks the guest to abandon its hcall and stop. */
export const STOP = 4;
/** Header word: non-zero asks the guest kernel to panic at its next hcall. */
export const PANIC = 5;
/** Header word: number of hcalls answered on this channel (wraps). */
export const ANSWERED = 6;
/**
 * Header word: non-zero while the guest copies a chunk of SCM by DAX. After
 * taking mappings away the hypervisor waits for it to clear (a TLB shootdown),
 * so no copy that began under the old page table outlives the release.
 */
export const DAX_ACTIVE = 7;
/** Header size in 32-bit words. */
export const HEADER_WORDS = 16;
/** Byte offset of the registers (r3 first, then r4..r12). */
export const REGS_OFFSET = HEADER_WORDS * 4;
/** Registers in the file: r3..r12. */
export const REG_COUNT = 10;
/** Bytes in one channel buffer. */
export const CHANNEL_BYTES = REGS_OFFSET + REG_COUNT * 8;

/** Doorbell word: bumped by every request. */
export const BELL = 0;
/** Doorbell word: non-zero while the hypervisor sleeps waiting for BELL. */
export const HV_SLEEPING = 1;
/** Doorbell word: non-zero asks the hypervisor's serve loop to stop. */
export const HV_STOP = 2;
/**
 * Doorbell word: bumped whenever a turn passes to another LPAR. Guests held
 * back sleep on it; the guest that just lost its turn bumps it as it goes to
 * sleep, so the next one wakes on the core being freed.
 */
export const TURN = 3;
/** Bytes in the doorbell buffer. */
export const DOORBELL_BYTES = 16;

/** A channel's typed views over its buffer. */
export interface ChannelViews {
  header: Int32Array;
  regs: BigUint64Array;
}

/** Makes a fresh channel buffer. */
export function createChannel(): SharedArrayBuffer {
  return new SharedArrayBuffer(CHANNEL_BYTES);
}

/** Makes a fresh doorbell buffer. */
export function createDoorbell(): SharedArrayBuffer {
  return new SharedArrayBuffer(DOORBELL_BYTES);
}

/** Views over a channel buffer. */
export function channelViews(buffer: SharedArrayBuffer): ChannelViews {
  return {
    header: new Int32Array(buffer, 0, HEADER_WORDS),
    regs: new BigUint64Array(buffer, REGS_OFFSET, REG_COUNT),
  };
}
