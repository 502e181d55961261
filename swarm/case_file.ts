/**
 * Case files: what `--record` writes and `--replay` reads. One case is a
 * {@link SwarmCase} object; several are `{ "swarm": 1, "cases": [...] }`.
 * Reading checks every field and says where a file is wrong and what is
 * accepted.
 * @module
 */
import { ConfigError, resolveConfig, resolveNvdimm } from "../actors/config.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import { CASE_FORMAT, FAULT_KINDS, OP_NAMES, type SwarmCase, type SwarmOp } from "./types.ts";

/** A case file that cannot be used; the message names the file, the field and what is accepted. */
export class CaseFileError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "CaseFileError";
  }
}

type Json = Record<string, unknown>;

function fail(path: string, value: unknown, accepted: string): never {
  throw new CaseFileError(`${path}: ${JSON.stringify(value)} is not valid; expected ${accepted}`);
}

function object(path: string, value: unknown): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, value, "an object");
  }
  return value as Json;
}

function wholeNumber(path: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    fail(path, value, "a whole number from 0");
  }
  return value as number;
}

function text(path: string, value: unknown, accepted = "a string"): string {
  if (typeof value !== "string") fail(path, value, accepted);
  return value;
}

/** The fields each operation takes, beyond `op` and `join`, and their checks. */
const FIELDS: Record<SwarmOp["op"], Record<string, (path: string, v: unknown) => void>> = (() => {
  const name = (p: string, v: unknown) => void text(p, v, "an LPAR name");
  const drc = (p: string, v: unknown) => {
    if (typeof v !== "string" || !/^0x[0-9a-f]{1,8}$/i.test(v)) {
      fail(p, v, 'a DRC index as a hex string, e.g. "0x44100002"');
    }
  };
  const n = (p: string, v: unknown) => void wholeNumber(p, v);
  const kernel = (p: string, v: unknown) => {
    if (!(KERNEL_VERSIONS as readonly unknown[]).includes(v)) {
      fail(p, v, `one of ${KERNEL_VERSIONS.join(", ")}`);
    }
  };
  const panicAt = (p: string, v: unknown) => {
    const o = object(p, v);
    text(`${p}.hcall`, o.hcall, "an hcall name");
    wholeNumber(`${p}.nth`, o.nth);
  };
  const bool = (p: string, v: unknown) => {
    if (typeof v !== "boolean") fail(p, v, "true or false");
  };
  const bits = (p: string, v: unknown) => {
    if (!Array.isArray(v) || v.some((b) => typeof b !== "string")) {
      fail(p, v, "an array of health bit names");
    }
  };
  const shape = (p: string, v: unknown) => {
    if (!["apart", "swapped", "prefix", "suffix"].includes(v as string)) {
      fail(p, v, '"apart", "swapped", "prefix" or "suffix"');
    }
  };
  const life = { lpar: name, "kernel?": kernel, "panicAt?": panicAt };
  return {
    boot: life,
    kexec: life,
    reboot: life,
    panic: { lpar: name },
    shutdown: { lpar: name },
    write: { lpar: name, pick: n, offset: n, length: n, byte: n, "edge?": n },
    read: { lpar: name, pick: n },
    flush: { lpar: name, pick: n },
    flushFailure: { drc, failing: bool },
    health: { drc, bits },
    dlparAdd: { lpar: name, drc },
    dlparRemove: { lpar: name, pick: n },
    dlparMove: { from: name, to: name, pick: n },
    scatter: { lpar: name, pick: n, shape, split: n, gap: n, "kernel?": kernel },
    hole: { lpar: name, pick: n, block: n },
    powerLoss: {
      mode: (p: string, v: unknown) => {
        if (!["none", "all", "subset", "torn"].includes(v as string)) {
          fail(p, v, '"none", "all", "subset" or "torn"');
        }
      },
    },
  };
})();

function checkOp(path: string, value: unknown): SwarmOp {
  const o = object(path, value);
  if (!(OP_NAMES as readonly unknown[]).includes(o.op)) {
    fail(`${path}.op`, o.op, `one of ${OP_NAMES.join(", ")}`);
  }
  const fields = FIELDS[o.op as SwarmOp["op"]];
  for (const key of Object.keys(o)) {
    if (key === "op" || key === "join") continue;
    if (!(key in fields) && !(`${key}?` in fields)) {
      const keys = ["op", "join", ...Object.keys(fields).map((k) => k.replace("?", ""))];
      throw new CaseFileError(
        `${path}: unknown key "${key}" for a ${o.op} operation; accepted keys: ${keys.join(", ")}`,
      );
    }
  }
  for (const [key, check] of Object.entries(fields)) {
    const optional = key.endsWith("?"), field = key.replace("?", "");
    if (o[field] === undefined) {
      if (!optional) throw new CaseFileError(`${path}: a ${o.op} operation needs "${field}"`);
      continue;
    }
    check(`${path}.${field}`, o[field]);
  }
  if (o.join !== undefined && typeof o.join !== "boolean") {
    fail(`${path}.join`, o.join, "true or false");
  }
  return o as unknown as SwarmOp;
}

/** Checks one case object (at `path`, for messages). */
export function checkCase(path: string, value: unknown): SwarmCase {
  const o = object(path, value);
  const keys = ["swarm", "seed", "system", "spares", "faults", "ops", "expect"];
  for (const key of Object.keys(o)) {
    if (!keys.includes(key)) {
      throw new CaseFileError(`${path}: unknown key "${key}"; accepted keys: ${keys.join(", ")}`);
    }
  }
  if (o.swarm !== CASE_FORMAT) fail(`${path}.swarm`, o.swarm, `${CASE_FORMAT} (the case format)`);
  wholeNumber(`${path}.seed`, o.seed);
  try {
    resolveConfig(o.system, "sim");
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new CaseFileError(`${path}.system: ${error.message}`);
    }
    throw error;
  }
  if (!Array.isArray(o.spares)) fail(`${path}.spares`, o.spares, "an array of nvdimms");
  o.spares.forEach((n, i) => {
    try {
      resolveNvdimm(`${path}.spares[${i}]`, n, "sim");
    } catch (error) {
      if (error instanceof ConfigError) throw new CaseFileError(error.message);
      throw error;
    }
  });
  const faults = object(`${path}.faults`, o.faults);
  for (const key of Object.keys(faults)) {
    if (!(FAULT_KINDS as readonly string[]).includes(key)) {
      throw new CaseFileError(
        `${path}.faults: unknown fault kind "${key}"; accepted: ${FAULT_KINDS.join(", ")}`,
      );
    }
    if (typeof faults[key] !== "boolean") {
      fail(`${path}.faults.${key}`, faults[key], "true or false");
    }
  }
  if (!Array.isArray(o.ops)) fail(`${path}.ops`, o.ops, "an array of operations");
  o.ops.forEach((op, i) => checkOp(`${path}.ops[${i}]`, op));
  if (o.expect !== undefined) {
    const e = object(`${path}.expect`, o.expect);
    text(`${path}.expect.traceHash`, e.traceHash, "16 hex digits");
    if (e.verdict !== "pass" && e.verdict !== "fail") {
      fail(`${path}.expect.verdict`, e.verdict, '"pass" or "fail"');
    }
  }
  return o as unknown as SwarmCase;
}

/**
 * Parses a case file's text: one case, or `{ "swarm": 1, "cases": [...] }`.
 * @example
 * ```ts
 * import { parseCases } from "./case_file.ts";
 * import { generateCase } from "./generate.ts";
 * const [c] = parseCases(JSON.stringify(generateCase(5)), "inline");
 * console.log(c.seed); // 5
 * ```
 */
export function parseCases(json: string, source: string): SwarmCase[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new CaseFileError(`${source}: not valid JSON: ${(error as Error).message}`);
  }
  try {
    const o = object("file", value);
    if ("cases" in o) {
      if (o.swarm !== CASE_FORMAT) fail("file.swarm", o.swarm, `${CASE_FORMAT} (the case format)`);
      if (!Array.isArray(o.cases) || o.cases.length === 0) {
        fail("file.cases", o.cases, "a non-empty array of cases");
      }
      return o.cases.map((c, i) => checkCase(`cases[${i}]`, c));
    }
    return [checkCase("case", value)];
  } catch (error) {
    if (error instanceof CaseFileError) throw new CaseFileError(`${source}: ${error.message}`);
    throw error;
  }
}

/**
 * Reads and checks a case file.
 * @example
 * ```ts ignore
 * const [shrunk] = await readCases("swarm-3-shrunk.json");
 * ```
 */
export async function readCases(path: string): Promise<SwarmCase[]> {
  let json: string;
  try {
    json = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new CaseFileError(`${path}: cannot read the case file: ${why}`);
  }
  return parseCases(json, path);
}

/**
 * Writes one case, or several in a `cases` wrapper, as JSON.
 * @example
 * ```ts ignore
 * await writeCases("recorded.json", [generateCase(1), generateCase(2)]);
 * ```
 */
export async function writeCases(path: string, cases: readonly SwarmCase[]): Promise<void> {
  const value = cases.length === 1 ? cases[0] : { swarm: CASE_FORMAT, cases };
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}
