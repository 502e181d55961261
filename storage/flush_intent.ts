/**
 * The unflushed mark's record (`drc-<index>.unflushed`, one 4 KiB page) and
 * the flush intent it can carry, which makes the persistence-failed count
 * exact when the process is killed inside a flush.
 *
 * The mark names the power-on epoch in which the device began to hold
 * stores that are not durable; found naming the current epoch at power-on,
 * it says data may have been lost. A kill inside a flush, after the last
 * line reached the file but before the mark was cleared, loses nothing, yet
 * a plain mark cannot tell. So before a batch of lines is written that
 * leaves the device holding nothing volatile (the write-back of a normal
 * device; H_SCM_FLUSH completing on an hcall-flush device with no dirty line
 * left) the mark becomes an intent: the epoch, each line's index and its
 * whole 64-byte content, and a CRC-32 over the record, in one `write(2)` at
 * offset 0 of the page. Then the lines are written, then the mark is
 * cleared. The power-on that finds an intent for the current epoch reads
 * each listed line from the SCM file: all equal means nothing was lost (no
 * count, the mark is cleared); any difference is a loss, counted as before.
 *
 * Why that judgement is exact:
 * - no other store can land during the batch: the hypervisor's store path
 *   is single-threaded (one actor, or the sim's one thread), so the batch is
 *   written between two DAX accesses;
 * - every volatile line of the device is in the batch (that is when an
 *   intent is written), so "every listed line is on the media" is "nothing
 *   volatile was lost";
 * - a line whose media bytes equal its cached content lost nothing: the
 *   definition a power loss uses (`lineAfterLoss` in storage/power_loss.ts);
 *   the record holds the content itself, so the comparison is byte for byte,
 *   no digest collision to reason about.
 *
 * A kill cannot split the record: it is at most one page at a page-aligned
 * offset, and Linux checks for a fatal signal only between the page-sized
 * chunks of a buffered write (mm/filemap.c, `generic_perform_write`). Should
 * one be torn or garbled anyway, its CRC fails and it is judged as a plain
 * mark (a loss when it names the current epoch), whatever its fields say:
 * the CRC is checked before any field. A record whose CRC holds and whose
 * fields are out of their range is not one of ours: the store refuses it.
 *
 * The limit: an intent holds at most `INTENT_MAX_LINES` (56) lines, what
 * fits in the page. A settling flush of more lines keeps the plain mark, so a
 * kill after its last line and before the clear is still counted as a loss
 * (conservatively). So is a kill after a full cache evicted a device's last
 * volatile line: an eviction is no settling flush, and the mark stays set
 * until the device's next flush clears it.
 *
 * Layout (little-endian): u32 epoch (0 when clear), u32 kind (0 clear,
 * 1 mark, 2 intent), u32 line count (intent only), u32 CRC-32 of bytes
 * 0..12 and the entries; then per line a u64 line index and 64 bytes. The
 * older format (a 4-byte file holding only the epoch) is read as a plain
 * mark.
 * @module
 */
import { LINE_BYTES } from "./cpu_cache.ts";

/** Bytes of the mark file: one page. */
export const MARK_BYTES = 4096;
/** Bytes of the older mark file: the epoch alone. */
export const LEGACY_MARK_BYTES = 4;
const HEADER_BYTES = 16;
const ENTRY_BYTES = 8 + LINE_BYTES;
/** Lines one flush intent can hold (what fits in the page): 56. */
export const INTENT_MAX_LINES = Math.floor((MARK_BYTES - HEADER_BYTES) / ENTRY_BYTES);

const KIND = { clear: 0, mark: 1, intent: 2 } as const;

/** What a mark file says. */
export type Mark =
  | { kind: "clear" }
  /** Stores not durable since `epoch` (or a record that failed its CRC: judged the same). */
  | { kind: "mark"; epoch: number; torn: boolean }
  /** A settling flush of `lines` began in `epoch`. */
  | { kind: "intent"; epoch: number; lines: Array<{ line: number; bytes: Uint8Array }> };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (the IEEE polynomial, as zlib's) of the header's first 12 bytes and the entries. */
function recordCrc(record: Uint8Array, entries: number): number {
  let c = 0xFFFFFFFF;
  for (let i = 0; i < 12; i++) c = CRC_TABLE[(c ^ record[i]) & 0xFF] ^ (c >>> 8);
  const end = HEADER_BYTES + entries * ENTRY_BYTES;
  for (let i = HEADER_BYTES; i < end; i++) c = CRC_TABLE[(c ^ record[i]) & 0xFF] ^ (c >>> 8);
  return (c ^ 0xFFFFFFFF) >>> 0;
}

function header(record: Uint8Array, epoch: number, kind: number, entries: number): Uint8Array {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint32(0, epoch, true);
  view.setUint32(4, kind, true);
  view.setUint32(8, entries, true);
  view.setUint32(12, recordCrc(record, entries), true);
  return record;
}

/** The 16 bytes that clear the mark. */
export function clearRecord(): Uint8Array {
  return header(new Uint8Array(HEADER_BYTES), 0, KIND.clear, 0);
}

/** The 16 bytes of a plain mark naming `epoch`. */
export function markRecord(epoch: number): Uint8Array {
  return header(new Uint8Array(HEADER_BYTES), epoch, KIND.mark, 0);
}

/**
 * The record of a flush intent, or undefined when the lines do not fit
 * (more than `INTENT_MAX_LINES`, or none). Built in `page` when given (a
 * buffer of `MARK_BYTES` the caller reuses: the flush path allocates
 * nothing), as a view of its start.
 */
export function intentRecord(
  epoch: number,
  lines: ReadonlyMap<number, Uint8Array>,
  page?: Uint8Array,
): Uint8Array | undefined {
  if (lines.size === 0 || lines.size > INTENT_MAX_LINES) return undefined;
  const length = HEADER_BYTES + lines.size * ENTRY_BYTES;
  if (page && page.length < MARK_BYTES) throw new RangeError(`page of ${page.length} bytes`);
  const record = page ? page.subarray(0, length) : new Uint8Array(length);
  const view = new DataView(record.buffer, record.byteOffset, length);
  let at = HEADER_BYTES;
  for (const [line, bytes] of lines) {
    if (bytes.length !== LINE_BYTES) throw new RangeError(`line ${line}: ${bytes.length} bytes`);
    // A u64 as two u32 halves (a line index is below 2^53).
    view.setUint32(at, line >>> 0, true);
    view.setUint32(at + 4, Math.floor(line / 2 ** 32), true);
    record.set(bytes, at + 8);
    at += ENTRY_BYTES;
  }
  return header(record, epoch, KIND.intent, lines.size);
}

/** A whole mark file (the page) holding `record`. */
export function markPage(record: Uint8Array): Uint8Array {
  const page = new Uint8Array(MARK_BYTES);
  page.set(record);
  return page;
}

/** What is wrong with a mark file of `length` bytes, or undefined. */
export function markSizeProblem(length: number): string | undefined {
  if (length === MARK_BYTES || length === LEGACY_MARK_BYTES) return undefined;
  return `is ${length} bytes, expected ${MARK_BYTES} (a mark record) or ` +
    `${LEGACY_MARK_BYTES} (the older format)`;
}

/**
 * Reads a mark file's bytes; a string saying what is wrong when they are
 * not a mark (wrong size, or a record whose CRC holds with a field out of
 * its range). A record that fails its CRC is a torn mark, not an error,
 * whatever its fields say.
 */
export function parseMark(bytes: Uint8Array, deviceLines: number): Mark | string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length === LEGACY_MARK_BYTES) {
    const epoch = view.getUint32(0, true);
    return epoch === 0 ? { kind: "clear" } : { kind: "mark", epoch, torn: false };
  }
  const wrongSize = markSizeProblem(bytes.length);
  if (wrongSize) return wrongSize;
  const epoch = view.getUint32(0, true), kind = view.getUint32(4, true);
  const entries = view.getUint32(8, true), crc = view.getUint32(12, true);
  // The CRC first: torn bytes are a torn mark whatever their fields say. It
  // covers the header, so a count past the page (torn, or not ours) is read
  // as the most the page holds; only a record whose CRC holds is not ours.
  if (recordCrc(bytes, Math.min(entries, INTENT_MAX_LINES)) !== crc) {
    return { kind: "mark", epoch, torn: true };
  }
  if (kind !== KIND.clear && kind !== KIND.mark && kind !== KIND.intent) {
    return `kind ${kind} at byte 4: expected 0 (clear), 1 (mark) or 2 (flush intent)`;
  }
  if (kind === KIND.intent ? entries < 1 || entries > INTENT_MAX_LINES : entries !== 0) {
    const want = kind === KIND.intent ? `1 to ${INTENT_MAX_LINES}` : "0";
    return `line count ${entries} at byte 8: expected ${want} for kind ${kind}`;
  }
  if (kind === KIND.clear) {
    return epoch === 0 ? { kind: "clear" } : `epoch ${epoch} in a clear record: expected 0`;
  }
  if (epoch === 0) return `epoch 0 in a kind ${kind} record: expected an epoch from 1`;
  if (kind === KIND.mark) return { kind: "mark", epoch, torn: false };
  const lines: Array<{ line: number; bytes: Uint8Array }> = [];
  for (let i = 0, at = HEADER_BYTES; i < entries; i++, at += ENTRY_BYTES) {
    const line = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
    if (line >= deviceLines) {
      return `flush intent entry ${i} names line ${line}: expected a line below ${deviceLines}`;
    }
    lines.push({ line, bytes: bytes.slice(at + 8, at + ENTRY_BYTES) });
  }
  return { kind: "intent", epoch, lines };
}
