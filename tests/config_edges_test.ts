/**
 * Configuration edge cases (issue 10, item 11): any value in an error
 * message (BigInt, cycles, functions, symbols, NaN, 1e400, huge nesting)
 * gives a short message naming the field and what is accepted; deeply
 * nested JSON is located without a stack overflow; duplicate keys are
 * refused with the key, file, line and column.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError, loadConfigFile, parseConfigText, resolveConfig } from "../actors/config.ts";

/** Calls `f`, which must throw a ConfigError; returns its message. */
function configError(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
    return error.message;
  }
  assert.fail("no error");
}

/** A configuration with `value` as its first nvdimm's `blocks`. */
const withBlocks = (value: unknown) => ({
  lpars: [{ name: "lpar1", nvdimms: [{ drc: "0x44100002", blocks: value }] }],
});

/** The same as JSON text, with `value` written as given. */
const blocksText = (value: string) =>
  `{"lpars": [{"name": "lpar1", "nvdimms": [{"drc": "0x44100002", "blocks": ${value}}]}]}`;

Deno.test("config edges: any bad value is named and shown, never a serialisation error", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: [unknown, string][] = [
    [5n, "5n"],
    [cyclic, '{"a":1,"self":[Circular]}'],
    [function blocks() {}, "[Function: blocks]"],
    [Symbol("four"), "Symbol(four)"],
    [NaN, "NaN"],
    [Infinity, "Infinity"],
    [-Infinity, "-Infinity"],
    [[1n, { b: 2n }], '[1n,{"b":2n}]'],
  ];
  for (const [value, shown] of cases) {
    const message = configError(() => resolveConfig(withBlocks(value)));
    assert.equal(
      message,
      `config.lpars[0].nvdimms[0].blocks: ${shown} is not valid; expected a positive integer`,
    );
  }
  // Absent where required: undefined, said so.
  assert.equal(
    configError(() => resolveConfig({ lpars: [{ name: "lpar1", nvdimms: [{ drc: 1 }] }] })),
    "config.lpars[0].nvdimms[0].blocks: undefined is not valid; expected a positive integer",
  );
  // A cyclic LPAR list, a BigInt DRC, a symbol name.
  assert.match(
    configError(() => resolveConfig({ lpars: cyclic })),
    /^config\.lpars: \{"a":1,"self":\[Circular\]\} is not valid; expected a non-empty array/,
  );
  assert.match(
    configError(() => resolveConfig({ lpars: [{ name: "l", nvdimms: [{ drc: 7n, blocks: 1 }] }] })),
    /^config\.lpars\[0\]\.nvdimms\[0\]\.drc: 7n is not valid; expected a 32-bit DRC index/,
  );
  assert.match(
    configError(() => resolveConfig({ lpars: [{ name: Symbol.iterator }] })),
    /^config\.lpars\[0\]\.name: Symbol\(Symbol\.iterator\) is not valid; expected 1 to 64/,
  );
  assert.match(
    configError(() => resolveConfig({ hypervisor: { flushLatencyMs: NaN }, lpars: [] })),
    /^config\.hypervisor\.flushLatencyMs: NaN is not valid; expected a number of milliseconds/,
  );
});

Deno.test("config edges: numbers in JSON text are quoted as written", () => {
  for (const written of ["1e400", "-1e400", "1E+999", "1.5", "0.0", "-0"]) {
    assert.equal(
      configError(() => parseConfigText(blocksText(written), "n.json")),
      `n.json: config.lpars[0].nvdimms[0].blocks: ${written} is not valid; ` +
        "expected a positive integer",
    );
  }
  // Only the value at the failing field is quoted as written: 1e400 elsewhere changes nothing.
  assert.match(
    configError(() =>
      parseConfigText(
        '{"description": "x", "lpars": [{"name": "lpar1", "nvdimms": ' +
          '[{"drc": 1e400, "blocks": 1}, {"drc": 2, "blocks": 1e400}]}]}',
        "m.json",
      )
    ),
    /^m\.json: config\.lpars\[0\]\.nvdimms\[0\]\.drc: 1e400 is not valid/,
  );
  const long = `1${"0".repeat(400)}`; // Infinity too, and long: clipped
  assert.equal(
    configError(() => parseConfigText(blocksText(long), "l.json")),
    `l.json: config.lpars[0].nvdimms[0].blocks: ${long.slice(0, 60)}… is not valid; ` +
      "expected a positive integer",
  );
});

Deno.test("config edges: deeply nested JSON, unclosed or valid", async () => {
  const depth = 100_000;
  // Unclosed: located at the end of the file, no stack overflow.
  assert.equal(
    configError(() => parseConfigText("[".repeat(depth), "deep.json")),
    `deep.json: not valid JSON at line 1, column ${depth + 1} (end of file): ` +
      "Unexpected end of JSON input",
  );
  assert.match(
    configError(() => parseConfigText(`{\n  "lpars":\n${'[{"a":'.repeat(depth)}`, "deep.json")),
    new RegExp(`^deep\\.json: not valid JSON at line 3, column ${6 * depth + 1} \\(end of file\\)`),
  );
  // Through the file loader too.
  const path = await Deno.makeTempFile({ dir: "tests", suffix: ".json" });
  try {
    await Deno.writeTextFile(path, `{"lpars":\n${"[".repeat(depth)}`);
    await assert.rejects(
      loadConfigFile(path),
      (e: Error) =>
        e instanceof ConfigError &&
        e.message.startsWith(
          `${path}: not valid JSON at line 2, column ${depth + 1} (end of file)`,
        ),
    );
  } finally {
    await Deno.remove(path);
  }
  // Valid but absurd: the message quotes a short excerpt, not 200 KB.
  const valid = `{"lpars": ${"[".repeat(depth)}${"]".repeat(depth)}}`;
  const message = configError(() => parseConfigText(valid, "deep.json"));
  assert.equal(
    message,
    `deep.json: config.lpars[0]: ${"[".repeat(60)}… is not valid; expected an object`,
  );
  // The same from code, and a long string.
  let nested: unknown[] = [];
  for (let i = 0; i < depth; i++) nested = [nested];
  assert.ok(configError(() => resolveConfig({ lpars: [nested] })).length < 200);
  assert.equal(
    configError(() => resolveConfig({ lpars: [{ name: "x".repeat(100_000) }] })),
    `config.lpars[0].name: "${"x".repeat(59)}… is not valid; ` +
      "expected 1 to 64 letters, digits, '_', '.' or '-'",
  );
});

Deno.test("config edges: duplicate keys are refused with the key, file, line and column", () => {
  assert.equal(
    configError(() =>
      parseConfigText('{\n  "lpars": [],\n  "lpars": [{"name": "lpar1"}]\n}', "dup.json")
    ),
    'dup.json: duplicate key "lpars" in config at line 3, column 3 ' +
      "(first at line 2, column 3); a key may be given once in each object",
  );
  // Nested, and spelt differently (an escape) but the same key.
  assert.match(
    configError(() =>
      parseConfigText(
        '{"lpars": [{"name": "a"}, {"name": "b",\n "kernel": "5.3", "ker\\u006eel": "5.4"}]}',
        "dup.json",
      )
    ),
    /^dup\.json: duplicate key "kernel" in config\.lpars\[1\] at line 2, column 19 \(first at line 2, column 2\)/,
  );
  // Deep in a structure resolveConfig would never look at, too.
  assert.match(
    configError(() =>
      parseConfigText(
        `{"lpars": [{"name": "a"}], "x": ${"[".repeat(1000)}{"k":1,"k":2}${"]".repeat(1000)}}`,
        "d",
      )
    ),
    /^d: duplicate key "k" in config\.x\[0\]\[0\]/,
  );
  // The same key in different objects is fine.
  const config = parseConfigText(
    '{"lpars": [{"name": "a", "nvdimms": [{"drc": 1, "blocks": 1}, {"drc": 2, "blocks": 1}]},' +
      ' {"name": "b"}]}',
    "ok.json",
  );
  assert.equal(config.lpars.length, 2);
});

Deno.test("config edges: any valid JSON is parsed, then checked: never a syntax or duplicate error", () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.string(), (value, key) => {
      for (
        const text of [JSON.stringify({ lpars: value }), JSON.stringify({ [key]: value }, null, 2)]
      ) {
        try {
          parseConfigText(text, "p.json");
        } catch (error) {
          assert.ok(error instanceof ConfigError, `not a ConfigError: ${error}`);
          assert.doesNotMatch(error.message, /not valid JSON|duplicate key/);
        }
      }
    }),
    { numRuns: 300 },
  );
});
