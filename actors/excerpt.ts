/**
 * Bad values as messages quote them: short, and never throwing, whatever the
 * value (used by the configuration's and the API's checks).
 * @module
 */

/** At most this many characters of a bad value are quoted in a message. */
export const EXCERPT_CHARS = 60;

/**
 * A short rendering of any value for messages, JSON-like: at most
 * `EXCERPT_CHARS` characters then "…". It never throws and never recurses
 * deeper than the excerpt is long: BigInts read `5n`, non-finite numbers
 * `NaN` or `Infinity`, cycles `[Circular]`, functions `[Function: f]`.
 */
export function excerpt(value: unknown): string {
  let out = "";
  const full = () => out.length > EXCERPT_CHARS;
  const ancestors: unknown[] = [];
  const put = (v: unknown): void => {
    if (full()) return;
    switch (typeof v) {
      case "string":
        out += JSON.stringify(v.slice(0, EXCERPT_CHARS + 1));
        return;
      case "number":
        out += Object.is(v, -0) ? "-0" : String(v);
        return;
      case "bigint":
        out += `${v}n`;
        return;
      case "symbol":
        out += v.toString();
        return;
      case "function":
        out += `[Function: ${v.name || "(anonymous)"}]`;
        return;
      case "object":
        break;
      default: // undefined, boolean
        out += String(v);
        return;
    }
    if (v === null) return void (out += "null");
    if (ancestors.includes(v)) return void (out += "[Circular]");
    ancestors.push(v);
    if (Array.isArray(v)) {
      out += "[";
      for (let i = 0; i < v.length && !full(); i++) {
        if (i) out += ",";
        put(v[i]);
      }
      out += "]";
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        const name = proto?.constructor?.name;
        if (typeof name === "string" && name) out += `${name} `;
      }
      out += "{";
      let first = true;
      for (const key in v) {
        if (full()) break;
        if (!Object.hasOwn(v, key)) continue;
        if (!first) out += ",";
        first = false;
        out += `${JSON.stringify(key.slice(0, EXCERPT_CHARS + 1))}:`;
        put((v as Record<string, unknown>)[key]);
      }
      out += "}";
    }
    ancestors.pop();
  };
  try {
    put(value);
  } catch {
    // A getter or proxy that throws: show what was rendered so far.
    out += "…";
  }
  return clip(out);
}

/** `text`, or its first `EXCERPT_CHARS` characters and "…". */
export function clip(text: string): string {
  if (text.length <= EXCERPT_CHARS) return text;
  let cut = EXCERPT_CHARS;
  if (/[\ud800-\udbff]/.test(text[cut - 1])) cut--; // keep a surrogate pair whole
  return `${text.slice(0, cut)}…`;
}
