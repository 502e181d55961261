/**
 * `call` runs a subtask on the runner's stack: what it returns or throws
 * reaches its caller exactly as through `yield*`, `finally` blocks run in
 * the same order when a task is abandoned, errors thrown in by a runner
 * reach the innermost generator, and a bad call fails the one who made it.
 */
import assert from "node:assert/strict";
import {
  call,
  type Effect,
  effectProblem,
  flatten,
  hcall,
  MAX_CALL_DEPTH,
  type PlparResult,
  runSync,
  type Task,
} from "../guest/task.ts";

const answer = (rc: number): PlparResult => ({ rc, rets: [0n] });

/** A leaf that makes two hcalls and returns the sum of their codes. */
function* leaf(log: string[]): Task<number> {
  try {
    const a = yield* hcall(1);
    const b = yield* hcall(2);
    return a.rc + b.rc;
  } finally {
    log.push("leaf finally");
  }
}

/** The same caller written with `yield*` and with `call`. */
function caller(useCall: boolean, log: string[]) {
  return function* (): Task<string> {
    try {
      const n = useCall ? yield* call(leaf(log)) : yield* leaf(log);
      return `sum ${n}`;
    } catch (error) {
      return `caught ${(error as Error).message}`;
    } finally {
      log.push("caller finally");
    }
  };
}

/** Drives a flattened task, answering each hcall with its opcode as the rc. */
function drive<T>(task: Task<T>, throwAt?: number): { value: T; effects: Effect[] } {
  const flat = flatten(task);
  const effects: Effect[] = [];
  let step = flat.next();
  while (!step.done) {
    effects.push(step.value);
    const op = step.value.kind === "hcall" ? step.value.opcode : 0;
    step = op === throwAt ? flat.throw(new Error(`boom at ${op}`)) : flat.next(answer(op));
  }
  return { value: step.value, effects };
}

Deno.test("call: the same effects, result and finally order as yield*", () => {
  for (const throwAt of [undefined, 1, 2]) {
    const viaYield: string[] = [], viaCall: string[] = [];
    const a = drive(caller(false, viaYield)(), throwAt);
    const b = drive(caller(true, viaCall)(), throwAt);
    assert.deepEqual(b, a, `throwAt ${throwAt}`);
    assert.deepEqual(viaCall, viaYield);
  }
  assert.equal(drive(caller(true, [])()).value, "sum 3");
  assert.equal(drive(caller(true, [])(), 2).value, "caught boom at 2");
});

Deno.test("call: an error the subtask throws reaches the caller where it called", () => {
  // deno-lint-ignore require-yield
  function* failing(): Task<number> {
    throw new RangeError("inner");
  }
  function* outer(): Task<string> {
    try {
      yield* call(failing());
      return "not reached";
    } catch (error) {
      return (error as Error).message;
    }
  }
  assert.equal(runSync(outer(), () => answer(0)), "inner");
  // Uncaught, it leaves the flattened task.
  assert.throws(() => runSync(call(failing()), () => answer(0)), /inner/);
});

Deno.test("call: abandoning a task closes the subtask first, then its callers", () => {
  const log: string[] = [];
  const flat = flatten(caller(true, log)());
  const first = flat.next();
  assert.ok(!first.done && first.value.kind === "hcall");
  flat.return(undefined as unknown as string);
  assert.deepEqual(log, ["leaf finally", "caller finally"]);
  assert.equal(flat.next().done, true);
});

Deno.test("call: nested calls and a plain value", () => {
  function* depth(n: number): Task<number> {
    if (n === 0) return (yield* hcall(7)).rc;
    return 1 + (yield* call(depth(n - 1)));
  }
  assert.equal(runSync(depth(10), (op) => answer(op)), 17);
});

Deno.test("call: nesting past MAX_CALL_DEPTH fails the task that nests, not the runner", () => {
  function* deep(): Task<number> {
    return yield* call(deep());
  }
  assert.throws(
    () => runSync(deep(), () => answer(0)),
    new RangeError(`guest code nested more than ${MAX_CALL_DEPTH} calls`),
  );
});

Deno.test("call: a call of something that is not a task is a bad effect", () => {
  function* bad(): Task<string> {
    // deno-lint-ignore no-explicit-any
    yield { kind: "call", task: 42 } as any;
    return "after";
  }
  const flat = flatten(bad());
  const step = flat.next();
  assert.equal(step.done, false);
  assert.deepEqual(step.value, { kind: "call", task: 42 });
  // A runner refuses it as it refuses any bad effect.
  assert.equal(effectProblem(step.value), "call of something that is not a task");
});
