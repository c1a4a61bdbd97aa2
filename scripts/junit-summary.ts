// Reads bun test's JUnit reports and prints the closing line CI reads:
// "N passed, N failed, N skipped". A skipped or todo test is never a pass.
import { readFileSync } from "node:fs";

const files = process.argv.slice(2);
if (!files.length) throw new Error("usage: junit-summary.ts <junit.xml>...");
let passed = 0;
let failed = 0;
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
