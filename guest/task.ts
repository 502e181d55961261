/**
 * Guest kernel code as resumable tasks. Every point where a real kernel can
 * block or lose its CPU — each `hvsc` (hcall) and each `msleep` — is a
 * `yield` of an {@link Effect}; whatever runs the task decides what that
 * means. The worker runtime blocks its thread on the Atomics channel
 * (`runBlocking`); the single-thread simulation lets a seeded scheduler pick
 * which partition steps next, with virtual time (`runtime/sim/`). The driver
 * source is the same in both.
 *
 * @example
 * ```ts
 * import { hcall, msleep, type Task } from "./task.ts";
 * function* probeOnce(): Task<number> {
 *   const { rc } = yield* hcall(0xF000, 1n);
 *   if (rc !== 0) yield* msleep(1);
 *   return rc;
 * }
 * ```
 * @module
 */

/** One hcall: r3 (opcode) and r4..r12 in; the machine answers with a {@link PlparResult}. */
export interface HcallEffect {
  /** Discriminant. */
  readonly kind: "hcall";
  /** The hcall's opcode (r3). */
  readonly opcode: number;
  /** r4..r12 (missing ones read as 0). */
  readonly args: readonly bigint[];
}

/** `msleep`: the task gives up its CPU for `ms` milliseconds. */
export interface SleepEffect {
  /** Discriminant. */
  readonly kind: "sleep";
  /** Milliseconds. */
  readonly ms: number;
}

/**
 * Work the kernel does on its own CPU that takes time (registering a
 * region's memory, booting up to the driver probes). It costs virtual time
 * in the simulation; the worker runtime does not wait for it.
 */
export interface ComputeEffect {
  /** Discriminant. */
  readonly kind: "compute";
  /** Nanoseconds of the kernel's CPU. */
  readonly ns: number;
  /** What the time is spent on (for traces). */
  readonly what: string;
}

/** A point where guest code blocks: what a runner sees of a task it runs through {@link flatten}. */
export type Effect = HcallEffect | SleepEffect | ComputeEffect;

/**
 * A subtask to run on the runner's own stack ({@link call}); {@link flatten}
 * takes it in, so a runner never sees one.
 */
export interface CallEffect {
  /** Discriminant. */
  readonly kind: "call";
  /** The subtask. */
  readonly task: Task<unknown>;
}

/** The result of `plpar_hcall`: r3 and the returned registers r4..r12. */
export interface PlparResult {
  /** Return code (r3), signed. */
  rc: number;
  /** r4..r12, unsigned 64-bit. */
  rets: bigint[];
}

/** Guest code that may block: a generator of effects, resumed with each hcall's result. */
export type Task<T> = Generator<Effect | CallEffect, T, PlparResult | undefined>;

/** A task as a runner drives it: {@link flatten}ed, so it yields only hcalls, sleeps and compute. */
export type FlatTask<T> = Generator<Effect, T, PlparResult | undefined>;

/** Most registers an hcall passes: r4..r12. */
const MAX_ARGS = 9;
/** Longest sleep or compute one effect may ask for: an hour. */
export const MAX_EFFECT_MS = 3_600_000;

/**
 * What is wrong with an effect a task yielded, or undefined when it is well
 * formed. A runtime throws the answer into the task, so guest code that
 * yields nonsense fails itself, never the machine or another partition.
 */
export function effectProblem(effect: unknown): string | undefined {
  const e = effect as {
    kind?: unknown;
    opcode?: unknown;
    args?: unknown;
    ms?: unknown;
    ns?: unknown;
  };
  if (typeof e !== "object" || e === null) return `${String(effect)} is not an effect`;
  if (e.kind === "hcall") {
    const op = e.opcode as number;
    if (!Number.isInteger(op) || op < 0 || op > 0xFFFF_FFFF) {
      return `hcall opcode ${String(e.opcode)}: expected a 32-bit unsigned integer`;
    }
    const args = e.args;
    if (!Array.isArray(args) || args.length > MAX_ARGS) {
      return `hcall arguments: expected an array of at most ${MAX_ARGS} registers`;
    }
    for (let i = 0; i < args.length; i++) {
      if (typeof args[i] !== "bigint") return `hcall argument r${i + 4}: expected a bigint`;
    }
    return undefined;
  }
  // flatten() takes in every call of a task; one that reaches a runner named no task.
  if (e.kind === "call") return "call of something that is not a task";
  if (e.kind === "sleep" || e.kind === "compute") {
    const ms = e.kind === "sleep" ? e.ms : typeof e.ns === "number" ? e.ns / 1e6 : NaN;
    if (typeof ms !== "number" || !(ms >= 0 && ms <= MAX_EFFECT_MS)) {
      return `${e.kind} of ${e.kind === "sleep" ? `${e.ms} ms` : `${e.ns} ns`}: ` +
        `expected a time from 0 to ${MAX_EFFECT_MS} ms`;
    }
    return undefined;
  }
  return `unknown effect kind ${JSON.stringify(e.kind)}; accepted: hcall, sleep, compute`;
}

/** Issues one hcall (`hvsc`) and returns what the hypervisor answered. */
export function* hcall(opcode: number, ...args: bigint[]): Task<PlparResult> {
  const answer = yield { kind: "hcall", opcode, args };
  if (!answer) {
    throw new Error(
      `the runtime resumed an hcall (opcode 0x${opcode.toString(16)}) without an answer`,
    );
  }
  return answer;
}

/**
 * `yield* call(task)` is `yield* task`, except that the subtask runs on the
 * runner's stack (see {@link flatten}): while it blocks, the generators that
 * called it stay suspended instead of being resumed on every answer. Used
 * where deep kernel code makes many hcalls in a loop (a label read makes one
 * per 8 bytes), it keeps the work per hcall independent of the depth.
 */
export function* call<T>(task: Task<T>): Task<T> {
  return (yield { kind: "call", task }) as T;
}

/**
 * A task with its {@link call}s run in place: a stack of generators, the
 * innermost resumed with each answer, what one returns or throws delivered
 * to the one that called it, exactly as `yield*` would deliver it. Runners
 * drive tasks through this.
 */
export function flatten<T>(task: Task<T>): FlatTask<T> {
  return new Flattened(task) as unknown as FlatTask<T>;
}

/** Most calls nested in one task (guest recursion gone wrong fails that task). */
export const MAX_CALL_DEPTH = 1024;

class Flattened<T> {
  /** The root task, then each subtask called and not finished, innermost last. */
  readonly #stack: Task<unknown>[];

  constructor(task: Task<T>) {
    this.#stack = [task];
  }

  next(value?: PlparResult): IteratorResult<Effect, T> {
    return this.#drive(false, value);
  }

  throw(error: unknown): IteratorResult<Effect, T> {
    return this.#drive(true, error);
  }

  /** Closes every generator, innermost first (their `finally` blocks run, as under `yield*`). */
  return(value: T): IteratorResult<Effect, T> {
    const stack = this.#stack;
    let failure: { error: unknown } | undefined;
    while (stack.length > 1) {
      try {
        stack.pop()!.return(undefined);
      } catch (error) {
        failure ??= { error };
      }
    }
    const last = stack[0].return(value) as IteratorResult<Effect, T>;
    if (failure) throw failure.error;
    return last;
  }

  [Symbol.iterator](): this {
    return this;
  }

  #drive(throwing: boolean, input: unknown): IteratorResult<Effect, T> {
    const stack = this.#stack;
    for (;;) {
      const top = stack[stack.length - 1];
      let step: IteratorResult<Effect | CallEffect, unknown>;
      try {
        step = throwing ? top.throw(input) : top.next(input as PlparResult | undefined);
      } catch (error) {
        if (stack.length === 1) throw error;
        // The subtask failed: its caller gets the error where it called.
        stack.pop();
        throwing = true;
        input = error;
        continue;
      }
      if (step.done) {
        if (stack.length === 1) return step as IteratorResult<Effect, T>;
        stack.pop();
        throwing = false;
        input = step.value;
        continue;
      }
      const effect = step.value;
      if (effect.kind === "call" && isTask(effect.task)) {
        if (stack.length >= MAX_CALL_DEPTH) {
          throwing = true;
          input = new RangeError(`guest code nested more than ${MAX_CALL_DEPTH} calls`);
          continue;
        }
        stack.push(effect.task);
        throwing = false;
        input = undefined;
        continue;
      }
      return step as IteratorResult<Effect, T>;
    }
  }
}

/** `msleep(ms)`. */
export function* msleep(ms: number): Task<void> {
  yield { kind: "sleep", ms };
}

/** Spends `ns` of the kernel's own CPU time on `what`. */
export function* compute(ns: number, what: string): Task<void> {
  if (ns > 0) yield { kind: "compute", ns, what };
}

/** Wraps a plain value as a task that never blocks. */
// deno-lint-ignore require-yield
export function* done<T>(value: T): Task<T> {
  return value;
}

/** True for a generator object (what a task-returning method gave back). */
export function isTask(value: unknown): value is Task<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { next?: unknown }).next === "function" &&
    typeof (value as { throw?: unknown }).throw === "function" &&
    Symbol.iterator in value;
}

/**
 * Runs a task to its end on this thread, answering each hcall with
 * `answer` (a core called directly, say); sleeps and compute take no time.
 * The quickest way to drive guest code in a test or a benchmark.
 * @example
 * ```ts
 * import { hcall, runSync } from "./task.ts";
 * const rc = runSync(hcall(0xF000), () => ({ rc: 0, rets: new Array(9).fill(0n) })).rc;
 * ```
 */
export function runSync<T>(
  root: Task<T>,
  answer: (opcode: number, args: readonly bigint[]) => PlparResult,
): T {
  const task = flatten(root);
  let step = task.next();
  while (!step.done) {
    const effect = step.value;
    step = task.next(effect.kind === "hcall" ? answer(effect.opcode, effect.args) : undefined);
  }
  return step.value;
}
