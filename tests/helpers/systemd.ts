// Just enough of systemd's own parsing to run our unit the way systemd would:
// unit-file keys, EnvironmentFile= assignments, and $VAR expansion in Exec
// lines ("$VAR" alone splits on whitespace and vanishes when empty).

export function unitValues(unit: string, key: string): string[] {
  return unit
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]!))
      value = value.slice(1, -1);
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

/** An Exec line as argv; a leading "-" (ignore failure) is dropped. */
export function expandExec(line: string, env: Record<string, string>): string[] {
  const argv: string[] = [];
  for (const word of line.replace(/^-/, "").split(/\s+/).filter(Boolean)) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) argv.push(...(env[whole[1]!] ?? "").split(/\s+/).filter(Boolean));
    else argv.push(word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, k: string) => env[k] ?? ""));
  }
  return argv;
}
