import assert from "node:assert/strict";
import {
  ANSWERED,
  CHANNEL_BYTES,
  CHANNEL_PAD,
  channelViews,
  createChannel,
  DEFERRED,
  GUEST_WAITING,
  HEADER_WORDS,
  HOT,
  KIND,
  PANIC,
  REG_COUNT,
  REGS_OFFSET,
  REQ,
  RESP,
  STOP,
} from "../channel/layout.ts";

Deno.test("channel layout: header, then registers, with a cache line of padding each side", () => {
  const channel = createChannel();
  assert.equal(channel.byteLength, CHANNEL_BYTES);
  const { header, regs } = channelViews(channel);
  // No other allocation can share a cache line the channel uses.
  assert.ok(CHANNEL_PAD >= 64);
  assert.equal(header.byteOffset, CHANNEL_PAD);
  const end = regs.byteOffset + regs.byteLength;
  assert.equal(channel.byteLength - end, CHANNEL_PAD);
  // The registers follow the header at once, 8-aligned, all ten of them.
  assert.equal(regs.byteOffset, header.byteOffset + header.byteLength);
  assert.equal(regs.byteOffset, REGS_OFFSET);
  assert.equal(REGS_OFFSET % 8, 0);
  assert.equal(regs.length, REG_COUNT);
  // Every header word is inside the header, and no two share a place.
  const words = [REQ, RESP, GUEST_WAITING, DEFERRED, STOP, PANIC, ANSWERED, KIND, HOT];
  assert.equal(new Set(words).size, words.length);
  for (const w of words) assert.ok(w >= 0 && w < HEADER_WORDS, `word ${w}`);
  // The words a call touches come first: the header and r3..r5 in 64 bytes.
  assert.ok(REGS_OFFSET - CHANNEL_PAD + 3 * 8 <= 64);
});
