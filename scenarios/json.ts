/**
 * JSON text for values holding 64-bit integers (printed as exact numbers).
 * @module
 */

// V8 has JSON.rawJSON; TypeScript's lib does not declare it yet.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** `JSON.stringify` that prints bigints as exact JSON numbers. */
export function toJsonText(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_key, v) => (typeof v === "bigint" ? rawJSON(v.toString()) : v),
    indent,
  );
}
