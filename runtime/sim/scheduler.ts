/**
 * The simulation's scheduler: one thread, virtual time, a seeded choice of
 * which partition steps next. Each partition runs one task at a time (its
 * control-plane calls, in the order asked); a task runs until it yields an
 * effect. An hcall is answered when the scheduler picks its partition; a
 * sleep or the kernel's own work makes the partition wait on the virtual
 * clock; when nobody can run, the clock jumps to the next wake-up.
 * @module
 */
import type { Effect, FlatTask, PlparResult, Task } from "../../guest/task.ts";
import { effectProblem, flatten, isTask } from "../../guest/task.ts";
import type { SeededRandom } from "./random.ts";

/** Most calls waiting on one partition; one more is refused to its caller. */
export const MAX_QUEUED_CALLS = 4096;
/**
 * Most effects one call may yield: a runaway loop in guest code fails that
 * call, not the machine. Far above any real call (a boot that binds a
 * million blocks one per hcall stays under it), so reaching it means a loop.
 */
export const MAX_TASK_EFFECTS = 50_000_000;

/** Answers one hcall of partition `lpar`; `elapsedNs` is the hypervisor time it took. */
export type HcallExecutor = (
  lpar: number,
  opcode: number,
  args: readonly bigint[],
) => { result: PlparResult; elapsedNs: number };

interface Call {
  start: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Running extends Call {
  task: FlatTask<unknown>;
  /** The hcall yielded and not answered yet. */
  hcall?: Effect & { kind: "hcall" };
  /** What to resume the task with when its partition steps next. */
  answer?: PlparResult;
  effects: number;
}

/** One partition as the scheduler runs it. */
export class SimPartition {
  readonly id: number;
  readonly name: string;
  /** Virtual time (ns) before which this partition cannot step. */
  readyAt = 0;
  readonly #maxEffects: number;
  readonly #queue: Call[] = [];
  #running?: Running;
  #stopped?: Error;
  /** Told when work arrives or the partition stops (the scheduler's runnable list is stale). */
  onChange: () => void = () => {};

  /** A partition; `maxEffects` bounds each of its calls (default MAX_TASK_EFFECTS). */
  constructor(id: number, name: string, maxEffects = MAX_TASK_EFFECTS) {
    this.id = id;
    this.name = name;
    this.#maxEffects = maxEffects;
  }

  /** Has work: a call running or waiting. */
  get active(): boolean {
    return this.#running !== undefined || this.#queue.length > 0;
  }

  /** Queues a call; the promise settles with what it returned (a task runs under the scheduler). */
  submit<T>(start: () => unknown): Promise<T> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    if (this.#queue.length >= MAX_QUEUED_CALLS) {
      return Promise.reject(
        new RangeError(
          `${this.name}: ${MAX_QUEUED_CALLS} calls are already waiting; wait for some`,
        ),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    this.#queue.push({ start, resolve: resolve as (v: unknown) => void, reject });
    this.onChange();
    return promise;
  }

  /** Ends the partition: its running and waiting calls fail with `reason`. */
  stop(reason: Error): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    const calls: Call[] = [...this.#queue.splice(0)];
    if (this.#running) {
      abandon(this.#running.task);
      calls.unshift(this.#running);
    }
    this.#running = undefined;
    this.onChange();
    for (const call of calls) call.reject(reason);
  }

  /**
   * One step at virtual time `now`. Returns true when a call finished (its
   * promise settled), so the caller can let the control plane react.
   */
  step(now: number, execute: HcallExecutor): boolean {
    const running = this.#running;
    if (!running) return this.#startNext(now);
    if (running.hcall) {
      const { opcode, args } = running.hcall;
      running.hcall = undefined;
      let answer: ReturnType<HcallExecutor>;
      try {
        answer = execute(this.id, opcode, args);
      } catch (error) {
        // The hypervisor could not answer this call: it fails the caller alone.
        return this.#resume(running, undefined, now, error);
      }
      const { result, elapsedNs } = answer;
      if (elapsedNs > 0) {
        // The answer arrives when the hypervisor is done with the call.
        running.answer = result;
        this.readyAt = now + elapsedNs;
        return false;
      }
      return this.#resume(running, result, now);
    }
    const answer = running.answer;
    running.answer = undefined;
    return this.#resume(running, answer, now);
  }

  #startNext(now: number): boolean {
    const call = this.#queue.shift()!;
    let value: unknown;
    try {
      value = call.start();
    } catch (error) {
      call.reject(error);
      return true;
    }
    if (!isTask(value)) {
      call.resolve(value);
      return true;
    }
    const running: Running = { ...call, task: flatten(value as Task<unknown>), effects: 0 };
    this.#running = running;
    return this.#resume(running, undefined, now);
  }

  #resume(
    running: Running,
    value: PlparResult | undefined,
    now: number,
    thrown?: unknown,
  ): boolean {
    let step: IteratorResult<Effect, unknown>;
    try {
      if (++running.effects > this.#maxEffects) {
        abandon(running.task);
        throw new RangeError(
          `${this.name}: a call yielded more than ${this.#maxEffects} hcalls and sleeps; ` +
            `stopped as a runaway loop`,
        );
      }
      step = thrown === undefined ? running.task.next(value) : running.task.throw(thrown);
      // Guest code that yields nonsense gets the error thrown back where it yielded.
      for (let problem; !step.done && (problem = effectProblem(step.value)) !== undefined;) {
        step = running.task.throw(new TypeError(`guest code yielded a bad effect: ${problem}`));
      }
    } catch (error) {
      this.#running = undefined;
      running.reject(error);
      return true;
    }
    if (step.done) {
      this.#running = undefined;
      running.resolve(step.value);
      return true;
    }
    const effect = step.value;
    if (effect.kind === "hcall") {
      running.hcall = effect;
      this.readyAt = now;
    } else {
      this.readyAt = now + (effect.kind === "sleep" ? effect.ms * 1e6 : effect.ns);
    }
    return false;
  }
}

/** Closes an abandoned task so its `finally` blocks (buffers it holds) run. */
function abandon(task: FlatTask<unknown>): void {
  try {
    task.return(undefined);
  } catch {
    // It failed while unwinding: it is being dropped either way.
  }
}

/** Removes `list[index]`, keeping the order (as `splice`, without making an array of it). */
function removeAt<T>(list: T[], index: number): void {
  for (let i = index + 1; i < list.length; i++) list[i - 1] = list[i];
  list.length--;
}

/** Chooses, with a seeded random source, which partition steps; keeps the virtual clock. */
export class Scheduler {
  /** Virtual time, ns. */
  now = 0;
  /** Steps taken. */
  steps = 0;
  readonly #partitions: SimPartition[] = [];
  readonly #random: SeededRandom;
  readonly #execute: HcallExecutor;
  /**
   * The runnable partitions in partition order, kept between steps at one
   * virtual time: a step changes only the stepped partition, so it is
   * dropped from the list when it stops being runnable, instead of every
   * partition being looked at again for every step (O(partitions) a step
   * made 1,000 partitions reading their label areas take minutes).
   */
  readonly #runnable: SimPartition[] = [];
  /** The list is valid for this virtual time (NaN: rebuild). */
  #runnableAt = NaN;
  /** Some active partition waits for the clock. */
  #waiting = false;

  constructor(random: SeededRandom, execute: HcallExecutor) {
    this.#random = random;
    this.#execute = execute;
  }

  /** Adds a partition. */
  add(partition: SimPartition): void {
    this.#partitions.push(partition);
    partition.onChange = () => void (this.#runnableAt = NaN);
    this.#runnableAt = NaN;
  }

  #rebuild(): void {
    const runnable = this.#runnable;
    runnable.length = 0;
    this.#waiting = false;
    for (const p of this.#partitions) {
      if (!p.active) continue;
      if (p.readyAt <= this.now) runnable.push(p);
      else this.#waiting = true;
    }
    this.#runnableAt = this.now;
  }

  /**
   * Steps one runnable partition, chosen at random. Returns `"stepped"`,
   * `"settled"` (a call finished), `"waiting"` (only sleepers: call
   * `advance`) or `"idle"` (no work at all).
   */
  step(): "stepped" | "settled" | "waiting" | "idle" {
    if (this.#runnableAt !== this.now) this.#rebuild();
    const runnable = this.#runnable;
    if (runnable.length === 0) return this.#waiting ? "waiting" : "idle";
    const index = runnable.length === 1 ? 0 : this.#random.below(runnable.length);
    const chosen = runnable[index];
    this.steps++;
    const settled = chosen.step(this.now, this.#execute);
    if (!chosen.active) removeAt(runnable, index);
    else if (chosen.readyAt > this.now) {
      removeAt(runnable, index);
      this.#waiting = true;
    }
    return settled ? "settled" : "stepped";
  }

  /** Moves the clock to the earliest wake-up; false when nobody waits. */
  advance(): boolean {
    let next = Infinity;
    for (const p of this.#partitions) {
      if (p.active && p.readyAt > this.now && p.readyAt < next) next = p.readyAt;
    }
    if (next === Infinity) return false;
    this.now = next;
    return true;
  }
}
