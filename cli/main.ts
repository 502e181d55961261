/**
 * The command line: `deno run mod.ts <command> [options]`.
 * @module
 */
import { parseArgs } from "node:util";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import "../scenarios/builtin.ts";
import { formatKexecStory, runKexecStory } from "../scenarios/kexec.ts";
import { toJsonText } from "../scenarios/json.ts";
import { getScenario, listScenarios } from "../scenarios/registry.ts";

/** Raised for a bad command line; the message says what is accepted. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The usage text. */
export function usage(): string {
  return [
    "papr-scm-sim: a simulator of the PAPR SCM hypervisor interface",
    "",
    "usage: deno run mod.ts <command> [options]",
    "",
    "commands:",
    "  demo                        the kexec story for every driver version",
    "  scenario list               the scenarios and what they show",
    "  scenario <name> [options]   run one scenario",
    "  help                        this text",
    "",
    "scenario options:",
    `  --kernel <${KERNEL_VERSIONS.join("|")}>   kernel version (default 5.4)`,
    "  --next-kernel <version>     kernel after the kexec (default: the same)",
    "  --hypervisor <powervm|qemu> hypervisor personality (default powervm)",
    "  --lpars <n>                 number of LPARs (contention)",
    "  --json                      print one JSON object instead of text",
  ].join("\n");
}

interface Output {
  print(text: string): void;
}

const OPTIONS = {
  kernel: { type: "string" },
  "next-kernel": { type: "string" },
  hypervisor: { type: "string" },
  lpars: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const known = Object.keys(OPTIONS).map((o) => `--${o}`).join(", ");
    throw new UsageError(`${(error as Error).message}; accepted options: ${known}`);
  }
}

/** Runs a command line; returns the exit code. */
export async function main(args: string[], out: Output = { print: console.log }): Promise<number> {
  const { values, positionals } = parse(args);
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") {
    out.print(usage());
    return 0;
  }
  switch (command) {
    case "demo":
      return await demo(out, values.json === true);
    case "scenario":
      return await scenario(rest, values, out);
    default:
      throw new UsageError(`unknown command "${command}"; accepted: demo, scenario, help`);
  }
}

async function demo(out: Output, json: boolean): Promise<number> {
  const reports = [];
  for (const kernel of KERNEL_VERSIONS) {
    const report = await runKexecStory({ kernel });
    reports.push(report);
    if (!json) out.print(formatKexecStory(report));
  }
  if (json) out.print(toJsonText(reports));
  return 0;
}

async function scenario(
  rest: string[],
  values: ReturnType<typeof parse>["values"],
  out: Output,
): Promise<number> {
  const [name, ...extra] = rest;
  if (name === undefined || name === "list") {
    for (const s of listScenarios()) out.print(`${s.name.padEnd(16)} ${s.summary}`);
    return 0;
  }
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const s = getScenario(name);
  const given = Object.keys(values).filter((k) => k !== "json" && k !== "help");
  const unknown = given.filter((k) => !s.options.includes(k));
  if (unknown.length) {
    throw new UsageError(
      `scenario ${name} does not take --${unknown[0]}; it takes: ${
        s.options.map((o) => `--${o}`).join(", ") || "no options"
      }`,
    );
  }
  const lpars = values.lpars === undefined ? undefined : Number(values.lpars);
  if (lpars !== undefined && (!Number.isInteger(lpars) || lpars < 1 || lpars > 256)) {
    throw new UsageError(`--lpars ${values.lpars}: expected an integer from 1 to 256`);
  }
  const result = await s.run({ ...values, lpars });
  out.print(values.json ? toJsonText(result.json) : result.text);
  return 0;
}

/** Entry point for `deno run mod.ts`: prints errors plainly, sets the exit code. */
export async function run(args: string[]): Promise<void> {
  try {
    Deno.exitCode = await main(args);
  } catch (error) {
    const e = error as Error;
    console.error(`error: ${e.message}`);
    // 2: the command line or configuration was wrong; 1: the run itself failed.
    const usage = e instanceof UsageError || e instanceof RangeError || e?.name === "ConfigError";
    Deno.exitCode = usage ? 2 : 1;
  }
}
