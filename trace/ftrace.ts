/**
 * The guests' hcalls as Linux's powerpc tracepoints print them, so a run can
 * be compared line by line with a `trace-cmd` capture on a real partition.
 * In arch/powerpc/include/asm/trace.h (Linux v5.2 to v5.4, the versions
 * simulated here) `hcall_entry` prints `opcode=%lu` and `hcall_exit`
 * `opcode=%lu retval=%lu`: decimal opcodes and the return code as an
 * unsigned 64-bit number (H_OVERLAP, -68, prints 18446744073709551548).
 * Later kernels declare retval `long` and print it with `%ld`.
 * @module
 */
import type { SystemTrace } from "./session.ts";
import { lparHcalls } from "./join.ts";

/** Seconds with six decimals from ns, as ftrace stamps events (integer arithmetic). */
export function ftraceSeconds(ns: number): string {
  const us = Math.round(Math.max(0, ns) / 1000);
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, "0")}`;
}

/** The return code as `%lu` prints a C long: two's complement, 64 bits. */
export function unsignedRetval(rc: number): string {
  return BigInt.asUintN(64, BigInt(rc)).toString();
}

/** One tracepoint line: task-pid, CPU, flags, timestamp, event and its fields. */
function line(task: string, pid: number, ns: number, event: string): string {
  return `${task.padStart(16)}-${String(pid).padEnd(5)} [000] .... ` +
    `${ftraceSeconds(ns).padStart(12)}: ${event}`;
}

/** The hcall tracepoints of every LPAR (or only `lpar`), one section per LPAR. */
export function formatFtrace(systems: readonly SystemTrace[], options: { lpar?: string }): string {
  const out: string[] = [];
  for (const system of systems) {
    for (const { id, name } of system.lpars) {
      if (options.lpar !== undefined && options.lpar !== name) continue;
      const lines: Array<[number, number, string]> = [];
      for (const { guest: h } of lparHcalls(system, id).joined) {
        lines.push([h.start, 0, line(name, id, h.start, `hcall_entry: opcode=${h.opcode}`)]);
        lines.push([
          h.end,
          1,
          line(name, id, h.end, `hcall_exit: opcode=${h.opcode} retval=${unsignedRetval(h.rc)}`),
        ]);
      }
      out.push(`# tracer: nop (${systems.length > 1 ? `${system.label}: ` : ""}${name})`);
      out.push("#           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION");
      for (const [, , text] of lines) out.push(text);
    }
  }
  return out.join("\n");
}
