// What reaches a terminal or a log is printable: a task's name (any byte but
// NUL, set by any user with prctl) must not move the cursor, retitle a window,
// ring a bell or start a line that looks like stalld's. C0 controls (but TAB,
// which moves nothing but the cursor along the line, and which the original's
// own lines begin with), DEL, C1 controls and the Unicode line and paragraph
// separators become visible escapes; everything else, UTF-8 included, stays.

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/g;

function hex(c: string): string {
  const n = c.charCodeAt(0);
  return n > 0xff ? `\\u${n.toString(16).padStart(4, "0")}` : `\\x${n.toString(16).padStart(2, "0")}`;
}

/** "\x1b[2J" for ESC [ 2 J, "\x0a" for a newline, "\u2028" for LINE SEPARATOR. */
export function escapeControls(s: string): string {
  return s.replace(CONTROLS, hex);
}

/** JSON text with DEL, C1 and U+2028/2029 as \u escapes too (JSON.stringify leaves them raw). */
export function jsonSafe(json: string): string {
  return json.replace(/[\x7f-\x9f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
