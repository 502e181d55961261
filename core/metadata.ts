/**
 * The label (metadata) area: the checks and byte order both personalities
 * share. QEMU's order is the model (PowerVM's documented return codes are
 * the same set): length first, then range, read-only and data width.
 * Values travel in registers as big-endian numbers of 1, 2, 4 or 8 bytes.
 * @module
 */
import { H } from "../abi/hcalls.ts";
import type { DrcState } from "./state.ts";

/** Outcome of a metadata access: a return code and, for a read, the value. */
export interface MetadataResult {
  rc: number;
  value: bigint;
}

function validLength(length: bigint): boolean {
  return length === 1n || length === 2n || length === 4n || length === 8n;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Whether [offset, offset + length) lies inside the label area (`length` is a valid one). */
function inRange(drc: DrcState, offset: bigint, length: bigint): boolean {
  // No 64-bit wrap-around: an offset past any safe number lies past the end too.
  return offset <= MAX_SAFE && Number(offset) + Number(length) <= drc.spec.metadataSize;
}

/** `n` (at most 4) bytes from `start` as a big-endian number. */
function bigEndian(bytes: Uint8Array, start: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + bytes[start + i];
  return v;
}

/** READ_METADATA after the DRC check: bad length → H_P3, out of range → H_P2. */
export function readMetadata(drc: DrcState, offset: bigint, length: bigint): MetadataResult {
  if (!validLength(length)) return { rc: H.P3, value: 0n };
  if (!inRange(drc, offset, length)) return { rc: H.P2, value: 0n };
  const bytes = drc.metadata, start = Number(offset), n = Number(length);
  // Big-endian, gathered as numbers of at most 32 bits: one bigint made, or three.
  let value: bigint;
  if (n <= 4) value = BigInt(bigEndian(bytes, start, n));
  else value = (BigInt(bigEndian(bytes, start, 4)) << 32n) | BigInt(bigEndian(bytes, start + 4, 4));
  drc.counters.metadataReads++;
  return { rc: H.SUCCESS, value };
}

/**
 * WRITE_METADATA after the DRC check: bad length → H_P4; out of range or
 * read-only → H_P2; data wider than the length → H_P2.
 */
export function writeMetadata(
  drc: DrcState,
  offset: bigint,
  data: bigint,
  length: bigint,
): number {
  if (!validLength(length)) return H.P4;
  if (!inRange(drc, offset, length) || drc.spec.readOnly) return H.P2;
  const bits = length * 8n;
  if (data >> bits !== 0n) return H.P2;
  const start = Number(offset);
  for (let i = Number(length) - 1, v = data; i >= 0; i--, v >>= 8n) {
    drc.metadata[start + i] = Number(v & 0xFFn);
  }
  drc.counters.metadataWrites++;
  return H.SUCCESS;
}
