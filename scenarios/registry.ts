/**
 * Named scenarios for the CLI: each takes parsed options and gives text and
 * a JSON value.
 * @module
 */

/** Options every scenario may receive (from the command line). */
export interface ScenarioOptions {
  /** `--kernel`, unchecked. */
  kernel?: string;
  /** `--hypervisor`, unchecked. */
  hypervisor?: string;
  /** `--lpars`, checked: 1 to 256. */
  lpars?: number;
  /** `--config`'s configuration, loaded and checked. */
  config?: unknown;
  /** `--runtime` and `--seed`, as ManagedSystem.start takes them. */
  start?: unknown;
  /** Any other option the scenario declared, as given. */
  [key: string]: unknown;
}

/** What a scenario gives back. */
export interface ScenarioOutput {
  /** What the CLI prints. */
  text: string;
  /** What the CLI prints with `--json`. */
  json: unknown;
  /** False when the scenario found a failure: the CLI's exit code is then 1. */
  ok?: boolean;
}

/** A named scenario. */
export interface Scenario {
  /** Its name on the command line: letters, digits and dashes. */
  name: string;
  /** One line for `scenario list`. */
  summary: string;
  /** Option names it understands, for help and checking (besides json, runtime, seed). */
  options: string[];
  /** Runs it with the options the command line gave. */
  run(options: ScenarioOptions): Promise<ScenarioOutput>;
}

/** Most scenarios in the registry. */
export const MAX_SCENARIOS = 1000;

const scenarios = new Map<string, Scenario>();

/**
 * Adds a scenario to the registry, so `scenario <name>` runs it. A name
 * taken, a bad name or a full registry is a RangeError.
 * @example
 * ```ts
 * import { registerScenario } from "./registry.ts";
 * registerScenario({
 *   name: "hello",
 *   summary: "says hello",
 *   options: [],
 *   run: () => Promise.resolve({ text: "hello", json: "hello" }),
 * });
 * ```
 */
export function registerScenario(scenario: Scenario): void {
  const { name } = scenario ?? {};
  if (typeof name !== "string" || !/^[a-z0-9][a-z0-9-]{0,63}$/i.test(name)) {
    throw new RangeError(
      `registerScenario: name ${JSON.stringify(name)}: expected 1 to 64 letters, digits or dashes`,
    );
  }
  if (typeof scenario.run !== "function" || !Array.isArray(scenario.options)) {
    throw new RangeError(`registerScenario: "${name}" needs run() and an options array`);
  }
  if (scenarios.has(name)) {
    throw new RangeError(`registerScenario: "${name}" is already registered`);
  }
  if (scenarios.size >= MAX_SCENARIOS) {
    throw new RangeError(`registerScenario: ${MAX_SCENARIOS} scenarios are registered, the most`);
  }
  scenarios.set(name, scenario);
}

/** A scenario by name; the error lists the known ones. */
export function getScenario(name: string): Scenario {
  const s = scenarios.get(name);
  if (!s) {
    throw new RangeError(
      `unknown scenario "${name}"; known: ${[...scenarios.keys()].join(", ")}`,
    );
  }
  return s;
}

/** Every registered scenario. */
export function listScenarios(): Scenario[] {
  return [...scenarios.values()];
}
