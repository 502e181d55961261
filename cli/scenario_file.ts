/**
 * The CLI's side of scenario files (`scenario run <file.json>`) and of views
 * of an LPAR whose kernel is not running.
 * @module
 */
import type { Lpar } from "../actors/lpar.ts";
import type { StartOptions } from "../actors/managed_system.ts";
import { loadScenarioFile } from "../scenarios/file.ts";
import { toJsonText } from "../scenarios/json.ts";
import { formatScenarioRun, runScenario } from "../scenarios/run_file.ts";

/** Where the command writes. */
interface Printer {
  print(text: string): void;
}

/**
 * `scenario run <file.json>`: checks the file (a bad one is a usage error,
 * exit code 2), runs it, prints each step; exit code 1 when a step failed.
 */
export async function scenarioFileCommand(
  args: string[],
  json: boolean,
  out: Printer,
  start: StartOptions,
  usage: (message: string) => Error,
): Promise<number> {
  if (args.length !== 1) {
    throw usage(
      `scenario run: ${args.length ? `one file, got ${args.length}` : "no file given"}; ` +
        `usage: scenario run <file.json> (e.g. scenario run scenarios/files/kexec-5.3.json)`,
    );
  }
  const run = await runScenario(await loadScenarioFile(args[0]), start);
  out.print(json ? toJsonText(run) : formatScenarioRun(run));
  return run.ok ? 0 : 1;
}

/**
 * Why `view` shows nothing for an LPAR whose kernel is not running (shut
 * down, never activated, panicked and left down, crashed), or undefined when
 * it is running: `ndctl` and `sysfs` need a running kernel to ask.
 */
export function notRunningNote(lpar: Lpar, view: string): string | undefined {
  if (lpar.state === "running") return undefined;
  const hint = lpar.state === "panicked" || lpar.state === "halted"
    ? "; the dmesg view shows its log"
    : "";
  return `(${lpar.name} is ${lpar.state}: no running kernel to answer ${view}${hint})`;
}
