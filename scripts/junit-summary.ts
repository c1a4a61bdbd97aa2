// Reads bun test's JUnit reports and prints the closing line CI reads:
// "N passed, N failed, N skipped". A skipped or todo test is never a pass.
import { readFileSync } from "node:fs";

// --extra P,F (repeatable): rows judged elsewhere (the lint, the kernel lab's
// "lab: P passed, F failed"); one that does not read as two counts is a failure.
const args = process.argv.slice(2);
let passed = 0;
let failed = 0;
for (let at = args.indexOf("--extra"); at >= 0; at = args.indexOf("--extra")) {
  let extra = (args[at + 1] ?? "").split(",").map(Number);
  if (extra.length !== 2 || extra.some((n) => !Number.isInteger(n) || n < 0)) extra = [0, 1];
  passed += extra[0]!;
  failed += extra[1]!;
  args.splice(at, 2);
}
const files = args;
if (!files.length) throw new Error("usage: junit-summary.ts [--extra P,F]... <junit.xml>...");
let skipped = 0;
for (const file of files) {
  let xml = "";
  try {
    xml = readFileSync(file, "utf8");
  } catch {
    // No report: the runner died before writing it.
    failed++;
    continue;
  }
  count(xml);
}

function count(xml: string): void {
  for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
}
// A runner that crashed (or found nothing) must not look green.
if (passed + failed + skipped === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
