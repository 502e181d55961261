/**
 * Shared-memory layout of the hcall channel.
 *
 * Each LPAR has one register file in its own SharedArrayBuffer: a header of
 * 32-bit words (sequence numbers, not flags) and r3..r12 as 64-bit registers.
 * All LPARs and the hypervisor share one doorbell buffer, so an idle
 * hypervisor can sleep on a single word.
 *
 * Everything here is in a guest's hands, and a guest may be hostile: the
 * hypervisor trusts no word of a channel for anything but that LPAR's own
 * service, and the shared doorbell only for wake-ups (its words are counters;
 * a guest still waiting for its answer rings again every 20 ms, and an awake
 * hypervisor looks at every quiet channel at least that often, so a doorbell
 * a guest tampers with can delay a wake-up, never lose one). The
 * hypervisor's own state (its stop flag, whether it sleeps) is in no buffer a
 * guest holds.
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
 * Header word: what the request is: 0 an hcall (r3 the opcode), else a DAX
 * access ({@link DAX_READ}, {@link DAX_WRITE}) the hypervisor copies through
 * the LPAR's bounce buffer. Not an opcode, so no hcall number is taken.
 */
export const KIND = 7;
/** Request kind: an hcall. */
export const KIND_HCALL = 0;
/**
 * Request kind: copy r5 bytes at logical address r4 into the bounce buffer;
 * r6, when non-zero, is the whole access's length, checked and counted first.
 */
export const DAX_READ = 1;
/** Request kind: store r5 bytes from the bounce buffer at logical address r4 (r6 as for read). */
export const DAX_WRITE = 2;
/**
 * Request kind: the cache write-back of r5 bytes from logical address r4
 * (the kernel's pmem flush of a region; see storage/cpu_cache.ts). No bytes pass.
 */
export const DAX_WRITEBACK = 3;
/** r3 of a DAX access that touched unmapped memory (a machine check). */
export const DAX_FAULT = -1;
/** r3 of a DAX request the hypervisor cannot take (bad kind or length). */
export const DAX_REFUSED = -2;
/**
 * r3 of a DAX access (or write-back) the host could not complete on the
 * device's backing: an uncorrectable error, a machine check on the range
 * (core/dax.ts `MediaError`). r4 is the length of the host's message, in
 * UTF-8 at the start of the bounce buffer (at most {@link DAX_MEDIA_TEXT_BYTES}).
 */
export const DAX_MEDIA_ERROR = -3;
/** The most bytes of a host's message a {@link DAX_MEDIA_ERROR} answer carries. */
export const DAX_MEDIA_TEXT_BYTES = 1024;
/** Bytes in an LPAR's bounce buffer: the most one DAX request copies. */
export const DAX_BUFFER_BYTES = 64 * 1024;
/**
 * Header word: how the hypervisor looks at this channel, so the guest knows
 * what to ring as it asks: 0 (cold: rarely, so ring {@link COLD_BELL} and
 * {@link BELL}), {@link HOT_WATCHED} or {@link HOT_AWAKE}. The hypervisor
 * thus looks at the quiet channels only when one of them asked, not every
 * time it is about to sleep, and a guest that streams hcalls to an awake
 * hypervisor rings nothing. Written by the hypervisor only; a guest that
 * lies in its own only delays itself.
 */
export const HOT = 8;
/**
 * {@link HOT} value: looked at on every pass, but the hypervisor may be
 * asleep or about to sleep: ring {@link BELL}. A channel says this as it
 * becomes hot, and every one marked {@link HOT_AWAKE} says it again before
 * the hypervisor looks at them one last time and sleeps.
 */
export const HOT_WATCHED = 1;
/**
 * {@link HOT} value: looked at on every pass by a hypervisor that is awake
 * (it marks a channel so as it answers it awake, and looks at every channel
 * it marked so again before it can sleep), so a request needs no ring. A
 * ring is a notify on the shared doorbell, which takes the process's one
 * futex lock: on every hcall, for a hypervisor that spins anyway.
 */
export const HOT_AWAKE = 2;
/**
 * Bytes of padding before the channel and after it. A SharedArrayBuffer this
 * small shares the malloc heap with whatever is allocated next to it (its
 * LPAR's bounce buffer, another LPAR's channel), and a write to a cache line
 * another thread reads moves the line: 64 bytes each side keep every 64-byte
 * line the channel uses to itself, so another LPAR's hcalls do not move it.
 * (A CPU that fetches lines in pairs may still bring a neighbour's along.)
 */
export const CHANNEL_PAD = 64;
/** Header size in 32-bit words (nine used, one so the registers are 8-aligned). */
export const HEADER_WORDS = 10;
/**
 * Byte offset of the registers (r3 first, then r4..r12), just after the
 * header: a call that passes a few registers writes only the header and the
 * bytes next to it, one or two cache lines (a buffer's place in a line is the
 * allocator's, not ours). Each side writes a zero only over a non-zero
 * register, so the lines of registers no call uses stay where both read them.
 */
export const REGS_OFFSET = CHANNEL_PAD + HEADER_WORDS * 4;
/** Registers in the file: r3..r12. */
export const REG_COUNT = 10;
/** Bytes in one channel buffer, padding included. */
export const CHANNEL_BYTES = REGS_OFFSET + REG_COUNT * 8 + CHANNEL_PAD;

/** Doorbell word: bumped (and notified) by every request. */
export const BELL = 0;
/**
 * Doorbell word: bumped whenever a turn passes to another LPAR. Guests held
 * back sleep on it; the guest that just lost its turn bumps it as it goes to
 * sleep, so the next one wakes on the core being freed.
 */
export const TURN = 1;
/**
 * Doorbell word: bumped by a request on a channel whose {@link HOT} word was
 * zero, before {@link BELL}. The hypervisor scans the quiet channels when it
 * changed, and, awake, at least every `COLD_LOOK_MS` whatever it says; a
 * guest still waiting after its 20 ms sleep rings again, which wakes it. A
 * guest that tampers with this word can delay another's first request by
 * about those two, never lose it.
 */
export const COLD_BELL = 2;
/** Bytes in the doorbell buffer. */
export const DOORBELL_BYTES = 12;

/** A channel's typed views over its buffer. */
export interface ChannelViews {
  header: Int32Array;
  regs: BigUint64Array;
}

/** Makes a fresh channel buffer. */
export function createChannel(): SharedArrayBuffer {
  return new SharedArrayBuffer(CHANNEL_BYTES);
}

/** Makes a fresh bounce buffer for an LPAR's DAX accesses. */
export function createDaxBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(DAX_BUFFER_BYTES);
}

/** Makes a fresh doorbell buffer. */
export function createDoorbell(): SharedArrayBuffer {
  return new SharedArrayBuffer(DOORBELL_BYTES);
}

/** Views over a channel buffer. */
export function channelViews(buffer: SharedArrayBuffer): ChannelViews {
  return {
    header: new Int32Array(buffer, CHANNEL_PAD, HEADER_WORDS),
    regs: new BigUint64Array(buffer, REGS_OFFSET, REG_COUNT),
  };
}
