/**
 * Scenario files: a configuration and a list of steps (life-cycle actions,
 * DLPAR, data, raw hcalls) and expectations, as JSON, so a regression test
 * of a driver change needs no TypeScript. This module reads and checks them;
 * `run_file.ts` runs them. Every field is checked before anything starts: an
 * error names the field's path, the value and what is accepted.
 *
 * @example
 * ```ts
 * import { parseScenario } from "./file.ts";
 * const scenario = parseScenario({
 *   name: "5.3 rebinds after kexec",
 *   config: { lpars: [{ name: "lpar1", kernel: "5.3", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }] },
 *   steps: [
 *     { do: "boot", lpar: "lpar1" },
 *     { do: "kexec", lpar: "lpar1" },
 *     { expect: "dmesg", lpar: "lpar1", contains: ["bind err: -68"] },
 *   ],
 * }, "inline");
 * ```
 * @module
 */
import { H, OP } from "../abi/hcalls.ts";
import { HEALTH } from "../abi/health.ts";
import {
  ConfigError,
  loadConfigFile,
  type NvdimmConfig,
  type PanicAtConfig,
  parseDrc,
  resolveConfig,
  resolveNvdimm,
  resolvePanicAt,
  type SystemConfig,
  unreadable,
} from "../actors/config.ts";
import { excerpt } from "../actors/excerpt.ts";
import type { LparState } from "../actors/lpar.ts";
import { KERNEL_VERSIONS, type KernelVersion } from "../guest/papr_scm/mod.ts";
import { type RuntimeKind, RUNTIMES } from "../runtime/types.ts";

/** Most steps in one scenario file. */
export const MAX_SCENARIO_STEPS = 1000;
/** Most bytes one `write` or `read` step moves. */
export const MAX_PATTERN_BYTES = 1 << 20;
/** Most entries in one list of a step (dmesg lines, hcall patterns, arguments, names). */
export const MAX_STEP_LIST = 1000;
/** Most characters of one string of a step (a dmesg line, a pattern tag, a note). */
export const MAX_STEP_TEXT = 1000;
/** Most bytes of a scenario file. */
export const MAX_SCENARIO_FILE_BYTES = 4 << 20;

/** A bad scenario file; the message names the field's path, the value and what is accepted. */
export class ScenarioError extends ConfigError {
  /** Makes the error; `message` says where, what and what is accepted. */
  constructor(message: string) {
    super(message);
    this.name = "ScenarioError";
  }
}

/** Fields every step may have. */
export interface StepCommon {
  /** A note printed with the step. */
  note?: string;
}

/** Fields every action may have. */
export interface ActionCommon extends StepCommon {
  /**
   * The action is expected to fail with an error whose message contains this
   * text (the step fails if it succeeds or fails otherwise).
   */
  fails?: string;
}

/** boot, kexec or reboot an LPAR, optionally into another kernel or panicking at a point. */
export interface LifeStep extends ActionCommon {
  /** boot: activate; kexec: replace the running kernel without unbinding; reboot: restart. */
  do: "boot" | "kexec" | "reboot";
  /** The LPAR's name. */
  lpar: string;
  /** The kernel to run (default: the LPAR's current, at first its configured one). */
  kernel?: KernelVersion;
  /** Panic right after this hcall's nth call, e.g. `{ "hcall": "H_SCM_BIND_MEM", "nth": 2 }`. */
  panicAt?: PanicAtConfig;
}

/** kexec of a kdump kernel into a panicked LPAR. */
export interface KdumpStep extends ActionCommon {
  /** kdump: the LPAR must be panicked (else the step fails). */
  do: "kdump";
  /** The LPAR's name. */
  lpar: string;
  /** The kdump kernel (default: the panicked one's version). */
  kernel?: KernelVersion;
}

/** Panic or shut down an LPAR. */
export interface StopStep extends ActionCommon {
  /** panic: at once (a busy kernel at its next hcall); shutdown: the hypervisor releases. */
  do: "panic" | "shutdown";
  /** The LPAR's name. */
  lpar: string;
}

/** DLPAR add of an nvdimm to an LPAR. */
export interface DlparAddStep extends ActionCommon {
  /** dlpar-add. */
  do: "dlpar-add";
  /** The LPAR's name. */
  lpar: string;
  /** The nvdimm, as in a configuration. */
  nvdimm: NvdimmConfig;
}

/** DLPAR remove of an nvdimm from an LPAR. */
export interface DlparRemoveStep extends ActionCommon {
  /** dlpar-remove. */
  do: "dlpar-remove";
  /** The LPAR's name. */
  lpar: string;
  /** DRC index, a number or a hex string. */
  drc: number | string;
}

/** DLPAR move of an nvdimm from one LPAR to another. */
export interface DlparMoveStep extends ActionCommon {
  /** dlpar-move. */
  do: "dlpar-move";
  /** DRC index, a number or a hex string. */
  drc: number | string;
  /** The LPAR it leaves. */
  from: string;
  /** The LPAR it joins. */
  to: string;
}

/** Write a pattern into a region, or read it back and compare. */
export interface DataStep extends ActionCommon {
  /** write: the pattern's bytes; read: reads and compares (an expectation). */
  do: "write" | "read";
  /** The LPAR's name. */
  lpar: string;
  /** `"region0"`, or the DRC index of its nvdimm (a number or `"0x44100002"`). */
  region: string | number;
  /** Byte offset in the region (default 0). */
  offset?: number;
  /** Bytes (default 4096, at most MAX_PATTERN_BYTES). */
  length?: number;
  /** A tag the bytes are made from: the same tag and length give the same bytes. */
  pattern: string;
  /** read: whether the bytes must equal the pattern (default true) or differ. */
  matches?: boolean;
}

/** One raw hcall from inside an LPAR. */
export interface HcallStep extends ActionCommon {
  /** hcall. */
  do: "hcall";
  /** The LPAR's name. */
  lpar: string;
  /** Hcall name (`H_SCM_BIND_MEM`) or opcode. */
  hcall: string | number;
  /** r4 onwards: numbers, or strings in hex (`"0x44100002"`) or decimal for 64-bit values. */
  args?: Array<number | string>;
  /** Expected return code name, e.g. `H_SUCCESS` (an expectation). */
  rc?: string;
}

/** Set a DRC's health bits at the hypervisor. */
export interface HealthStep extends ActionCommon {
  /** set-health. */
  do: "set-health";
  /** DRC index, a number or a hex string. */
  drc: number | string;
  /** Health bit names, e.g. `["HEALTH_FATAL"]`; `[]` clears. */
  bits: string[];
}

/** An action step. */
export type ActionStep =
  | LifeStep
  | KdumpStep
  | StopStep
  | DlparAddStep
  | DlparRemoveStep
  | DlparMoveStep
  | DataStep
  | HcallStep
  | HealthStep;

/** The regions an LPAR's kernel has. */
export interface RegionsExpectation extends StepCommon {
  /** regions. */
  expect: "regions";
  /** The LPAR's name. */
  lpar: string;
  /** How many. */
  count?: number;
  /** Their device names, in order, e.g. `["region0"]`. */
  devs?: string[];
  /** The DRC indexes behind them, in order. */
  drcs?: Array<number | string>;
}

/** Lines of an LPAR's current kernel log. */
export interface DmesgExpectation extends StepCommon {
  /** dmesg. */
  expect: "dmesg";
  /** The LPAR's name. */
  lpar: string;
  /** Texts each found in some line. */
  contains?: string[];
  /** Texts found in no line. */
  absent?: string[];
}

/** An hcall and, optionally, its return code name. */
export type HcallPattern = string | { hcall: string; rc?: string };

/** The hcalls answered during the last action step. */
export interface HcallsExpectation extends StepCommon {
  /** hcalls. */
  expect: "hcalls";
  /** Only this LPAR's hcalls (default: every LPAR's). */
  lpar?: string;
  /** Patterns, in order: found in that order (others may come between), or exactly. */
  sequence: HcallPattern[];
  /** The hcalls must be exactly the sequence (default false: in order, others between). */
  exact?: boolean;
  /**
   * hcalls left out before matching, by name (e.g. the label reads every dimm
   * probe makes, `H_SCM_READ_METADATA`, around a binding sequence).
   */
  ignore?: string[];
}

/** An LPAR's state. */
export interface StateExpectation extends StepCommon {
  /** state. */
  expect: "state";
  /** The LPAR's name. */
  lpar: string;
  /** The state, e.g. `running`, `panicked`, `shut down`. */
  is: LparState;
}

/** Blocks in the hypervisor's binding table. */
export interface BindingsExpectation extends StepCommon {
  /** bindings. */
  expect: "bindings";
  /** Only this DRC's blocks. */
  drc?: number | string;
  /** Only blocks bound to this LPAR. */
  lpar?: string;
  /** How many blocks. */
  blocks: number;
}

/** The hypervisor's invariants hold. */
export interface InvariantsExpectation extends StepCommon {
  /** invariants. */
  expect: "invariants";
}

/** An expectation step. */
export type ExpectationStep =
  | RegionsExpectation
  | DmesgExpectation
  | HcallsExpectation
  | StateExpectation
  | BindingsExpectation
  | InvariantsExpectation;

/** One step of a scenario. */
export type ScenarioStep = ActionStep | ExpectationStep;

/** A scenario file's content. */
export interface ScenarioFile {
  /** What it shows, one line. */
  name: string;
  /** Longer text, printed with the report. */
  description?: string;
  /** The system: inline, or a configuration file's path (relative to the scenario file). */
  config: SystemConfig | string;
  /** Runtime (default threads; `--runtime` overrides). */
  runtime?: RuntimeKind;
  /** Seed of the sim runtime (default 1; `--seed` overrides). */
  seed?: number;
  /** The steps, in order. */
  steps: ScenarioStep[];
}

/** A checked scenario: its configuration loaded. */
export interface LoadedScenario extends ScenarioFile {
  /** The configuration, loaded and checked. */
  config: SystemConfig;
  /** Where it came from (a path, or what the caller named it). */
  source: string;
  /** The configuration file's path, when `config` named one. */
  configPath?: string;
}

function fail(path: string, value: unknown, accepted: string): never {
  throw new ScenarioError(`${path}: ${excerpt(value)} is not valid; expected ${accepted}`);
}

function object(path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, value, "an object");
  }
  return value as Record<string, unknown>;
}

function checkKeys(path: string, o: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!keys.includes(key)) {
      throw new ScenarioError(`${path}: unknown key ${excerpt(key)}; accepted: ${keys.join(", ")}`);
    }
  }
}

function text(path: string, value: unknown, what = "a string"): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_STEP_TEXT) {
    fail(path, value, `${what} of 1 to ${MAX_STEP_TEXT} characters`);
  }
  return value;
}

function count(path: string, value: unknown, max: number, min = 0): number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    fail(path, value, `an integer from ${min} to ${max}`);
  }
  return value as number;
}

function list(path: string, value: unknown, min = 0): unknown[] {
  if (!Array.isArray(value) || value.length < min || value.length > MAX_STEP_LIST) {
    fail(path, value, `an array of ${min} to ${MAX_STEP_LIST} entries`);
  }
  return value;
}

function oneOf<T extends string>(path: string, value: unknown, accepted: readonly T[]): T {
  if (typeof value !== "string" || !(accepted as readonly string[]).includes(value)) {
    fail(path, value, `one of ${accepted.join(", ")}`);
  }
  return value as T;
}

function drc(path: string, value: unknown): void {
  try {
    parseDrc(path, value);
  } catch (error) {
    throw new ScenarioError((error as Error).message);
  }
}

const HCALL_NAMES = Object.keys(OP);
const RC_NAMES = Object.keys(H).map((n) => `H_${n}`);
const STATES: readonly LparState[] = [
  "not activated",
  "running",
  "panicked",
  "halted",
  "shut down",
  "crashed",
];

/** The accepted keys of each action, besides `do`, `note` and `fails`. */
const ACTIONS: Record<ActionStep["do"], readonly string[]> = {
  boot: ["lpar", "kernel", "panicAt"],
  kexec: ["lpar", "kernel", "panicAt"],
  reboot: ["lpar", "kernel", "panicAt"],
  kdump: ["lpar", "kernel"],
  panic: ["lpar"],
  shutdown: ["lpar"],
  "dlpar-add": ["lpar", "nvdimm"],
  "dlpar-remove": ["lpar", "drc"],
  "dlpar-move": ["drc", "from", "to"],
  write: ["lpar", "region", "offset", "length", "pattern"],
  read: ["lpar", "region", "offset", "length", "pattern", "matches"],
  hcall: ["lpar", "hcall", "args", "rc"],
  "set-health": ["drc", "bits"],
};

/** The accepted keys of each expectation, besides `expect` and `note`. */
const EXPECTATIONS: Record<ExpectationStep["expect"], readonly string[]> = {
  regions: ["lpar", "count", "devs", "drcs"],
  dmesg: ["lpar", "contains", "absent"],
  hcalls: ["lpar", "sequence", "exact", "ignore"],
  state: ["lpar", "is"],
  bindings: ["drc", "lpar", "blocks"],
  invariants: [],
};

/** Every action's name. */
export const SCENARIO_ACTIONS: readonly string[] = Object.keys(ACTIONS);
/** Every expectation's name. */
export const SCENARIO_EXPECTATIONS: readonly string[] = Object.keys(EXPECTATIONS);

/** A 64-bit register value: a safe integer, or a hex or decimal string. */
function register(path: string, value: unknown): void {
  const ok = typeof value === "number"
    ? Number.isSafeInteger(value) && value >= 0
    : typeof value === "string" && /^(0x[0-9a-f]{1,16}|\d{1,20})$/i.test(value) &&
      BigInt(value) < 1n << 64n;
  if (!ok) {
    fail(path, value, 'an integer from 0, or a 64-bit value as a string ("0x44100002")');
  }
}

function checkStep(path: string, value: unknown, lpars: readonly string[]): ScenarioStep {
  const o = object(path, value);
  const lpar = (key: string, v: unknown) => {
    if (typeof v !== "string" || !lpars.includes(v)) {
      fail(`${path}.${key}`, v, `an LPAR of the configuration: ${lpars.join(", ")}`);
    }
  };
  if (o.note !== undefined) text(`${path}.note`, o.note);
  if ("do" in o === "expect" in o) {
    throw new ScenarioError(
      `${path}: a step has either "do" (${SCENARIO_ACTIONS.join(", ")}) or "expect" ` +
        `(${SCENARIO_EXPECTATIONS.join(", ")}), not ${"do" in o ? "both" : "neither"}`,
    );
  }
  if ("do" in o) {
    const kind = oneOf(`${path}.do`, o.do, SCENARIO_ACTIONS as ActionStep["do"][]);
    checkKeys(path, o, ["do", "note", "fails", ...ACTIONS[kind]]);
    if (o.fails !== undefined) text(`${path}.fails`, o.fails);
    for (const key of ["lpar", "from", "to"]) if (key in o) lpar(key, o[key]);
    if (ACTIONS[kind].includes("lpar") && o.lpar === undefined) lpar("lpar", o.lpar);
    if (o.kernel !== undefined) oneOf(`${path}.kernel`, o.kernel, KERNEL_VERSIONS);
    if (o.panicAt !== undefined) {
      try {
        resolvePanicAt(`${path}.panicAt`, o.panicAt);
      } catch (error) {
        throw new ScenarioError((error as Error).message);
      }
    }
    switch (kind) {
      case "dlpar-add":
        try {
          resolveNvdimm(`${path}.nvdimm`, o.nvdimm, "sim");
        } catch (error) {
          throw new ScenarioError((error as Error).message);
        }
        break;
      case "dlpar-move":
        if (o.from === undefined) lpar("from", o.from);
        if (o.to === undefined) lpar("to", o.to);
        if (o.from === o.to) fail(`${path}.to`, o.to, `an LPAR other than "from"`);
        drc(`${path}.drc`, o.drc);
        break;
      case "dlpar-remove":
        drc(`${path}.drc`, o.drc);
        break;
      case "write":
      case "read":
        if (typeof o.region !== "number" || !Number.isSafeInteger(o.region)) {
          if (
            typeof o.region !== "string" || !/^(region\d{1,6}|0x[0-9a-f]{1,8})$/i.test(o.region)
          ) {
            fail(
              `${path}.region`,
              o.region,
              'a region name ("region0") or a DRC index (a number or "0x44100002")',
            );
          }
        }
        if (o.offset !== undefined) count(`${path}.offset`, o.offset, Number.MAX_SAFE_INTEGER);
        if (o.length !== undefined) count(`${path}.length`, o.length, MAX_PATTERN_BYTES, 1);
        text(`${path}.pattern`, o.pattern);
        if (o.matches !== undefined && typeof o.matches !== "boolean") {
          fail(`${path}.matches`, o.matches, "true or false");
        }
        break;
      case "hcall": {
        const op = o.hcall;
        const known = typeof op === "string"
          ? HCALL_NAMES.includes(op)
          : Number.isSafeInteger(op) && (op as number) >= 0 && (op as number) <= 0xFFFF_FFFF;
        if (!known) {
          fail(`${path}.hcall`, op, `an hcall name (${HCALL_NAMES.join(", ")}) or a 32-bit opcode`);
        }
        if (o.args !== undefined) {
          const args = list(`${path}.args`, o.args);
          if (args.length > 9) fail(`${path}.args`, o.args, "at most 9 arguments (r4..r12)");
          args.forEach((a, i) => register(`${path}.args[${i}]`, a));
        }
        if (o.rc !== undefined) oneOf(`${path}.rc`, o.rc, RC_NAMES);
        break;
      }
      case "set-health":
        drc(`${path}.drc`, o.drc);
        list(`${path}.bits`, o.bits).forEach((b, i) =>
          oneOf(`${path}.bits[${i}]`, b, Object.keys(HEALTH))
        );
        break;
    }
    return o as unknown as ActionStep;
  }
  const kind = oneOf(
    `${path}.expect`,
    o.expect,
    SCENARIO_EXPECTATIONS as ExpectationStep["expect"][],
  );
  checkKeys(path, o, ["expect", "note", ...EXPECTATIONS[kind]]);
  const needsLpar = ["regions", "dmesg", "state"].includes(kind);
  if (needsLpar || o.lpar !== undefined) lpar("lpar", o.lpar);
  switch (kind) {
    case "regions":
      if (o.count === undefined && o.devs === undefined && o.drcs === undefined) {
        throw new ScenarioError(`${path}: expect regions needs count, devs or drcs`);
      }
      if (o.count !== undefined) count(`${path}.count`, o.count, MAX_STEP_LIST);
      if (o.devs !== undefined) {
        list(`${path}.devs`, o.devs).forEach((d, i) => text(`${path}.devs[${i}]`, d));
      }
      if (o.drcs !== undefined) {
        list(`${path}.drcs`, o.drcs).forEach((d, i) => drc(`${path}.drcs[${i}]`, d));
      }
      break;
    case "dmesg":
      if (o.contains === undefined && o.absent === undefined) {
        throw new ScenarioError(`${path}: expect dmesg needs contains or absent`);
      }
      for (const key of ["contains", "absent"]) {
        if (o[key] !== undefined) {
          list(`${path}.${key}`, o[key], 1).forEach((t, i) => text(`${path}.${key}[${i}]`, t));
        }
      }
      break;
    case "hcalls":
      list(`${path}.sequence`, o.sequence).forEach((p, i) =>
        hcallPattern(`${path}.sequence[${i}]`, p)
      );
      if (o.exact !== undefined && typeof o.exact !== "boolean") {
        fail(`${path}.exact`, o.exact, "true or false");
      }
      if (o.ignore !== undefined) {
        list(`${path}.ignore`, o.ignore, 1).forEach((n, i) =>
          oneOf(`${path}.ignore[${i}]`, n, HCALL_NAMES)
        );
      }
      break;
    case "state":
      oneOf(`${path}.is`, o.is, STATES);
      break;
    case "bindings":
      if (o.drc !== undefined) drc(`${path}.drc`, o.drc);
      count(`${path}.blocks`, o.blocks, Number.MAX_SAFE_INTEGER);
      break;
  }
  return o as unknown as ExpectationStep;
}

function hcallPattern(path: string, value: unknown): void {
  if (typeof value === "string") {
    oneOf(path, value, HCALL_NAMES);
    return;
  }
  const o = object(path, value);
  checkKeys(path, o, ["hcall", "rc"]);
  oneOf(`${path}.hcall`, o.hcall, HCALL_NAMES);
  if (o.rc !== undefined) oneOf(`${path}.rc`, o.rc, RC_NAMES);
}

/**
 * Checks a scenario value (parsed JSON). `source` names it in messages. The
 * configuration must be inline here; `loadScenarioFile` also takes a path.
 */
export function parseScenario(value: unknown, source: string): LoadedScenario {
  try {
    const o = object("scenario", value);
    checkKeys("scenario", o, ["name", "description", "config", "runtime", "seed", "steps"]);
    const name = text("name", o.name);
    if (o.description !== undefined) text("description", o.description);
    if (o.runtime !== undefined) oneOf("runtime", o.runtime, RUNTIMES);
    if (o.seed !== undefined) count("seed", o.seed, Number.MAX_SAFE_INTEGER);
    if (typeof o.config === "string") {
      throw new ScenarioError(
        `config: a path (${excerpt(o.config)}) needs a file to be relative to; ` +
          `use loadScenarioFile, or give the configuration inline`,
      );
    }
    const config = object("config", o.config) as unknown as SystemConfig;
    let lpars: string[];
    try {
      lpars = resolveConfig(config, o.runtime as RuntimeKind | undefined ?? "sim").lpars.map((l) =>
        l.name
      );
    } catch (error) {
      throw new ScenarioError((error as Error).message);
    }
    const steps = list("steps", o.steps, 1);
    if (steps.length > MAX_SCENARIO_STEPS) {
      fail("steps", `${steps.length} steps`, `at most ${MAX_SCENARIO_STEPS} steps`);
    }
    return {
      ...(o as unknown as ScenarioFile),
      name,
      config,
      steps: steps.map((s, i) => checkStep(`steps[${i}]`, s, lpars)),
      source,
    };
  } catch (error) {
    if (error instanceof ConfigError) throw new ScenarioError(`${source}: ${error.message}`);
    throw error;
  }
}

/** Where `path` points, relative to the directory of the file `from`. */
function besides(from: string, path: string): string {
  if (path.startsWith("/")) return path;
  const slash = from.lastIndexOf("/");
  return slash < 0 ? path : `${from.slice(0, slash + 1)}${path}`;
}

/**
 * Reads a scenario file and checks it; a `config` path is read relative to
 * the scenario file. Errors name the file and the field.
 * @example
 * ```ts
 * import { loadScenarioFile } from "./file.ts";
 * const scenario = await loadScenarioFile("scenarios/files/kexec-5.3.json");
 * console.log(scenario.steps.length);
 * ```
 */
export async function loadScenarioFile(path: string): Promise<LoadedScenario> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new ScenarioError(`${path}: cannot read the scenario file: ${unreadable(error)}`);
  }
  if (bytes.length > MAX_SCENARIO_FILE_BYTES) {
    throw new ScenarioError(
      `${path}: ${bytes.length} bytes; a scenario file has at most ${MAX_SCENARIO_FILE_BYTES}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new ScenarioError(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  const o = value as Record<string, unknown> | null;
  if (typeof o === "object" && o !== null && typeof o.config === "string") {
    const configPath = besides(path, o.config);
    const config = await loadConfigFile(configPath).catch((error: Error) => {
      throw new ScenarioError(`${path}: config: ${error.message}`);
    });
    return { ...parseScenario({ ...o, config }, path), configPath };
  }
  return parseScenario(value, path);
}
