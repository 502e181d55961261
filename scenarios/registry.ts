/**
 * Named scenarios for the CLI: each takes parsed options and gives text and
 * a JSON value.
 * @module
 */

/** Options every scenario may receive (from the command line). */
export interface ScenarioOptions {
  kernel?: string;
  hypervisor?: string;
  lpars?: number;
  config?: unknown;
  [key: string]: unknown;
}

/** What a scenario gives back. */
export interface ScenarioOutput {
  text: string;
  json: unknown;
}

/** A named scenario. */
export interface Scenario {
  name: string;
  summary: string;
  /** Option names it understands, for help and checking. */
  options: string[];
  run(options: ScenarioOptions): Promise<ScenarioOutput>;
}

const scenarios = new Map<string, Scenario>();

/** Adds a scenario to the registry. */
export function registerScenario(scenario: Scenario): void {
  scenarios.set(scenario.name, scenario);
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
