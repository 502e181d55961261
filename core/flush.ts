/**
 * H_SCM_FLUSH, run "in the background" and polled with a continue-token.
 *
 * Deterministic: a flush completes once `flushLatencyNs` of injected time
 * (`env.now()`) has passed since it was requested; no timers, no I/O. As in
 * QEMU, the call that starts a flush always answers "pending" (QEMU's worker
 * can only complete after the hcall returns), tokens count up from 1 per
 * device, a completed flush's result is handed out once and its token is
 * then forgotten. Whether it fails is decided when it is requested, from the
 * device's `flushFailure` switch (control-plane fault injection).
 * @module
 */
import { H } from "../abi/hcalls.ts";
import type { CoreContext } from "./context.ts";
import type { DrcState } from "./state.ts";
import type { LparId } from "./types.ts";

/** What polling a flush token found. */
export type FlushStatus =
  | { state: "pending"; token: bigint; remainingNs: bigint }
  | { state: "done"; rc: number }
  | { state: "unknown" };

/** Starts a flush of `drc` for `lpar` and returns its token. */
export function startFlush(ctx: CoreContext, drc: DrcState, lpar: LparId): bigint {
  // Tokens are 64-bit; wrapping to 0 ("no flush") would take 2^64 flushes.
  drc.flushToken = BigInt.asUintN(64, drc.flushToken + 1n) || 1n;
  const token = drc.flushToken;
  drc.flushOps.set(token, { lpar, requestedAt: ctx.env.now(), fails: drc.flushFailure });
  drc.counters.flushes++;
  return token;
}

/**
 * Polls `token` on `drc` for `lpar`. A token of another LPAR is unknown to
 * the caller. `fresh` marks the call that started the flush: still pending.
 */
export function pollFlush(
  ctx: CoreContext,
  drc: DrcState,
  lpar: LparId,
  token: bigint,
  fresh = false,
): FlushStatus {
  const op = drc.flushOps.get(token);
  if (!op || op.lpar !== lpar) return { state: "unknown" };
  const elapsed = ctx.env.now() - op.requestedAt;
  if (fresh || elapsed < ctx.flushLatencyNs) {
    const left = ctx.flushLatencyNs - elapsed;
    return { state: "pending", token, remainingNs: left > 0n ? left : 0n };
  }
  drc.flushOps.delete(token);
  if (op.fails) drc.counters.flushFailures++;
  return { state: "done", rc: op.fails ? H.HARDWARE : H.SUCCESS };
}
