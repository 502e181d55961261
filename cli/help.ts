/**
 * What each command says about itself: `<command> --help`, `help <command>`,
 * and `--version`. Each help names the permissions the command needs: without
 * them Deno asks interactively when the first worker starts, and that prompt
 * can hang (a worker's permission prompt does not reach the terminal).
 *
 * @example
 * ```ts
 * import { commandHelp } from "./help.ts";
 * console.log(commandHelp("scenario"));
 * ```
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import { RUNTIMES } from "../runtime/types.ts";
import { SWARM_USAGE } from "../swarm/cli.ts";

/** The package's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** `--version`'s line. */
export function versionText(): string {
  return `papr-scm-sim ${VERSION} (${denoJson.name})`;
}

/** Permissions of every command that starts a managed system (its workers load modules). */
export const READ = "--allow-read=.";
/** Permissions of `swarm` (it writes case files). */
export const READ_WRITE = "--allow-read=. --allow-write=.";

const RUN = `deno run ${READ} mod.ts`;

const KERNEL = `  --kernel <${KERNEL_VERSIONS.join("|")}>`;
const RUNTIME = [
  `  --runtime <${RUNTIMES.join("|")}>     threads (default): a worker per LPAR, real time;`,
  "                              sim: one thread, seeded scheduler, virtual time",
  "  --seed <n>                  seed of the sim runtime (default 1): same seed, same output",
  "  --trace <file.json>         write a Perfetto trace of the run (needs --allow-write)",
  "  --ftrace <file.txt>         write the hcalls as hcall_entry/hcall_exit lines (same)",
];
const JSON_OPTION = "  --json                      print JSON instead of text";

/** Help of each command, by name. */
const HELP: Record<string, string[]> = {
  demo: [
    `usage: ${RUN} demo [options]`,
    "",
    "The kexec story (boot, write a pattern, kexec without unbinding, bind again)",
    "for every kernel version, or the one --kernel names.",
    "",
    "options:",
    `${KERNEL}  only this kernel (default: each in turn)`,
    "  --hypervisor <powervm|qemu> hypervisor personality (default powervm)",
    ...RUNTIME,
    JSON_OPTION,
  ],
  scenario: [
    `usage: ${RUN} scenario list [--json]`,
    `       ${RUN} scenario <name> [options]`,
    `       ${RUN} scenario run <file.json> [--runtime sim [--seed n]] [--json]`,
    "",
    "list                the built-in scenarios and the options each takes",
    "<name>              run a built-in scenario (see list), e.g. scenario kexec --kernel 5.3",
    "run <file.json>     run a scenario file: a configuration and steps with expectations;",
    "                    exit code 1 when an expectation fails (see scenarios/files/*.json",
    "                    and the README's 'Scenario files')",
    "",
    "options (each scenario says which it takes):",
    `${KERNEL}  kernel version (default: the configuration's, 5.4)`,
    "  --next-kernel <version>     kernel after the kexec (default: the same)",
    "  --hypervisor <powervm|qemu> hypervisor personality (default: the configuration's)",
    "  --config <file.json>        a SystemConfig JSON file (see examples/)",
    "  --lpar <name>               the LPAR of --config to use (default: its first)",
    "  --lpars <n>                 number of LPARs (contention, default 8)",
    ...RUNTIME,
    JSON_OPTION,
  ],
  matrix: [
    `usage: ${RUN} matrix [options]`,
    "",
    "kexec, panic+kdump, clean reboot and shutdown+activate for every kernel under",
    "both personalities: one table.",
    "",
    "options:",
    `${KERNEL}  only this kernel`,
    "  --hypervisor <powervm|qemu> only this personality",
    "  --config <file.json>        run on this system (its first LPAR)",
    ...RUNTIME,
    "  --report <file.html>        also write one HTML page: the table and timelines",
    JSON_OPTION,
  ],
  show: [
    `usage: ${RUN} show [options] <view> [view arguments] [options]`,
    "",
    "Boots a configuration (default: one LPAR, 5.4, nvdimm 0x44100002) and prints a",
    "view of one LPAR. Options may come before or after the view.",
    "",
    "views:",
    "  ndctl [list] [-R] [-D] [-H] [-N]   ndctl list (flags combine: -RDH; none: namespaces)",
    "  sysfs [path]                       /sys/bus/nd/devices listing or one file",
    "  dmesg                              the kernel log",
    "  bindings                           the hypervisor's binding table",
    "  events                             what the managed system did",
    "",
    "options:",
    "  --config <file.json>        a SystemConfig JSON file (see examples/)",
    "  --lpar <name>               the LPAR to show (default: the first)",
    `${KERNEL}  the kernel that LPAR boots`,
    "  --hypervisor <powervm|qemu> hypervisor personality",
    "  --then <kexec|panic|reboot|shutdown>  do this after booting, then show",
    "  --state <dir>               durable state in sparse files in <dir> (needs",
    "                              --allow-read and --allow-write for <dir>)",
    ...RUNTIME,
    JSON_OPTION,
  ],
  powerloss: [
    `usage: ${RUN} powerloss [options]`,
    "",
    "The dirty-shutdown chain: boots (default: one LPAR, mainline, nvdimm 0x44100002),",
    "prints ndctl list -DH, stores a record and flushes it, stores a second without a",
    "flush, loses power, powers on again on the same durable state and prints ndctl",
    "list -DH and both records. Sim runtime unless --runtime threads (with --state).",
    "",
    "options:",
    "  --loss <none|all|subset|torn>  which unflushed lines survive (default: the seed's choice)",
    "  --state <dir>               durable state in sparse files in <dir> (default: in memory;",
    "                              needs --allow-read and --allow-write for <dir>)",
    "  --config <file.json>        a SystemConfig JSON file (its first LPAR)",
    ...RUNTIME,
    JSON_OPTION,
  ],
  crash: [
    `usage: ${RUN} crash [options]`,
    "",
    "Crash-state exploration: runs each built-in workload (labels-ndctl, labels-ndctl-mainline,",
    "labels-ndctl-5.2, labels-ndctl-broken, pmdk-pool, broken-flush) once recording its stores",
    "and durable writes (every WRITE_METADATA hcall), powers on every image a power loss could",
    "leave at each crash point and runs the workload's checker; prints each inconsistent state",
    "with the command that replays it. Exit code 0 when every workload came out as expected",
    "(the broken ones caught), else 1. Sim runtime.",
    "",
    "options:",
    "  --workload <name|all>       one workload (default: all)",
    "  --replay <state>            check this state alone (with --workload)",
    "  --max-states <n>            stop after n states (and say so)",
    "  --seed <n>                  seed of the runs and of the sampling (default 1)",
    "  --json                      one object: statesExplored, statesPerSecond, failures[].replay",
  ],
  swarm: [
    `usage: deno run ${READ_WRITE} mod.ts swarm [options]`,
    "",
    ...SWARM_USAGE.map((line) => line.replace(/^ {2}/, "")),
    "  --json                      one JSON line per seed, then a summary line",
  ],
  help: [
    "usage: deno run mod.ts help [command]",
    "       deno run mod.ts <command> --help",
    "       deno run mod.ts --version",
    "",
    "No permissions needed. Commands: demo, scenario, matrix, show, swarm, powerloss, crash.",
  ],
};

/** The commands that have a help text. */
export const COMMANDS: readonly string[] = Object.keys(HELP);

/**
 * One command's help; a RangeError names the commands for an unknown one.
 * @example
 * ```ts
 * import { commandHelp } from "./help.ts";
 * commandHelp("show").startsWith("usage: deno run --allow-read=. mod.ts show"); // true
 * ```
 */
export function commandHelp(command: string): string {
  const lines = HELP[command];
  if (!Object.hasOwn(HELP, command) || lines === undefined) {
    throw new RangeError(`help: unknown command "${command}"; accepted: ${COMMANDS.join(", ")}`);
  }
  return lines.join("\n");
}
