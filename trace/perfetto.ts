/**
 * Renders timelines as Chrome/Perfetto trace-event JSON (the JSON Object
 * Format: `{"traceEvents": [...]}`), which ui.perfetto.dev and
 * chrome://tracing open. Per system: a process for the hypervisor, with a
 * track per LPAR it serves and its counters (bound blocks, health bits and
 * the persistence-failed count per nvdimm), and a process per LPAR with a
 * `kernel` track (life-cycle operations) and an `hcalls` track (each hcall
 * as a complete event named by the hcall, with its registers). A flow
 * arrow (`s` and `f` events with one id) joins an LPAR's hcall to the
 * hypervisor's serving of it. Times are microseconds (`ts`, `dur`), from
 * whole nanoseconds, so one run renders to the same bytes every time.
 * @module
 */
import { OP, opName, rcName } from "../abi/hcalls.ts";
import { HEALTH } from "../abi/health.ts";
import { lparHcalls } from "./join.ts";
import type { SystemTrace } from "./session.ts";
import type { HcallSpan } from "./types.ts";

/** Process ids: system n's hypervisor is n * PID_STRIDE, its LPAR id i is n * PID_STRIDE + i. */
export const PID_STRIDE = 10_000;
/** Track (tid) of an LPAR's life-cycle operations. */
export const KERNEL_TID = 1;
/** Track (tid) of an LPAR's hcalls. */
export const HCALLS_TID = 2;
/** Registers shown per hcall: r4 to r12. */
const SHOWN_REGISTERS = 9;

/** µs from ns, through whole ns (one value, one rendering). */
function us(ns: number): number {
  return Math.round(ns) / 1000;
}

/** A duration in µs, through whole ns. */
function dur(start: number, end: number): number {
  return (Math.round(end) - Math.round(start)) / 1000;
}

const hex = (v: bigint) => `0x${BigInt.asUintN(64, v).toString(16)}`;

/** r4.. as named hex strings, padded with zeros to r12 as the channel carries them. */
function registers(values: readonly bigint[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < SHOWN_REGISTERS; i++) out[`r${i + 4}`] = hex(values[i] ?? 0n);
  return out;
}

/** Where an hcall carries a continue-token: its input register index (r4 = 0); output is r4. */
const TOKEN_ARG: Record<number, number> = {
  [OP.H_SCM_BIND_MEM]: 4,
  [OP.H_SCM_UNBIND_MEM]: 3,
  [OP.H_SCM_UNBIND_ALL]: 2,
  [OP.H_SCM_FLUSH]: 1,
};

/** The arguments an hcall slice shows. */
function hcallArgs(h: HcallSpan): Record<string, unknown> {
  const args: Record<string, unknown> = {
    rc: rcName(h.rc),
    "rc value": h.rc,
    in: registers(h.args),
    out: registers(h.rets),
  };
  const token = TOKEN_ARG[h.opcode];
  if (token !== undefined) {
    args["continue-token in"] = hex(h.args[token] ?? 0n);
    args["continue-token out"] = hex(h.rets[0] ?? 0n);
  }
  return args;
}

/** Health bits set in `bitmap`, as a counter's series (1 set, 0 clear). */
function healthSeries(bitmap: bigint): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, bit] of Object.entries(HEALTH)) out[name] = (bitmap & bit) !== 0n ? 1 : 0;
  return out;
}

/** The trace-event JSON of `systems`; `truncation` lines become a marker event and `otherData`. */
export function formatPerfetto(
  systems: readonly SystemTrace[],
  truncation: readonly string[],
): string {
  const events: unknown[] = [];
  let flowId = 0;
  let lastTs = 0;
  systems.forEach((system, index) => {
    const base = (index + 1) * PID_STRIDE;
    const prefix = systems.length > 1 ? `${system.label}: ` : "";
    const meta = (name: string, pid: number, tid: number, args: Record<string, unknown>) =>
      events.push({ name, ph: "M", pid, tid, args });
    meta("process_name", base, 0, { name: `${prefix}hypervisor (${system.personality})` });
    meta("process_sort_index", base, 0, { sort_index: base });
    for (const { id, name } of system.lpars) {
      meta("thread_name", base, id, { name: `serving ${name}` });
      meta("thread_sort_index", base, id, { sort_index: id });
      meta("process_name", base + id, 0, { name: `${prefix}${name}` });
      meta("process_sort_index", base + id, 0, { sort_index: base + id });
      meta("thread_name", base + id, KERNEL_TID, { name: "kernel" });
      meta("thread_sort_index", base + id, KERNEL_TID, { sort_index: KERNEL_TID });
      meta("thread_name", base + id, HCALLS_TID, { name: "hcalls" });
      meta("thread_sort_index", base + id, HCALLS_TID, { sort_index: HCALLS_TID });
    }
    const pidOf = new Map(system.lpars.map(({ id, name }) => [name, base + id]));
    for (const op of system.ops) {
      const pid = pidOf.get(op.lpar);
      if (pid === undefined) continue;
      events.push({
        name: op.name,
        cat: "lifecycle",
        ph: "X",
        ts: us(op.start),
        dur: dur(op.start, op.end),
        pid,
        tid: KERNEL_TID,
        args: { outcome: op.outcome },
      });
      lastTs = Math.max(lastTs, us(op.end));
    }
    for (const { id } of system.lpars) {
      const { joined, unpaired } = lparHcalls(system, id);
      for (const { guest, hv } of joined) {
        const name = opName(guest.opcode);
        const args = hcallArgs(guest);
        events.push({
          name,
          cat: "hcall",
          ph: "X",
          ts: us(guest.start),
          dur: dur(guest.start, guest.end),
          pid: base + id,
          tid: HCALLS_TID,
          args,
        });
        lastTs = Math.max(lastTs, us(guest.end));
        if (!hv) continue;
        events.push({
          name,
          cat: "hypervisor",
          ph: "X",
          ts: us(hv.start),
          dur: dur(hv.start, hv.end),
          pid: base,
          tid: id,
          args: { rc: rcName(hv.rc) },
        });
        const flow = ++flowId;
        events.push({
          name: "hvsc",
          cat: "hcall",
          ph: "s",
          id: flow,
          ts: us(guest.start),
          pid: base + id,
          tid: HCALLS_TID,
        });
        events.push({
          name: "hvsc",
          cat: "hcall",
          ph: "f",
          bp: "e",
          id: flow,
          ts: us(hv.start),
          pid: base,
          tid: id,
        });
      }
      for (const hv of unpaired) {
        events.push({
          name: opName(hv.opcode),
          cat: "hypervisor",
          ph: "X",
          ts: us(hv.start),
          dur: dur(hv.start, hv.end),
          pid: base,
          tid: id,
          args: { rc: rcName(hv.rc), paired: "no (the guest's record was lost)" },
        });
      }
    }
    for (const c of system.hypervisor.counters) {
      const drc = `0x${c.drc.toString(16)}`;
      events.push({
        name: `${drc} ${c.what}`,
        cat: "counter",
        ph: "C",
        ts: us(c.ts),
        pid: base,
        args: c.what === "health" ? healthSeries(c.value) : { value: Number(c.value) },
      });
    }
  });
  const other: Record<string, unknown> = {
    source: "papr-scm-sim",
    clock: systems.every((s) => s.runtime === "sim")
      ? "virtual (sim runtime)"
      : "real, shared by every thread",
  };
  if (truncation.length) {
    other.truncated = truncation;
    events.push({
      name: `TRACE TRUNCATED: ${truncation.join("; ")}`,
      cat: "trace",
      ph: "i",
      s: "g",
      ts: lastTs,
      pid: PID_STRIDE,
      tid: 0,
    });
  }
  return `{"traceEvents":[\n${events.map((e) => JSON.stringify(e)).join(",\n")}\n],` +
    `"displayTimeUnit":"ns","otherData":${JSON.stringify(other)}}\n`;
}
