/**
 * Checks of a Chrome/Perfetto trace-event JSON, shared by the trace tests:
 * required fields per phase, nesting per track, flows.
 */
import assert from "node:assert/strict";

// deno-lint-ignore no-explicit-any
type Event = Record<string, any>;

/** Parses a trace and checks what every event of each phase must carry. */
export function checkTrace(json: string): Event[] {
  const trace = JSON.parse(json);
  assert.ok(Array.isArray(trace.traceEvents), "traceEvents is an array");
  const events: Event[] = trace.traceEvents;
  for (const e of events) {
    assert.equal(typeof e.name, "string", `name: ${JSON.stringify(e)}`);
    assert.equal(typeof e.ph, "string");
    assert.ok(Number.isInteger(e.pid), `pid: ${JSON.stringify(e)}`);
    if (e.ph === "M") {
      assert.ok(["process_name", "thread_name", "process_sort_index", "thread_sort_index"]
        .includes(e.name));
      assert.equal(typeof e.args, "object");
      continue;
    }
    assert.ok(typeof e.ts === "number" && e.ts >= 0, `ts: ${JSON.stringify(e)}`);
    if (e.ph === "X") {
      assert.ok(typeof e.dur === "number" && e.dur >= 0, `dur: ${JSON.stringify(e)}`);
      assert.ok(Number.isInteger(e.tid));
      assert.equal(typeof e.cat, "string");
    } else if (e.ph === "s" || e.ph === "f") {
      assert.ok(Number.isInteger(e.id) && Number.isInteger(e.tid));
      if (e.ph === "f") assert.equal(e.bp, "e");
    } else if (e.ph === "C") {
      assert.equal(typeof e.args, "object");
      for (const v of Object.values(e.args)) assert.equal(typeof v, "number");
    } else {
      assert.equal(e.ph, "i", `unexpected phase ${e.ph}`);
    }
  }
  return events;
}

/** Whole ns of a µs value (ts and dur come from whole ns). */
const ns = (us: number) => Math.round(us * 1000);

/** Slices on one track must nest: each starts after the last ended or ends inside it. */
export function checkNesting(events: Event[]): void {
  const tracks = new Map<string, Event[]>();
  for (const e of events.filter((e) => e.ph === "X")) {
    const key = `${e.pid}/${e.tid}`;
    tracks.set(key, [...(tracks.get(key) ?? []), e]);
  }
  for (const [key, slices] of tracks) {
    slices.sort((a, b) => ns(a.ts) - ns(b.ts) || ns(b.dur) - ns(a.dur));
    const open: number[] = [];
    for (const s of slices) {
      const start = ns(s.ts), end = ns(s.ts) + ns(s.dur);
      while (open.length && open[open.length - 1] <= start) open.pop();
      if (open.length) {
        assert.ok(
          end <= open[open.length - 1],
          `track ${key}: ${s.name} at ${s.ts} overlaps its enclosing slice without nesting`,
        );
      }
      open.push(end);
    }
  }
}

/** Each flow id: one start on an LPAR's hcall slice, one end on a hypervisor slice. */
export function checkFlows(events: Event[]): number {
  const byId = new Map<number, Event[]>();
  for (const e of events.filter((e) => e.ph === "s" || e.ph === "f")) {
    byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
  }
  const slices = events.filter((e) => e.ph === "X");
  const enclosing = (e: Event) =>
    slices.find((s) =>
      s.pid === e.pid && s.tid === e.tid && ns(s.ts) <= ns(e.ts) &&
      ns(e.ts) <= ns(s.ts) + ns(s.dur)
    );
  for (const [id, pair] of byId) {
    assert.deepEqual(pair.map((e) => e.ph).sort(), ["f", "s"], `flow ${id}: one s and one f`);
    const from = enclosing(pair.find((e) => e.ph === "s")!);
    const to = enclosing(pair.find((e) => e.ph === "f")!);
    assert.ok(from && from.cat === "hcall", `flow ${id} starts on an LPAR's hcall slice`);
    assert.ok(to && to.cat === "hypervisor", `flow ${id} ends on a hypervisor slice`);
    assert.equal(from.name, to.name, `flow ${id} joins one hcall`);
  }
  return byId.size;
}
