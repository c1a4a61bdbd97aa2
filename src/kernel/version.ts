// "6.12.117+deb12-rt-amd64" and "1.1.2" compared by their first two numbers.

/** Whether a version string is at least major.minor; false when it does not start with two numbers. */
export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return !!m && (Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor));
}
