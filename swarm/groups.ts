/**
 * Which operations of a schedule start together. Operations marked `join`
 * join the group of the one before (their hcalls then interleave under the
 * seeded scheduler), unless they touch an LPAR already in it, are a second
 * data operation, or must run alone.
 * @module
 */
import type { SwarmOp } from "./types.ts";

/** Operations that run alone: they change the system under everybody, or use raw hcalls. */
export const EXCLUSIVE: ReadonlySet<SwarmOp["op"]> = new Set<SwarmOp["op"]>([
  "flushFailure",
  "health",
  "dlparAdd",
  "dlparRemove",
  "dlparMove",
  "scatter",
  "hole",
  "powerLoss",
]);

/** Data operations: one per group, so the model knows which write landed last. */
export const DATA: ReadonlySet<SwarmOp["op"]> = new Set<SwarmOp["op"]>(["write", "read"]);

/** The LPARs an operation touches. */
export function lparsOf(op: SwarmOp): string[] {
  return "lpar" in op ? [op.lpar] : "from" in op ? [op.from, op.to] : [];
}

/**
 * One line saying what an operation is, for messages.
 * @example
 * ```ts
 * import { describeOp } from "./groups.ts";
 * console.log(describeOp({ op: "kexec", lpar: "lpar2", kernel: "5.4" })); // "kexec lpar2 → 5.4"
 * ```
 */
export function describeOp(op: SwarmOp): string {
  const parts: string[] = [op.op, ...lparsOf(op)];
  if ("drc" in op) parts.push(String(op.drc));
  if ("kernel" in op && op.kernel) parts.push(`→ ${op.kernel}`);
  if ("panicAt" in op && op.panicAt) parts.push(`panicAt ${op.panicAt.hcall}#${op.panicAt.nth}`);
  if (op.op === "scatter") parts.push(op.shape);
  return parts.join(" ");
}

/**
 * Where the group of operations starting at `start` ends (exclusive).
 * @example
 * ```ts
 * import { groupEnd } from "./groups.ts";
 * const ops = [
 *   { op: "boot", lpar: "a" },
 *   { op: "boot", lpar: "b", join: true },
 *   { op: "kexec", lpar: "a", join: true },
 * ] as const;
 * console.log(groupEnd([...ops], 0)); // 2: the kexec of "a" waits for its boot
 * ```
 */
export function groupEnd(ops: readonly SwarmOp[], start: number): number {
  if (EXCLUSIVE.has(ops[start].op)) return start + 1;
  const lpars = new Set(lparsOf(ops[start]));
  let data = DATA.has(ops[start].op);
  let end = start + 1;
  for (; end < ops.length; end++) {
    const op = ops[end];
    if (!op.join || EXCLUSIVE.has(op.op) || (data && DATA.has(op.op))) break;
    const touched = lparsOf(op);
    if (touched.some((l) => lpars.has(l))) break;
    for (const l of touched) lpars.add(l);
    data ||= DATA.has(op.op);
  }
  return end;
}
