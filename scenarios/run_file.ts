/**
 * Runs a scenario file's steps on a fresh managed system and reports each
 * step and expectation. An action that throws (unless it declared `fails`)
 * ends the run: the steps after it are reported as skipped. A failed
 * expectation does not: the run goes on, so one run shows every failure.
 *
 * @example
 * ```ts
 * import { loadScenarioFile } from "./file.ts";
 * import { formatScenarioRun, runScenario } from "./run_file.ts";
 * const run = await runScenario(await loadScenarioFile("scenarios/files/kexec-5.3.json"));
 * console.log(formatScenarioRun(run), run.ok);
 * ```
 * @module
 */
import { opByName } from "../abi/hcalls.ts";
import { parseDrc } from "../actors/config.ts";
import type { Lpar } from "../actors/lpar.ts";
import { type HcallTrace, ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import type { RuntimeKind } from "../runtime/types.ts";
import type {
  ActionStep,
  ExpectationStep,
  HcallPattern,
  LoadedScenario,
  ScenarioStep,
} from "./file.ts";
import type { Scenario, ScenarioOptions } from "./registry.ts";

/** How a step went. */
export type StepVerdict = "ok" | "failed" | "error" | "skipped";

/** One step's outcome. */
export interface StepOutcome {
  /** 1-based, as printed. */
  number: number;
  /** What the step is, in words, e.g. `kexec lpar1 (5.3)`. */
  title: string;
  /** ok; failed (an expectation did not hold); error (an action threw); skipped. */
  verdict: StepVerdict;
  /** What was found, or why it failed. */
  details: string[];
}

/** A scenario's run. */
export interface ScenarioRun {
  /** The scenario's name. */
  name: string;
  /** Where it came from. */
  source: string;
  /** The runtime it ran on, and the seed on sim. */
  runtime: RuntimeKind;
  /** The sim runtime's seed. */
  seed?: number;
  /** Each step, in order. */
  steps: StepOutcome[];
  /** True when every step was ok. */
  ok: boolean;
}

/** The bytes of a pattern: the same tag and length give the same bytes. */
export function patternBytes(tag: string, length: number): Uint8Array {
  const t = new TextEncoder().encode(tag);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 131 + t[i % t.length] + (i >> 8)) & 0xFF;
  return bytes;
}

/** A DRC index, as the hypervisor prints it. */
const hex = (drc: number | string) => `0x${parseDrc("drc", drc).toString(16)}`;

/** A region as the API takes it: `regionN`, or a DRC index (hex strings read as numbers). */
const regionKey = (region: string | number) =>
  typeof region === "string" && /^0x/i.test(region) ? parseDrc("region", region) : region;

/** A step in words. */
export function stepTitle(step: ScenarioStep): string {
  if ("expect" in step) {
    switch (step.expect) {
      case "regions":
        return `expect regions of ${step.lpar}: ${
          [
            step.count === undefined ? "" : `${step.count}`,
            step.devs ? step.devs.join(", ") : "",
            step.drcs ? `drcs ${step.drcs.map(hex).join(", ")}` : "",
          ].filter(Boolean).join("; ")
        }`;
      case "dmesg":
        return `expect dmesg of ${step.lpar}: ` + [
          ...(step.contains ?? []).map((t) => `has ${JSON.stringify(t)}`),
          ...(step.absent ?? []).map((t) => `lacks ${JSON.stringify(t)}`),
        ].join(", ");
      case "hcalls":
        return `expect hcalls${step.lpar ? ` of ${step.lpar}` : ""}${
          step.exact ? " (exactly)" : ""
        }${step.ignore ? ` ignoring ${step.ignore.join(", ")}` : ""}: ${
          step.sequence.map(patternText).join(", ") || "none"
        }`;
      case "state":
        return `expect ${step.lpar} ${step.is}`;
      case "bindings":
        return `expect ${step.blocks} bound blocks${
          step.drc === undefined ? "" : ` of ${hex(step.drc)}`
        }${step.lpar ? ` to ${step.lpar}` : ""}`;
      case "invariants":
        return "expect the hypervisor's invariants to hold";
    }
  }
  const s = step as ActionStep;
  const kernel = "kernel" in s && s.kernel ? ` (${s.kernel})` : "";
  const panicAt = "panicAt" in s && s.panicAt
    ? `, panic after ${s.panicAt.hcall} #${s.panicAt.nth}`
    : "";
  switch (s.do) {
    case "boot":
    case "kexec":
    case "reboot":
    case "kdump":
      return `${s.do} ${s.lpar}${kernel}${panicAt}`;
    case "panic":
    case "shutdown":
      return `${s.do} ${s.lpar}`;
    case "dlpar-add":
      return `dlpar add ${hex(s.nvdimm.drc)} to ${s.lpar}`;
    case "dlpar-remove":
      return `dlpar remove ${hex(s.drc)} from ${s.lpar}`;
    case "dlpar-move":
      return `dlpar move ${hex(s.drc)} from ${s.from} to ${s.to}`;
    case "write":
    case "read":
      return `${s.do} ${JSON.stringify(s.pattern)} ${s.do === "write" ? "to" : "from"} ${s.lpar} ` +
        `${s.region} at ${s.offset ?? 0} (${s.length ?? 4096} bytes)` +
        (s.do === "read" && s.matches === false ? ", expecting other bytes" : "");
    case "hcall":
      return `hcall ${s.hcall} from ${s.lpar}` + (s.rc ? `, expecting ${s.rc}` : "");
    case "set-health":
      return `set health of ${hex(s.drc)}: ${s.bits.join(", ") || "none"}`;
  }
}

function patternText(p: HcallPattern): string {
  return typeof p === "string" ? p : p.rc ? `${p.hcall}→${p.rc}` : p.hcall;
}

/** Whether `trace` holds the patterns in order (others between), or exactly. */
function matchHcalls(trace: HcallTrace[], sequence: HcallPattern[], exact: boolean): boolean {
  const fits = (t: HcallTrace, p: HcallPattern) =>
    typeof p === "string" ? t.hcall === p : t.hcall === p.hcall && (!p.rc || t.rc === p.rc);
  if (exact) return trace.length === sequence.length && trace.every((t, i) => fits(t, sequence[i]));
  let next = 0;
  for (const t of trace) if (next < sequence.length && fits(t, sequence[next])) next++;
  return next === sequence.length;
}

/** Most hcalls of a step printed when an hcall expectation fails. */
const SHOWN_HCALLS = 40;

/** What the runner keeps between steps. */
interface RunState {
  system: ManagedSystem;
  /** The hcalls answered during the last action step. */
  lastHcalls: HcallTrace[];
}

/** An LPAR after a life-cycle step: its kernel, its state and, running, its regions. */
async function lifeLine(lpar: Lpar): Promise<string> {
  if (lpar.state !== "running") return `${lpar.name}: ${lpar.kernel}, ${lpar.state}`;
  const regions = (await lpar.regions()).map((r) => r.dev);
  return `${lpar.name}: ${lpar.kernel}, running, regions: ${regions.join(", ") || "none"}`;
}

/** Runs an action; its details (what it did). Throws what the action threw. */
async function act(state: RunState, step: ActionStep): Promise<string[]> {
  const { system } = state;
  const lpar = (name: string): Lpar => system.lpar(name);
  switch (step.do) {
    case "boot":
    case "kexec":
    case "reboot": {
      const options = {
        ...(step.kernel ? { kernel: step.kernel } : {}),
        ...(step.panicAt ? { panicAt: step.panicAt } : {}),
      };
      await lpar(step.lpar)[step.do](options);
      return [await lifeLine(lpar(step.lpar))];
    }
    case "kdump": {
      const target = lpar(step.lpar);
      if (target.state !== "panicked") {
        throw new Error(`${step.lpar} is ${target.state}; kdump needs a panicked kernel`);
      }
      await target.kexec(step.kernel ? { kernel: step.kernel } : {});
      return [await lifeLine(target)];
    }
    case "panic":
      await lpar(step.lpar).panic();
      return [await lifeLine(lpar(step.lpar))];
    case "shutdown": {
      const released = await lpar(step.lpar).shutdown();
      return [`${step.lpar}: shut down; the hypervisor released ${released} blocks`];
    }
    case "dlpar-add":
      return [(await system.dlparAdd(step.lpar, step.nvdimm)).message];
    case "dlpar-remove":
      return [(await system.dlparRemove(step.lpar, step.drc)).message];
    case "dlpar-move": {
      const { removed, added } = await system.dlparMove(step.drc, step.from, step.to);
      return [removed.message, added.message];
    }
    case "write":
      await lpar(step.lpar).write(
        regionKey(step.region),
        step.offset ?? 0,
        patternBytes(step.pattern, step.length ?? 4096),
      );
      return [];
    case "read":
    case "hcall":
    case "set-health":
      if (step.do === "set-health") {
        await system.setHealth(parseDrc("drc", step.drc), step.bits);
        return [];
      }
      throw new Error(`${step.do} is checked, not acted`); // handled by check()
  }
}

/** Checks an expectation (or a read or hcall step); what failed, empty when it held. */
async function check(
  state: RunState,
  step: ExpectationStep | ActionStep,
): Promise<{ failures: string[]; details: string[] }> {
  const { system } = state;
  const failures: string[] = [];
  const details: string[] = [];
  if ("do" in step && step.do === "read") {
    const length = step.length ?? 4096;
    const back = await system.lpar(step.lpar).read(
      regionKey(step.region),
      step.offset ?? 0,
      length,
    );
    const want = patternBytes(step.pattern, length);
    const first = back.findIndex((b, i) => b !== want[i]);
    const matches = first < 0;
    if (matches !== (step.matches ?? true)) {
      failures.push(
        matches
          ? "the bytes read are the pattern; expected other bytes"
          : `the bytes differ from the pattern from byte ${first} ` +
            `(read 0x${back[first].toString(16)}, pattern 0x${want[first].toString(16)})`,
      );
    }
    return { failures, details };
  }
  if ("do" in step && step.do === "hcall") {
    const op = typeof step.hcall === "string" ? opByName(step.hcall)! : step.hcall;
    const args = (step.args ?? []).map((a) => BigInt(a));
    const answer = await system.lpar(step.lpar).hcall(op, ...args);
    details.push(
      `${answer.rcName}; r4..: ${
        answer.rets.slice(0, 3).map((r) => `0x${r.toString(16)}`).join(" ")
      }`,
    );
    if (step.rc && answer.rcName !== step.rc) {
      failures.push(`returned ${answer.rcName}, not ${step.rc}`);
    }
    return { failures, details };
  }
  const e = step as ExpectationStep;
  switch (e.expect) {
    case "regions": {
      const regions = await system.lpar(e.lpar).regions();
      const devs = regions.map((r) => r.dev);
      const drcs = regions.map((r) => hex(r.drc));
      details.push(`regions: ${devs.join(", ") || "none"}`);
      if (e.count !== undefined && regions.length !== e.count) {
        failures.push(`${regions.length} regions (${devs.join(", ") || "none"}), not ${e.count}`);
      }
      if (e.devs && devs.join() !== e.devs.join()) {
        failures.push(`regions ${devs.join(", ") || "none"}, not ${e.devs.join(", ")}`);
      }
      if (e.drcs && drcs.join() !== e.drcs.map(hex).join()) {
        failures.push(`drcs ${drcs.join(", ") || "none"}, not ${e.drcs.map(hex).join(", ")}`);
      }
      break;
    }
    case "dmesg": {
      const lines = await system.lpar(e.lpar).dmesg();
      for (const t of e.contains ?? []) {
        if (!lines.some((l) => l.includes(t))) failures.push(`no line has ${JSON.stringify(t)}`);
      }
      for (const t of e.absent ?? []) {
        const line = lines.find((l) => l.includes(t));
        if (line !== undefined) failures.push(`a line has ${JSON.stringify(t)}: ${line}`);
      }
      if (failures.length) details.push(...lines.slice(-8).map((l) => `  ${l}`));
      break;
    }
    case "hcalls": {
      const trace = state.lastHcalls.filter((t) =>
        (!e.lpar || t.lpar === e.lpar) && !e.ignore?.includes(t.hcall)
      );
      if (!matchHcalls(trace, e.sequence, e.exact === true)) {
        failures.push(
          `the last action's hcalls do not ${
            e.exact ? "equal" : "contain, in order,"
          } the sequence`,
        );
        const shown = trace.slice(0, SHOWN_HCALLS).map((t) => `${t.hcall}→${t.rc}`);
        details.push(
          `they were (${trace.length}): ${shown.join(", ") || "none"}` +
            (trace.length > SHOWN_HCALLS ? ", …" : ""),
        );
      }
      break;
    }
    case "state": {
      const is = system.lpar(e.lpar).state;
      if (is !== e.is) failures.push(`${e.lpar} is ${is}, not ${e.is}`);
      break;
    }
    case "bindings": {
      const drc = e.drc === undefined ? undefined : parseDrc("drc", e.drc);
      const table = (await system.bindings()).filter((b) =>
        b.state === "bound" && (drc === undefined || b.drc === drc) &&
        (!e.lpar || b.lpar === e.lpar)
      );
      if (table.length !== e.blocks) failures.push(`${table.length} blocks bound, not ${e.blocks}`);
      break;
    }
    case "invariants": {
      const broken = await system.invariants();
      failures.push(...broken.map((b) => `invariant broken: ${b}`));
      break;
    }
  }
  return { failures, details };
}

/** How the runtime and seed are chosen: the caller's, else the file's, else threads. */
function startOf(scenario: LoadedScenario, start: StartOptions): StartOptions {
  const runtime = start.runtime ?? scenario.runtime;
  const seed = start.seed ?? (runtime === "sim" ? scenario.seed : undefined);
  return { ...start, runtime, seed };
}

/**
 * Runs a checked scenario on a fresh system (stopped before this returns).
 * `start` overrides the file's runtime and seed.
 */
export async function runScenario(
  scenario: LoadedScenario,
  start: StartOptions = {},
): Promise<ScenarioRun> {
  const options = startOf(scenario, start);
  await using system = await ManagedSystem.start(scenario.config, options);
  const state: RunState = { system, lastHcalls: [] };
  const steps: StepOutcome[] = [];
  let stopped = false;
  for (const [i, step] of scenario.steps.entries()) {
    const outcome: StepOutcome = {
      number: i + 1,
      title: stepTitle(step) + (step.note ? ` — ${step.note}` : ""),
      verdict: "ok",
      details: [],
    };
    steps.push(outcome);
    if (stopped) {
      outcome.verdict = "skipped";
      continue;
    }
    const acts = "do" in step;
    if (acts) await system.traceStart();
    try {
      const expected = acts ? (step as ActionStep).fails : undefined;
      try {
        if (acts && !["read", "hcall"].includes((step as ActionStep).do)) {
          outcome.details.push(...await act(state, step as ActionStep));
        } else {
          const { failures, details } = await check(state, step);
          outcome.details.push(...details);
          if (failures.length) {
            outcome.verdict = "failed";
            outcome.details.unshift(...failures);
          }
        }
        if (expected !== undefined) {
          outcome.verdict = "failed";
          outcome.details.unshift(`it succeeded; expected it to fail with "${expected}"`);
        }
      } catch (error) {
        const message = (error as Error).message;
        if (expected === undefined) throw error;
        if (!message.includes(expected)) {
          outcome.verdict = "failed";
          outcome.details.unshift(`it failed with "${message}", not "${expected}"`);
        } else {
          outcome.details.push(`failed as expected: ${message}`);
        }
      }
    } catch (error) {
      outcome.verdict = "error";
      outcome.details.unshift(`${(error as Error).message}; the steps after it are skipped`);
      stopped = true;
    } finally {
      if (acts) state.lastHcalls = await system.traceTake().catch(() => []);
    }
  }
  return {
    name: scenario.name,
    source: scenario.source,
    runtime: system.runtime,
    seed: system.runtime === "sim" ? options.seed ?? 1 : undefined,
    steps,
    ok: steps.every((s) => s.verdict === "ok"),
  };
}

/** A run as a person reads it: one line per step, details indented, then a summary. */
export function formatScenarioRun(run: ScenarioRun): string {
  const how = run.runtime === "sim" ? `sim runtime, seed ${run.seed}` : "threads runtime";
  const lines = [`scenario: ${run.name} (${run.source}; ${how})`];
  const label: Record<StepVerdict, string> = {
    ok: "ok   ",
    failed: "FAIL ",
    error: "ERROR",
    skipped: "skip ",
  };
  for (const s of run.steps) {
    lines.push(`  ${label[s.verdict]} ${String(s.number).padStart(3)}  ${s.title}`);
    for (const d of s.details) lines.push(`              ${d}`);
  }
  const by = (v: StepVerdict) => run.steps.filter((s) => s.verdict === v).length;
  lines.push(
    run.ok
      ? `ok: all ${run.steps.length} steps passed`
      : `FAILED: ${by("ok")} ok, ${by("failed")} failed, ${by("error")} errors, ` +
        `${by("skipped")} skipped, of ${run.steps.length} steps`,
  );
  return lines.join("\n");
}

/**
 * A checked scenario as a registry entry, so `scenario <name>` runs it.
 * @example
 * ```ts
 * import { loadScenarioFile } from "./file.ts";
 * import { registerScenario } from "./registry.ts";
 * import { fileScenario } from "./run_file.ts";
 * registerScenario(fileScenario("my-bug", await loadScenarioFile("my-bug.json")));
 * ```
 */
export function fileScenario(name: string, scenario: LoadedScenario): Scenario {
  return {
    name,
    summary: scenario.name,
    options: [],
    async run(options: ScenarioOptions) {
      const run = await runScenario(scenario, (options.start ?? {}) as StartOptions);
      return { text: formatScenarioRun(run), json: run, ok: run.ok };
    },
  };
}
