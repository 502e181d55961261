/**
 * The command line: `deno run mod.ts <command> [options]`.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const lines: string[] = [];
 * const code = await main(["scenario", "list"], { print: (t) => lines.push(t) });
 * ```
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfigFile, type SystemConfig } from "../actors/config.ts";
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import { parseRuntime, RUNTIMES } from "../runtime/types.ts";
import type { LparBootOptions } from "../actors/lpar.ts";
import { formatNdctl, parseNdctlArgs } from "../guest/ndctl.ts";
import { NDCTL_COMMANDS } from "../guest/ndctl_commands.ts";
import { KERNEL_VERSIONS, type KernelVersion, parseKernelVersion } from "../guest/papr_scm/mod.ts";
import { parsePersonality } from "../scenarios/builtin.ts";
import { formatKexecStory, runKexecStory } from "../scenarios/kexec.ts";
import { toJsonText } from "../scenarios/json.ts";
import { formatMatrix, runMatrix } from "../scenarios/matrix.ts";
import { getScenario, listScenarios } from "../scenarios/registry.ts";
import { SWARM_USAGE, swarmCommand } from "../swarm/cli.ts";
import { commandHelp, COMMANDS, READ, READ_WRITE, versionText } from "./help.ts";
import { notRunningNote, scenarioFileCommand } from "./scenario_file.ts";
import { sessionFor, writeTraceFiles } from "./trace_output.ts";
import { ProgressBar, showsProgress, terminalSink } from "./progress.ts";
import { writeMatrixReport } from "../report/html.ts";
import { TraceSession } from "../trace/session.ts";
import { POWERLOSS_DEFAULT, powerLossCommand } from "../storage/cli.ts";
import { crashCommand } from "../crash/cli.ts";

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
    `usage: deno run ${READ} mod.ts <command> [options]`,
    `       deno run ${READ_WRITE} mod.ts swarm [options]`,
    "       deno run mod.ts help [command] | <command> --help | --version",
    "",
    "Without the --allow-* flags above Deno asks for permission when the first worker",
    "starts, and that prompt can hang: give them. A --config outside . needs read access too.",
    "",
    "commands:",
    "  demo [options]              the kexec story for every driver version (or --kernel's)",
    "  scenario list               the scenarios and what they show",
    "  scenario <name> [options]   run one scenario",
    "  scenario run <file.json>    run a scenario file: steps and expectations",
    "  matrix [options]            kexec, panic+kdump, clean reboot and shutdown+activate",
    "                              for every kernel under both personalities: one table",
    "  show [options] <view>       boot a configuration and print a view of one LPAR:",
    "       ndctl [list] [-R] [-D] [-H] [-N]   ndctl list (flags combine: -RDH; -u -i -v -B -r ...)",
    "       ndctl <command> [args]             init-labels, read-labels -j, create-namespace, ...",
    "       sysfs [path]                       /sys/bus/nd/devices listing or file",
    "       dmesg                              the kernel log",
    "       bindings                           the hypervisor's binding table",
    "       events                             what the managed system did",
    "  powerloss [options]         the dirty-shutdown chain: ndctl list -DH, a flushed and an",
    "                              unflushed store, a power loss (--loss none|all|subset|torn,",
    "                              else the seed chooses), the power-on, ndctl list -DH again",
    "  crash [options]             crash-state exploration of the built-in workloads",
    "                              (labels-ndctl[-mainline|-5.2|-broken], pmdk-pool,",
    "                              broken-flush): --workload <name>,",
    "                              --replay <state> (one state), --max-states <n>, --seed, --json",
    "       trace                              the LPAR's hcalls as ftrace prints them",
    ...SWARM_USAGE,
    "  help [command]              this text, or one command's (also <command> --help)",
    "",
    "options:",
    "  --kernel <version>          kernel version (default: the configuration's, 5.4):",
    `                              ${KERNEL_VERSIONS.join(", ")}`,
    "  --next-kernel <version>     kernel after the kexec (default: the same)",
    "  --hypervisor <powervm|qemu> hypervisor personality (default: the configuration's)",
    "  --config <file.json>        a SystemConfig JSON file (see examples/)",
    "  --lpar <name>               the LPAR to use (default: the first)",
    "  --lpars <n>                 number of LPARs (contention)",
    "  --then <kexec|panic|reboot|shutdown>  (show) do this after booting, then show",
    "  --json                      print JSON instead of text",
    `  --runtime <${RUNTIMES.join("|")}>     threads (default): a worker per LPAR, real time;`,
    "                              sim: one thread, seeded scheduler, virtual time",
    "  --seed <n>                  seed of the sim runtime (default 1): same seed, same output",
    "  --state <dir>               (show, powerloss) keep the nvdimms' durable state in sparse",
    "                              files in <dir> (created if missing)",
    "  --version                   the version",
    "  --trace <file.json>         write a Perfetto trace of every system run (ui.perfetto.dev)",
    "  --ftrace <file.txt>         write the guests' hcalls as hcall_entry/hcall_exit lines",
    "  --report <file.html>        (matrix, swarm) write one HTML page: the table and timelines",
  ].join("\n");
}

/** Where the CLI writes. */
export interface Output {
  /** Normal output (default: console.log). */
  print(text: string): void;
  /** Error messages (default: console.error). */
  error?(text: string): void;
}

const OPTIONS = {
  kernel: { type: "string" },
  "next-kernel": { type: "string" },
  hypervisor: { type: "string" },
  config: { type: "string" },
  lpar: { type: "string" },
  lpars: { type: "string" },
  then: { type: "string" },
  json: { type: "boolean" },
  runtime: { type: "string" },
  seed: { type: "string" },
  seeds: { type: "string" },
  "check-determinism": { type: "boolean" },
  record: { type: "string" },
  replay: { type: "string" },
  "shrink-to": { type: "string" },
  merge: { type: "string" },
  trace: { type: "string" },
  ftrace: { type: "string" },
  report: { type: "string" },
  state: { type: "string" },
  loss: { type: "string" },
  workload: { type: "string" },
  "max-states": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** Options every command takes. */
const COMMON = ["json", "help", "runtime", "seed", "trace", "ftrace"];

/** node:util parseArgs' messages, said plainly: the option, and what is accepted. */
function parseError(error: Error): UsageError {
  const code = (error as { code?: string }).code;
  const name = /'(-[^' ]+)/.exec(error.message)?.[1] ?? "option";
  const known = Object.keys(OPTIONS).map((o) => `--${o}`).join(", ");
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return new UsageError(`unknown option "${name}"; accepted options: ${known}, -h`);
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return /does not take an argument/.test(error.message)
      ? new UsageError(`${name} takes no value`)
      : new UsageError(
        `${name} needs a value (${name} <value>; a value starting with "-" as ${name}=<value>)`,
      );
  }
  return new UsageError(`${error.message}; accepted options: ${known}`);
}

/** `--runtime` and `--seed`, checked. */
function startOptions(values: Values, implied?: "sim"): StartOptions {
  const runtime = values.runtime === undefined ? implied : parseRuntime(values.runtime);
  let seed: number | undefined;
  if (values.seed !== undefined) {
    seed = /^\d{1,15}$/.test(values.seed) ? Number(values.seed) : NaN;
    if (!Number.isSafeInteger(seed)) {
      throw new UsageError(`--seed ${JSON.stringify(values.seed)}: expected a whole number from 0`);
    }
    if (runtime !== "sim") {
      throw new UsageError("--seed goes with --runtime sim (the threads runtime is not seeded)");
    }
  }
  return { runtime, seed };
}

type Values = ReturnType<typeof parse>["values"];

/** The command line's options and positionals; an option given twice is refused. */
function parse(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (error) {
    throw parseError(error as Error);
  }
  // parseArgs keeps the last of repeated options: `--kernel 5.3 --kernel 5.4` would run 5.4.
  const seen = new Map<string, string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    const given = token.value === undefined
      ? token.rawName
      : `${token.rawName} ${JSON.stringify(token.value)}`;
    const first = seen.get(token.name);
    if (first !== undefined) {
      throw new UsageError(`--${token.name} given twice (${first}, then ${given}); give it once`);
    }
    seen.set(token.name, given);
  }
  const { values, positionals } = parsed;
  return { values, positionals };
}

const VIEWS = ["ndctl", "sysfs", "dmesg", "bindings", "events", "trace"];
const THEN = ["kexec", "panic", "reboot", "shutdown"];

/**
 * `show`'s arguments: the view and its own arguments (`ndctl -RDH`, `sysfs
 * region0/size`), and the options, which may come before or after the view.
 */
function splitShow(args: string[]): { options: string[]; view: string[] } {
  const options = [args[0]];
  const view: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const arg = args[i];
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
    const spec = name === undefined
      ? undefined
      : (OPTIONS as Record<string, { type: string }>)[name];
    if (spec || arg === "-h" || (view.length === 0 && arg.startsWith("-"))) {
      options.push(arg);
      if (spec?.type === "string" && !arg.includes("=") && i + 1 < args.length) {
        options.push(args[++i]);
      }
    } else {
      view.push(arg);
    }
  }
  return { options, view };
}

/**
 * Runs a command line; returns the exit code: 0, or 2 for a bad command
 * line or configuration (the message, on `out.error`, says what is
 * accepted). Failures of the run itself are thrown.
 */
export async function main(args: string[], out: Output = { print: console.log }): Promise<number> {
  try {
    return await dispatch(args, out);
  } catch (error) {
    if (isUsage(error)) {
      (out.error ?? console.error)(`error: ${(error as Error).message}`);
      return 2;
    }
    throw error;
  }
}

/**
 * A bad command line or configuration (exit code 2). A RangeError from an
 * LPAR's worker (a bad sysfs path, an unknown region) arrives through
 * comlink as an Error named RangeError.
 */
function isUsage(error: unknown): boolean {
  const name = (error as Error)?.name;
  return error instanceof UsageError || error instanceof ConfigError ||
    error instanceof RangeError || name === "RangeError" || name === "ConfigError" ||
    name === "StorageError";
}

async function dispatch(args: string[], out: Output): Promise<number> {
  const split = args[0] === "show" ? splitShow(args) : { options: args, view: [] };
  const { values, positionals } = parse(split.options);
  const [command, ...rest] = positionals;
  if (values.version) {
    out.print(versionText());
    return 0;
  }
  if (command === "help" && rest.length > 0) {
    noExtra("help", rest.slice(1));
    out.print(commandHelp(rest[0]));
    return 0;
  }
  if (values.help || command === undefined || command === "help") {
    const known = command !== undefined && command !== "help" && COMMANDS.includes(command);
    out.print(known ? commandHelp(command) : usage());
    return 0;
  }
  if (values.report !== undefined && command !== "matrix" && command !== "swarm") {
    throw new UsageError(`--report goes with matrix or swarm, not ${command}`);
  }
  // The swarm is the sim runtime's own: it reads --runtime and --seed itself.
  // Crash exploration is the sim runtime's; powerloss runs there unless told otherwise.
  const implied = command === "crash" || command === "powerloss" ? "sim" : undefined;
  const trace = sessionFor(values);
  const start: StartOptions = command === "swarm"
    ? {}
    : { ...startOptions(values, implied), trace };
  if (command === "crash" && start.runtime !== "sim") {
    throw new UsageError(
      "crash needs the sim runtime (it records and replays seeded runs); leave --runtime out " +
        "or give --runtime sim",
    );
  }
  if (command === "powerloss" && start.runtime === "threads" && values.state === undefined) {
    throw new UsageError(
      "powerloss on the threads runtime needs --state DIR (its hypervisor keeps durable state " +
        "in files); give --state or leave --runtime out",
    );
  }
  let config = values.config === undefined ? undefined : await loadConfigFile(values.config);
  if (values.state !== undefined) {
    config = { ...(config ?? (command === "show" ? SHOW_DEFAULT : POWERLOSS_DEFAULT)) };
    config.storage = { dir: values.state };
  }
  try {
    switch (command) {
      case "demo":
        noExtra("demo", rest);
        onlyOptions("demo", values, ["kernel", "hypervisor"]);
        return await demo(out, values, start);
      case "scenario":
        return await scenario(rest, values, config, out, start);
      case "matrix":
        return await matrix(rest, values, config, out, start);
      case "show":
        return await show(split.view, values, config, out, start);
      case "powerloss":
        noExtra("powerloss", rest);
        onlyOptions("powerloss", values, ["config", "state", "loss"]);
        return await powerLossCommand(config, start, values.loss, values.json === true, out.print);
      case "crash":
        noExtra("crash", rest);
        onlyOptions("crash", values, ["workload", "replay", "max-states"]);
        return await crashCommand(
          {
            workload: values.workload,
            seed: start.seed,
            replay: values.replay,
            maxStates: values["max-states"],
            json: values.json === true,
            progress: showsProgress(values.json === true),
          },
          out.print,
          () => performance.now(),
        );
      case "swarm":
        return await swarmCommand(rest, values, out, (message) => new UsageError(message), trace);
      default:
        throw new UsageError(
          `unknown command "${command}"; accepted: demo, scenario, matrix, show, help, swarm, ` +
            `powerloss, crash (deno run mod.ts help)`,
        );
    }
  } finally {
    // Written even when the run failed: the trace is how to see why.
    if (trace) await writeTraceFiles(trace, values, out.error ?? console.error);
  }
}

function noExtra(command: string, rest: string[]): void {
  if (rest.length) throw new UsageError(`${command}: unexpected argument "${rest[0]}"`);
}

function onlyOptions(command: string, values: Values, accepted: string[]): void {
  const given = Object.keys(values).filter((k) => !COMMON.includes(k));
  const bad = given.find((k) => !accepted.includes(k));
  if (bad) {
    throw new UsageError(
      `${command} does not take --${bad}; it takes: ${
        [...accepted, "json", "runtime", "seed"].map((o) => `--${o}`).join(", ")
      }`,
    );
  }
}

async function demo(out: Output, values: Values, start: StartOptions): Promise<number> {
  const json = values.json === true;
  const hypervisor = parsePersonality(values.hypervisor);
  const kernels = values.kernel === undefined
    ? KERNEL_VERSIONS
    : [parseKernelVersion(values.kernel)];
  const reports = [];
  for (const kernel of kernels) {
    const report = await runKexecStory({ kernel, hypervisor, start });
    reports.push(report);
    if (!json) out.print(formatKexecStory(report));
  }
  if (json) out.print(toJsonText(reports));
  return 0;
}

async function scenario(
  rest: string[],
  values: Values,
  config: SystemConfig | undefined,
  out: Output,
  start: StartOptions,
): Promise<number> {
  const [name, ...extra] = rest;
  if (name === undefined || name === "list") {
    noExtra("scenario list", extra);
    onlyOptions("scenario list", values, []);
    const list = listScenarios();
    if (values.json) {
      out.print(toJsonText(list.map(({ name, summary, options }) => ({ name, summary, options }))));
      return 0;
    }
    for (const s of list) out.print(`${s.name.padEnd(16)} ${s.summary}`);
    out.print("files:           scenario run <file.json> (see scenarios/files/)");
    return 0;
  }
  if (name === "run") {
    onlyOptions("scenario run", values, []);
    return await scenarioFileCommand(
      extra,
      values.json === true,
      out,
      start,
      (message) => new UsageError(message),
    );
  }
  noExtra(`scenario ${name}`, extra);
  const s = getScenario(name);
  onlyOptions(`scenario ${name}`, values, s.options);
  const lpars = values.lpars === undefined ? undefined : Number(values.lpars);
  if (lpars !== undefined && (!Number.isInteger(lpars) || lpars < 1 || lpars > 256)) {
    throw new UsageError(`--lpars ${values.lpars}: expected an integer from 1 to 256`);
  }
  let bar: ProgressBar | undefined;
  const sink = showsProgress(values.json === true) ? terminalSink() : undefined;
  const progress = (done: number, total: number) => {
    bar ??= new ProgressBar(name, total, sink);
    bar.tick("booted", done);
  };
  const result = await s.run({ ...values, lpars, config, start, progress });
  bar?.clear();
  out.print(values.json ? toJsonText(result.json) : result.text);
  return result.ok === false ? 1 : 0;
}

async function matrix(
  rest: string[],
  values: Values,
  config: SystemConfig | undefined,
  out: Output,
  start: StartOptions,
): Promise<number> {
  noExtra("matrix", rest);
  onlyOptions("matrix", values, ["kernel", "hypervisor", "config", "report"]);
  const hypervisor = parsePersonality(values.hypervisor);
  const json = values.json === true;
  let bar: ProgressBar | undefined;
  const result = await runMatrix({
    kernels: values.kernel === undefined ? undefined : [parseKernelVersion(values.kernel)],
    hypervisors: hypervisor === undefined ? undefined : [hypervisor],
    config,
    start,
    onRow: (done, total) => {
      bar ??= new ProgressBar("matrix", total, showsProgress(json) ? terminalSink() : undefined);
      bar.tick("", done);
    },
  });
  bar?.clear();
  out.print(json ? toJsonText(result) : formatMatrix(result));
  if (values.report !== undefined && start.trace) {
    await writeMatrixReport(values.report, result, start.trace);
  }
  return 0;
}

/** The system `show` boots when no --config is given: the seed's one LPAR. */
const SHOW_DEFAULT: SystemConfig = {
  lpars: [{ name: "lpar1", kernel: "5.4", nvdimms: [{ drc: "0x44100002", blocks: 4 }] }],
};

async function show(
  view: string[],
  values: Values,
  config: SystemConfig | undefined,
  out: Output,
  start: StartOptions,
): Promise<number> {
  onlyOptions("show", values, ["config", "lpar", "kernel", "hypervisor", "then", "state"]);
  const [what, ...args] = view;
  if (what === undefined || !VIEWS.includes(what)) {
    throw new UsageError(
      `show: ${what === undefined ? "no view given" : `unknown view "${what}"`}; ` +
        `accepted: ${VIEWS.join(", ")} (e.g. show --config examples/seed.json ndctl -RDH)`,
    );
  }
  if (values.then !== undefined && !THEN.includes(values.then)) {
    throw new UsageError(`--then ${JSON.stringify(values.then)}: accepted: ${THEN.join(", ")}`);
  }
  if (what === "trace" && !start.trace) start = { ...start, trace: new TraceSession() };
  if (what !== "ndctl" && what !== "sysfs" && args.length) {
    throw new UsageError(`show ${what}: unexpected argument "${args[0]}"`);
  }
  if (what === "sysfs" && args.length > 1) {
    throw new UsageError(`show sysfs: one path at most, got "${args.join(" ")}"`);
  }
  // `show ndctl create-namespace -s 1G` runs that command; anything else is `ndctl list`.
  const ndctlCommand = what === "ndctl" && args[0] !== undefined && !args[0].startsWith("-") &&
    args[0] !== "list";
  if (ndctlCommand && !(NDCTL_COMMANDS as readonly string[]).includes(args[0])) {
    throw new UsageError(
      `show ndctl: unknown command "${args[0]}"; accepted: ${NDCTL_COMMANDS.join(", ")}`,
    );
  }
  const ndctlFlags = what === "ndctl" && !ndctlCommand ? parseNdctlArgs(args) : undefined;
  const kernel: KernelVersion | undefined = values.kernel === undefined
    ? undefined
    : parseKernelVersion(values.kernel);
  const hypervisor = parsePersonality(values.hypervisor);
  const base = config ?? SHOW_DEFAULT;
  await using system = await ManagedSystem.start({
    ...base,
    hypervisor: { ...base.hypervisor, ...(hypervisor ? { personality: hypervisor } : {}) },
  }, start);
  const lpar = values.lpar === undefined ? system.lpars[0] : system.lpar(values.lpar);
  const boot: LparBootOptions = kernel ? { kernel } : {};
  for (const l of system.lpars) await l.boot(l === lpar ? boot : {});
  switch (values.then) {
    case "kexec":
      await lpar.kexec(boot);
      break;
    case "panic":
      await lpar.panic();
      break;
    case "reboot":
      await lpar.reboot(boot);
      break;
    case "shutdown":
      await lpar.shutdown();
      break;
  }
  const json = values.json === true;
  // No running kernel, no ndctl and no /sys to read: say so, never a blank line.
  const note = notRunningNote(lpar, what);
  if (what === "ndctl" && ndctlCommand) {
    if (note !== undefined) throw new Error(`show ndctl ${args[0]}: ${note}`);
    const run = await lpar.ndctlRun(args);
    out.print(json ? toJsonText(run) : `${run.stdout}${run.stderr}`.trimEnd());
    return run.rc === 0 ? 0 : 1;
  } else if (note !== undefined && (what === "ndctl" || what === "sysfs")) {
    out.print(json ? toJsonText({ lpar: lpar.name, state: lpar.state, [what]: null }) : note);
  } else if (what === "ndctl") {
    const value = await lpar.ndctlJson(ndctlFlags);
    out.print(json ? toJsonText(value) : formatNdctl(value));
  } else if (what === "sysfs") {
    const text = await lpar.sysfs(args[0]);
    out.print(json ? toJsonText({ path: args[0] ?? "/sys/bus/nd/devices", text }) : text);
  } else if (what === "dmesg") {
    const lines = await lpar.dmesg();
    out.print(json ? toJsonText(lines) : lines.join("\n"));
  } else if (what === "trace") {
    // The timeline is handed over when the system stops.
    await system.stop();
    const text = start.trace!.ftrace({ lpar: lpar.name });
    out.print(json ? toJsonText(text.split("\n")) : text);
  } else if (what === "bindings") {
    const table = await system.bindings();
    out.print(
      json
        ? toJsonText(table)
        : table.map((b) =>
          `drc 0x${b.drc.toString(16)} block ${b.block}: ${b.state} to ${b.lpar} ` +
          `at 0x${b.address.toString(16)}`
        ).join("\n") || "(no bindings)",
    );
  } else {
    out.print(json ? toJsonText(system.events) : system.events.join("\n") || "(no events)");
  }
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
    Deno.exitCode = isUsage(e) ? 2 : 1;
  }
}
