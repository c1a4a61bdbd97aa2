// The kernel lab's judge: reads each guest's console (marker lines written by
// lab/init.sh), decides every kernel x scenario row, writes KERNELS.md (the
// table, the commands, then lab/FINDINGS.md) and exits 1 if a row failed.
//   bun lab/report.ts --out KERNELS.md --scenarios 1,2,3 [--backends a,b] build/lab/6.1-rt ...
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** -t of every stalld the scenarios start, and the bound a rescue must meet. */
const THRESHOLD_S = 3;
const RESCUE_BOUND_S = THRESHOLD_S + 2;
const BOOST_S = 3;
/**
 * sched_debug dates a wait by the first read that sees it and reads every
 * quarter threshold (daemon/detect.ts, passStepNs): its detection bound is
 * 1.25 x threshold, so its rescue bound is that + 2 s (5.75 s at -t 3).
 */
const UNDATED_RESCUE_BOUND_S = 1.25 * THRESHOLD_S + 2;
const rescueBound = (backend: string) => (backend === "sched_debug" ? UNDATED_RESCUE_BOUND_S : RESCUE_BOUND_S);
/**
 * A SCHED_OTHER task sleeping on PREEMPT_RT without a DL-server: its timer
 * expires in ktimers/N, itself starving, so it waits twice: ktimers for -t
 * until its boost, then the task it woke for another -t until its own.
 */
const TWO_HOP_BOUND_S = 2 * THRESHOLD_S + 2;

/** The bound for a fair sleeper's longest gap on this guest. */
function fairSleeperBound(g: Guest): number {
  return g.marks.get("facts")?.preempt_rt === "1" && !dlServerServes(g) ? TWO_HOP_BOUND_S : RESCUE_BOUND_S;
}

export interface Row {
  kernel: string;
  scenario: string;
  ok: boolean;
  result: string;
  figure: string;
  /** Not applicable on this kernel: neither passed nor failed. */
  na?: boolean;
}

type Fields = Record<string, string>;

export interface Guest {
  kernel: string;
  host: Fields;
  marks: Map<string, Fields>;
  logs: Map<string, string[]>;
  raw: string;
}

function fieldsOf(words: string[]): Fields {
  const f: Fields = {};
  for (const w of words) {
    const i = w.indexOf("=");
    if (i > 0) f[w.slice(0, i)] = w.slice(i + 1);
    else f[w] = "";
  }
  return f;
}

export function parseConsole(kernel: string, text: string): Guest {
  const g: Guest = { kernel, host: {}, marks: new Map(), logs: new Map(), raw: text };
  for (const line0 of text.split("\n")) {
    const line = line0.replace(/\r$/, "");
    let i = line.indexOf("@@LAB ");
    if (i >= 0) {
      const [name, ...rest] = line
        .slice(i + 6)
        .trim()
        .split(/\s+/);
      if (!name || rest[0] === "log-begin" || rest[0] === "log-end") continue;
      g.marks.set(name, { ...g.marks.get(name), ...fieldsOf(rest) });
      continue;
    }
    i = line.indexOf("@@LOG ");
    if (i >= 0) {
      const rest = line.slice(i + 6);
      const sp = rest.indexOf(" ");
      const name = sp < 0 ? rest : rest.slice(0, sp);
      if (!g.logs.has(name)) g.logs.set(name, []);
      g.logs.get(name)!.push(sp < 0 ? "" : rest.slice(sp + 1));
      continue;
    }
    i = line.indexOf("@@HOST ");
    if (i >= 0)
      g.host = fieldsOf(
        line
          .slice(i + 7)
          .trim()
          .split(/\s+/),
      );
  }
  return g;
}

const num = (s: string | undefined) => (s === undefined || s === "" ? NaN : Number(s));

/** Kernels whose CPU 1 has a DL-server serving fair tasks in this boot. */
function dlServerServes(g: Guest): boolean {
  const rt = g.marks.get("facts")?.dl_runtime;
  return rt !== undefined && rt !== "none" && Number(rt) > 0;
}

/** A row of one guest's scenario, from its verdict. */
const rowOf =
  (g: Guest, scenario: string) =>
  (ok: boolean, result: string, figure = ""): Row => ({ kernel: g.kernel, scenario, ok, result, figure });

/** A scenario whose busy loop never ran on CPU 1 proves nothing. */
function hogMissing(g: Guest, ...names: string[]): string | false {
  const m = names.map((n) => g.marks.get(n)).find((f) => f && "hog-not-on-cpu1" in f);
  return m ? `the busy loop never ran on CPU 1 (state ${m.state ?? "?"}, cpu ${m.cpu ?? "?"}): no evidence` : false;
}

function restoredSeconds(lines: string[], pid: string): number[] {
  const re = new RegExp(`^.*restored pid ${pid} \\(.*? after ([0-9.]+) s \\(boost ended\\)`);
  return lines
    .map((l) => re.exec(l))
    .filter((m) => m !== null)
    .map((m) => Number(m![1]));
}

function doctorRow(g: Guest): Row {
  const row = rowOf(g, "1 doctor");
  const facts = g.marks.get("facts");
  let doc: { checks: { id: string; status: string; found: string }[] };
  try {
    doc = JSON.parse((g.logs.get("doctor") ?? []).join("\n"));
  } catch {
    return row(false, "doctor printed no JSON");
  }
  const check = (id: string) => doc.checks.find((c) => c.id === id);
  const wrong: string[] = [];
  const rt = facts?.preempt_rt === "1";
  const pre = check("preempt-rt");
  const saysRt = pre?.found.includes("PREEMPT_RT") && !/not PREEMPT_RT|no PREEMPT_RT/.test(pre.found);
  if (!pre || saysRt !== rt) wrong.push(`preempt-rt: ${pre?.found}`);
  if (check("btf")?.status !== "OK") wrong.push("btf");
  const lock = check("lockdown");
  if (!lock || !/none/.test(lock.found)) wrong.push(`lockdown: ${lock?.found}`);
  const hr = check("hrtick");
  if (!hr || /unknown/.test(hr.found)) wrong.push(`hrtick: ${hr?.found}`);
  const dl = check("dl-server");
  const dlRuntime = facts?.dl_runtime;
  if (!dl) wrong.push("no dl-server row");
  else if (dlRuntime === "none" && !/none in this kernel/.test(dl.found)) wrong.push(`dl-server: ${dl.found}`);
  else if (dlRuntime !== "none" && Number(dlRuntime) > 0 && !/50\/1000 ms/.test(dl.found))
    wrong.push(`dl-server: ${dl.found}`);
  else if (dlRuntime === "0" && !/off|0\/1000/.test(dl.found)) wrong.push(`dl-server: ${dl.found}`);
  if (!/deadline|SCHED_DEADLINE/.test(check("boost")?.found ?? "")) wrong.push(`boost: ${check("boost")?.found}`);
  return row(wrong.length === 0, wrong.length ? `wrong rows: ${wrong.join("; ")}` : "every row true for this kernel");
}

function backendRow(g: Guest, b: string): Row {
  const m = g.marks.get(`backend-${b}`);
  const log = g.logs.get(`backend-${b}`) ?? [];
  const r = rowOf(g, `2 ${b}`);
  if (!m?.pid) return r(false, "the victim did not report");
  const gap = num(m.maxgap);
  const boosted = log.some((l) => l.includes(`boosted pid ${m.pid} (`));
  const restored = restoredSeconds(log, m.pid).length > 0;
  const policyBack = m.policy === "1" && m.prio === "10";
  const problems = [
    !boosted && "victim never boosted",
    !restored && "victim never restored",
    !policyBack && `victim ended as policy ${m.policy} prio ${m.prio}`,
    !(gap <= rescueBound(b)) && `longest gap ${gap} s > ${rescueBound(b)} s`,
    m.throttling !== g.marks.get("facts")?.throttling && `throttling left at ${m.throttling}`,
    // Older consoles have no such marks: judged only where present.
    m.debugfs_after === "1" && "debugfs left mounted",
    m.hrtick_after !== undefined &&
      m.hrtick_after !== g.marks.get("facts")?.hrtick_dl &&
      `HRTICK_DL left ${m.hrtick_after} (found ${g.marks.get("facts")?.hrtick_dl})`,
    hogMissing(g, `backend-${b}`),
  ].filter(Boolean);
  return r(
    problems.length === 0,
    problems.length ? problems.join("; ") : "rescued; SCHED_FIFO 10, debugfs and HRTICK_DL back",
    `longest gap ${gap.toFixed(2)} s`,
  );
}

function refreshRow(g: Guest): Row {
  const alone = num(g.marks.get("refresh-alone")?.refresh);
  const withS = num(g.marks.get("refresh-stalld")?.refresh);
  const serves = dlServerServes(g);
  const problems = [
    Number.isNaN(alone) && "no figure without stalld",
    Number.isNaN(withS) && "no figure with stalld",
    // The scenario is only evidence where it really hangs without stalld.
    !serves && !(alone >= 10) && `did not hang without stalld (${alone} s)`,
    !(withS <= RESCUE_BOUND_S) && `with stalld ${withS} s > ${RESCUE_BOUND_S} s`,
    hogMissing(g, "refresh-alone", "refresh-stalld"),
    // The lab's own write back after the loop (seen once on 6.12: refused, so later scenarios began with throttling off).
    g.marks.get("refresh-alone")?.throttling_restore_failed !== undefined &&
      "the lab could not put RT throttling back after the loop",
  ].filter(Boolean);
  return rowOf(g, "3 stat_refresh")(
    problems.length === 0,
    problems.length ? problems.join("; ") : serves ? "DL-server serves it; quick either way" : "rescued",
    `${alone.toFixed(2)} s alone, ${withS.toFixed(2)} s with stalld -t 3`,
  );
}

function fairRow(g: Guest): Row {
  const m = g.marks.get("fair");
  const log = g.logs.get("fair") ?? [];
  const r = rowOf(g, "4 fair victim");
  if (!m?.pid) return r(false, "the victim did not report");
  const gap = num(m.maxgap);
  const left = log.some((l) => l.includes(`-${m.pid} starved on CPU 1`) && l.includes("left to the DL-server"));
  const boosted = log.some((l) => l.includes(`boosted pid ${m.pid} (`));
  if (dlServerServes(g)) {
    const ok = !boosted && gap <= RESCUE_BOUND_S;
    return r(
      ok,
      ok
        ? `left to the DL-server${left ? " (said)" : " (never starved long)"}`
        : boosted
          ? "boosted, though a DL-server serves it"
          : `gap ${gap} s`,
      `longest gap ${gap.toFixed(2)} s`,
    );
  }
  const bound = fairSleeperBound(g);
  const hops =
    bound === TWO_HOP_BOUND_S
      ? ` (PREEMPT_RT: its timer fires in the starving ktimers/1, two waits of -t: bound ${bound} s)`
      : "";
  const ok = boosted && gap <= bound;
  return r(
    ok,
    ok
      ? `no DL-server serves it: boosted, rescued${hops}`
      : boosted
        ? `boosted, gap ${gap} s > ${bound} s${hops}`
        : "never boosted",
    `longest gap ${gap.toFixed(2)} s`,
  );
}

function crashRow(g: Guest): Row {
  const m = g.marks.get("crash") ?? {};
  const problems = [
    // DEADLINE, or FIFO 98 on escalation's last rung.
    !(m.killed_policy === "6" || (m.killed_policy === "1" && m.killed_prio === "98")) &&
      `victim not boosted when stalld was killed (policy ${m.killed_policy} prio ${m.killed_prio ?? "?"})`,
    m.restarted_policy !== "1" && `victim left as policy ${m.restarted_policy} after the restart`,
    m.throttling_after !== m.throttling_before && `throttling ${m.throttling_after}, was ${m.throttling_before}`,
  ].filter(Boolean);
  return rowOf(g, "5 SIGKILL mid-boost")(
    problems.length === 0,
    problems.length ? problems.join("; ") : "restart put the victim and throttling back",
  );
}

function kthreadsRow(g: Guest): Row {
  const log = g.logs.get("kthreads") ?? [];
  const r = rowOf(g, "6 kthreads");
  const boosts = log
    .map((l) => /^(\S+) .*boosted pid (\d+) \(([^)]*)\)/.exec(l))
    .filter((x) => x !== null) as RegExpExecArray[];
  const names = new Set(boosts.map((b) => b[3]!.replace(/-.*$/, "")));
  const rt = g.marks.get("facts")?.preempt_rt === "1";
  // Name prefixes: on PREEMPT_RT the per-CPU kthreads that run softirqs,
  // timers and RCU callbacks; without it softirqs run on interrupt exit, and a
  // per-CPU kworker (vmstat, mm_percpu_wq) is what waits. A DL-server serves
  // the fair ones (ksoftirqd, kworkers): only the FIFO ones are ours there.
  const fifoOnes = rt ? ["rcuc/1", "ktimers/1"] : [];
  const fairOnes = rt ? ["ksoftirqd/1"] : ["kworker/1:"];
  const want = dlServerServes(g) ? fifoOnes : [...fifoOnes, ...fairOnes];
  const has = (prefix: string) => [...names].some((n) => n.startsWith(prefix));
  const missing = want.filter((n) => !has(n));
  const late = boosts.flatMap((b) => restoredSeconds(log, b[2]!)).filter((s) => s > BOOST_S + 1);
  // Each one's first boost: they all starve from the loop's start, so one pass should catch them all.
  const first = want
    .map((n) => boosts.find((b) => b[3]!.startsWith(n)))
    .filter((b) => b !== undefined)
    .map((b) => Date.parse(b[1]!));
  const spread = first.length ? (Math.max(...first) - Math.min(...first)) / 1000 : 0;
  const m = g.marks.get("kthreads") ?? {};
  const sleeper = num(m.sleeper_maxgap);
  const problems = [
    missing.length && `not boosted: ${missing.join(", ")}`,
    late.length && `restored late: ${late.map((s) => `${s} s`).join(", ")}`,
    spread > 1 && `first boosts ${spread.toFixed(2)} s apart`,
    !(sleeper <= fairSleeperBound(g)) &&
      `the SCHED_OTHER sleeper's longest gap ${sleeper} s > ${fairSleeperBound(g)} s`,
    m.throttling !== g.marks.get("facts")?.throttling && `throttling left at ${m.throttling}`,
  ].filter(Boolean);
  return r(
    problems.length === 0,
    problems.length ? problems.join("; ") : `boosted ${[...names].sort().join(", ")}; every restore on time`,
    `SCHED_OTHER sleeper's longest gap ${sleeper.toFixed(2)} s`,
  );
}

/** Row 7, PREEMPT_RT only: a rescue on CPU 1 while a FIFO-2 loop holds ktimers/0 (stalld's CPU) off. */
function ownTimersRow(g: Guest): Row {
  const m = g.marks.get("own-timers");
  const log = g.logs.get("own-timers") ?? [];
  const r = rowOf(g, "7 own timers");
  if (!m?.pid) return r(false, "the victim did not report");
  const gap = num(m.maxgap);
  const bound = rescueBound("task_scan");
  const hardTimers = log.some((l) => l.includes("PREEMPT_RT: stalld's main thread runs SCHED_DEADLINE"));
  const problems = [
    !hardTimers && "stalld did not take its DEADLINE reservation",
    !log.some((l) => l.includes(`boosted pid ${m.pid} (`)) && "victim never boosted",
    restoredSeconds(log, m.pid).length === 0 && "victim never restored",
    !(m.policy === "1" && m.prio === "10") && `victim ended as policy ${m.policy} prio ${m.prio}`,
    !(gap <= bound) && `longest gap ${gap} s > ${bound} s`,
    m.throttling !== g.marks.get("facts")?.throttling && `throttling left at ${m.throttling}`,
    hogMissing(g, "own-timers"),
  ].filter(Boolean);
  return r(
    problems.length === 0,
    problems.length
      ? problems.join("; ")
      : `rescued while a FIFO-2 loop held CPU 0 for ${m.cpu0_loop_s} s; SCHED_FIFO 10 and throttling back`,
    `longest gap ${gap.toFixed(2)} s`,
  );
}

/** Row 8: cyclictest's priority. A FIFO-10 victim behind a FIFO-99 busy loop, stalld's defaults. */
function fifo99Row(g: Guest): Row {
  const m = g.marks.get("fifo99");
  const log = g.logs.get("fifo99") ?? [];
  const r = rowOf(g, "8 fifo99");
  if (!m?.pid) return r(false, "the victim did not report");
  const gap = num(m.maxgap);
  const problems = [
    !log.some((l) => l.includes(`boosted pid ${m.pid} (`)) && "victim never boosted",
    restoredSeconds(log, m.pid).length === 0 && "victim never restored",
    !(m.policy === "1" && m.prio === "10") && `victim ended as policy ${m.policy} prio ${m.prio}`,
    !(gap <= RESCUE_BOUND_S) && `longest gap ${gap} s > ${RESCUE_BOUND_S} s`,
    m.throttling !== g.marks.get("facts")?.throttling && `throttling left at ${m.throttling}`,
    hogMissing(g, "fifo99"),
  ].filter(Boolean);
  return r(
    problems.length === 0,
    problems.length ? problems.join("; ") : "rescued from behind SCHED_FIFO 99; SCHED_FIFO 10 and throttling back",
    `longest gap ${gap.toFixed(2)} s`,
  );
}

/** Row 9: no abuser may hold another policy longer than a boost and a second. */
const HELD_BOUND_S = BOOST_S + 1;
/** stalld's documented bound for all its boosts on one CPU together: 50 ms per 1 s period (rounding allowed). */
const DL_SHARE_BOUND_PCT = 5;
const DL_SHARE_SLACK_PCT = 0.01;
/** The longest a -v stalld at -t 3 may go without a pass ("checking cpu" lines) while waits it must see go on. */
const PASS_GAP_BOUND_S = 2.5;
const ABUSERS = ["mover", "lowerer", "flood"] as const;

/**
 * The longest stretch without a pass of stalld ("checking cpu" lines of its
 * log) from `from` to `to` (epoch seconds): between two passes, and from each
 * end of the window to the pass nearest it. The lab starts the window a
 * threshold after the loop starts: before that no wait it caused can have
 * crossed the threshold, and a pass with nothing near it plans the next one up
 * to a threshold away, by design. NaN without any pass in the window.
 */
export function passGap(lines: string[], from: number, to: number): number {
  const at = lines
    .map((l) => /^(\S+) \S+:\s+checking cpu \d+/.exec(l))
    .filter((x) => x !== null)
    .map((x) => Date.parse(x![1]!) / 1000)
    .filter((t) => t > from && t < to);
  if (at.length === 0) return NaN;
  let worst = Math.max(at[0]! - from, to - at.at(-1)!);
  for (let i = 1; i < at.length; i++) worst = Math.max(worst, at[i]! - at[i - 1]!);
  return worst;
}

function abuseRow(g: Guest): Row {
  const r = rowOf(g, "9 abuse");
  const m = g.marks.get("abuse");
  if (dlServerServes(g) || m?.na !== undefined)
    return { ...r(true, "n/a: a DL-server serves CPU 1 on this kernel (the abusers run where none does)"), na: true };
  if (!m) return r(false, "the scenario did not run");
  const dl = g.marks.get("abuse-dlsum") ?? {};
  const log = g.logs.get("abuse") ?? [];
  const rep = (a: string) => g.marks.get(`abuse-${a}`) ?? {};
  // dlsum's view (every 20 ms, from outside); the abuser's own view where dlsum has none.
  const held = (a: string) => num(dl[`${a}_held_s`] ?? rep(a).held_boost_s);
  const cpus = Object.keys(dl)
    .filter((k) => /^cpu\d+$/.test(k))
    .map((k) => ({ cpu: k.slice(3), pct: num(dl[k]) }));
  const peak = cpus.reduce((a, b) => (b.pct > a.pct ? b : a), { cpu: "?", pct: -Infinity });
  // The loop owned CPU 1 from hog_t0 (a little after) for hog_s; hog_t1 is when the guest's shell saw it end.
  const t0 = num(m.hog_t0);
  const t1 = Math.min(num(m.hog_t1), t0 + (m.hog_s === undefined ? Infinity : num(m.hog_s)));
  const gap = passGap(log, t0 + THRESHOLD_S, t1);
  // A silence of stalld's log in the window its passes are judged in. Before it or after the loop, CPU 1 idles
  // and stalld may rightly log nothing for 4 s (seen: 4.9 s from 2.1 s before the loop's start).
  const stuckMark = g.marks.get("abuse-stuck");
  const outside = (f: Fields) => num(f.at) - num(f.after_s) >= t1 || num(f.at) <= t0 + THRESHOLD_S;
  const stuck = stuckMark && !outside(stuckMark) ? stuckMark : undefined;
  const mv = rep("mover");
  const lw = rep("lowerer");
  const fl = rep("flood");
  const boostedAny = ABUSERS.some((a) => num(dl[`${a}_boosted`]) > 0) || log.some((l) => /boosted pid \d+ \(/.test(l));
  // FIFO 9 allowed: the lowerer was back on SCHED_FIFO when it tried (its boost ended between its probe and the
  // try), so what it set is its own choice, not a boost's: its hold and its end are not stalld's to answer for.
  const lowererOwn = lw.fifo9 === "ok";
  const judged = ABUSERS.filter((a) => !(a === "lowerer" && lowererOwn));
  const problems = [
    ...ABUSERS.map((a) => (rep(a).pid === undefined ? `${a} did not report (${rep(a).missing ?? "nothing"})` : false)),
    dl.cpu0 === undefined && `dlsum did not report (${dl.missing ?? "nothing"})`,
    ...judged.map((a) =>
      held(a) > HELD_BOUND_S
        ? `${a} held a policy other than SCHED_FIFO 10 for ${held(a)} s > ${HELD_BOUND_S} s`
        : false,
    ),
    mv.pid !== undefined &&
      !(mv.policy === "1" && mv.prio === "10") &&
      `mover ended as policy ${mv.policy} prio ${mv.prio}`,
    lw.pid !== undefined &&
      !lowererOwn &&
      !(lw.policy === "1" && lw.prio === "10") &&
      `lowerer ended as policy ${lw.policy} prio ${lw.prio}`,
    fl.pid !== undefined && fl.not_fifo10 !== "0" && `${fl.not_fifo10} flood threads did not end as SCHED_FIFO 10`,
    ...cpus.map((c) =>
      c.pct > DL_SHARE_BOUND_PCT + DL_SHARE_SLACK_PCT
        ? `DEADLINE bandwidth on CPU ${c.cpu} reached ${c.pct} % > ${DL_SHARE_BOUND_PCT} %`
        : false,
    ),
    Number.isNaN(t0) || Number.isNaN(t1)
      ? "no loop times"
      : Number.isNaN(gap)
        ? "no pass of stalld's while the loop ran"
        : !(gap < PASS_GAP_BOUND_S) &&
          `stalld's passes ${gap.toFixed(2)} s apart while the loop ran (> ${PASS_GAP_BOUND_S} s)`,
    stuck && `stalld's log stopped for ${stuck.after_s} s`,
    m.throttling !== m.throttling_before && `throttling left at ${m.throttling}, was ${m.throttling_before}`,
    ...["mover", "lowerer", "flood"].map((a) => `${a}-not-ready` in m && `${a} never got ready`),
    !boostedAny && "no abuser was ever boosted: no evidence",
    hogMissing(g, "abuse"),
  ].filter(Boolean);
  const s1 = (x: string | undefined) => (x === undefined ? "?" : num(x).toFixed(1));
  // dlsum's bounds of a hold: at least (first to last scan that saw it), at most (scan to scan).
  const heldSay = (a: string) => {
    const hi = num(dl[`${a}_held_max_s`]);
    return `${held(a).toFixed(1)}${hi - held(a) >= 0.1 ? `-${hi.toFixed(1)}` : ""} s`;
  };
  const raw = num(dl[`cpu${peak.cpu}_raw`]);
  const notes = [
    lowererOwn && "the lowerer's boost ended just before its try (FIFO 9 allowed): its change was its own, not judged",
    lw.pid !== undefined && lw.tried === "0" && "the lowerer never caught itself boosted",
    mv.pid !== undefined && mv.moved === "0" && "the mover never caught itself on SCHED_DEADLINE",
  ].filter(Boolean);
  const figure = [
    `mover held ${heldSay("mover")}${mv.moved && mv.moved !== "0" ? " (moved to CPU 0)" : ""}`,
    `lowerer held ${heldSay("lowerer")} (FIFO 9: ${lw.fifo9 ?? "?"}, OTHER: ${lw.other ?? "?"})`,
    `flood: ${dl.flood_boosted ?? fl.saw_other ?? "?"}/${fl.n ?? "?"} boosted, longest gap ${s1(fl.maxgap)} s`,
    `peak share ${peak.cpu === "?" ? "?" : peak.pct.toFixed(2)} % (CPU ${peak.cpu}` +
      `${raw - peak.pct >= 0.01 ? `; ${raw.toFixed(2)} % in one read alone` : ""})`,
    `passes ${Number.isNaN(gap) ? "?" : gap.toFixed(2)} s apart at most`,
  ].join(", ");
  return r(
    problems.length === 0,
    [
      problems.length
        ? problems.join("; ")
        : `no abuser held a boost past ${HELD_BOUND_S} s; all back on SCHED_FIFO 10; ` +
          `at most ${DL_SHARE_BOUND_PCT} % per CPU`,
      ...notes,
    ].join("; "),
    figure,
  );
}

const BACKENDS = ["task_scan", "queue_track", "sched_debug"];

/** `backends`: those scenario 2 ran (LAB_BACKENDS); a repeated one is judged on its last run. */
export function judge(g: Guest, scenarios: Set<string>, backends: readonly string[] = BACKENDS): Row[] {
  if (g.marks.has("missing"))
    return [
      { kernel: g.kernel, scenario: "all", ok: false, result: "no Debian kernel package could be had", figure: "" },
    ];
  if (!g.marks.has("done")) {
    const last = [...g.marks.keys()].at(-1) ?? "none";
    return [
      {
        kernel: g.kernel,
        scenario: "all",
        ok: false,
        result: `the guest never finished (last marker: ${last}; qemu rc ${g.host.rc})`,
        figure: "",
      },
    ];
  }
  const rows: Row[] = [];
  if (scenarios.has("1")) rows.push(doctorRow(g));
  if (scenarios.has("2")) for (const b of new Set(backends)) rows.push(backendRow(g, b));
  if (scenarios.has("3")) rows.push(refreshRow(g));
  if (scenarios.has("4")) rows.push(fairRow(g));
  if (scenarios.has("5")) rows.push(crashRow(g));
  if (scenarios.has("6")) rows.push(kthreadsRow(g));
  // Without PREEMPT_RT no timer expires in a thread: the guest does not run it.
  if (scenarios.has("7") && g.marks.get("facts")?.preempt_rt === "1") rows.push(ownTimersRow(g));
  if (scenarios.has("8")) rows.push(fifo99Row(g));
  if (scenarios.has("9")) rows.push(abuseRow(g));
  return rows;
}

/** The clock a guest's rows come from, as the boot table says it (older consoles: the accelerator's name). */
export function clockOf(g: Guest): string {
  switch (g.host.accel) {
    case "tcg-icount":
      return "icount";
    case "tcg":
      return "tcg (multi-threaded)";
    case "kvm":
      return "kvm";
    default:
      return g.host.accel ?? "?";
  }
}

function main(argv: string[]): number {
  let out = "KERNELS.md";
  let scen = "1,2,3,4,5,6,7,8,9";
  let backends = BACKENDS;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out") out = argv[++i]!;
    else if (argv[i] === "--scenarios") scen = argv[++i]!;
    else if (argv[i] === "--backends") backends = argv[++i]!.split(",").filter(Boolean);
    else files.push(argv[i]!);
  }
  const scenarios = new Set(scen.split(","));
  const guests = files.map((f) => parseConsole(basename(f), readFileSync(`${f}.console`, "latin1")));
  const rows = guests.flatMap((g) => judge(g, scenarios, backends.length ? backends : BACKENDS));
  const na = rows.filter((r) => r.na).length;
  const passed = rows.filter((r) => r.ok && !r.na).length;
  const failed = rows.filter((r) => !r.ok).length;
  const md = [
    "# Kernels: the lab's results",
    "",
    "Generated by `bash lab/run.sh` (lab/report.ts) from Debian's own kernel packages booted under qemu with",
    "dist/stalld inside. Do not edit by hand: the findings below come from lab/FINDINGS.md.",
    "",
    `Boosts are judged on a clock that tells the truth: guest time counted in executed instructions (qemu`,
    "`-accel tcg,thread=single -icount shift=auto,sleep=on`, clock **icount** below), so the DEADLINE class's runtime",
    "accounting, hrtimers and the tick agree as on hardware (or KVM, where a host has it). Multi-threaded TCG",
    "(clock **tcg**, `LAB_CLOCK=tcg`) keeps the guest clock with the host's while its vCPUs lag behind: DEADLINE",
    "runtimes there are no judgement of a boost. Every row of a kernel comes from the one boot in its line here.",
    "",
    "| kernel | package | clock | boot s | DL-server on CPU 1 | PREEMPT_RT | HRTICK_DL at boot | note |",
    "|---|---|---|---|---|---|---|---|",
    ...guests.map((g) => {
      const f = g.marks.get("facts") ?? {};
      const note = g.host.retried
        ? `booted twice: the first guest kernel crashed (${g.host.retried.replace(/_+/g, " ").trim()})`
        : "";
      const dl =
        f.dl_runtime === "none"
          ? "none"
          : f.dl_runtime === "0"
            ? "off (runtime 0)"
            : `${Number(f.dl_runtime) / 1e6} ms/s`;
      const rt = f.preempt_rt === "1" ? "yes" : "no";
      const cells = [
        g.kernel,
        g.host.package ?? "?",
        clockOf(g),
        g.host.seconds ?? "?",
        dl,
        rt,
        f.hrtick_dl ?? "?",
        note,
      ];
      return `| ${cells.join(" | ")} |`;
    }),
    "",
    `Every scenario runs \`stalld run -f -v -t ${THRESHOLD_S} -c 1\` with default boost flags (-r 20000 -p 1000000000 -d ${BOOST_S});`,
    `a rescue must come within threshold + 2 s = ${RESCUE_BOUND_S} s (sched_debug: 1.25 x threshold + 2 s = ${UNDATED_RESCUE_BOUND_S} s, its documented detection bound). The load is \`rtload fifo 50 1 <s>\` (a FIFO-50 busy loop on CPU 1).`,
    `A SCHED_OTHER sleeper on PREEMPT_RT without a DL-server (rows 4 and 6 on 6.1-rt) waits twice, since its timer expires in the`,
    `starving ktimers/1: its bound is 2 x threshold + 2 s = ${TWO_HOP_BOUND_S} s. Row 7 runs on PREEMPT_RT kernels only.`,
    `Row 8 puts the victim behind \`rtload fifo 99 1 10\` (cyclictest's priority), with the same ${RESCUE_BOUND_S} s`,
    "bound.",
    "Row 9 (only where no DL-server serves CPU 1; n/a elsewhere): unprivileged SCHED_FIFO 10 abusers (uid 65534,",
    "RLIMIT_RTPRIO 0) behind a FIFO-50 loop for 15 s: `labtool mover` moves itself to CPU 0 when boosted, `lowerer`",
    "leaves DEADLINE for SCHED_OTHER, `flood` is 200 threads waking every 250 ms; `labtool dlsum` (root, SCHED_FIFO 90",
    "on CPU 0) reads every task's policy 100 ms after its last read ended. A hold is dlsum's: at least from the first",
    "read that saw it to the last. No abuser may hold a policy other than its own for more than -d + 1 s",
    `= ${HELD_BOUND_S} s, each must end on SCHED_FIFO 10, the DEADLINE bandwidth on any CPU (stalld's own reservation`,
    `aside) must stay within ${DL_SHARE_BOUND_PCT} %, and from a threshold after the loop's start to its end`,
    `stalld's passes must stay under ${PASS_GAP_BOUND_S} s apart (before that, a pass with nothing near the threshold`,
    `plans the next one up to ${THRESHOLD_S} s away).`,
    "",
    "| kernel | scenario | result | figure |",
    "|---|---|---|---|",
    ...rows.map((r) => {
      const verdict = r.na ? "n/a" : r.ok ? "pass" : "**FAIL**";
      const result = r.result.replace(/^n\/a: /, "").replace(/\|/g, "\\|");
      return `| ${r.kernel} | ${r.scenario} | ${verdict}: ${result} | ${r.figure} |`;
    }),

    "",
    `${passed} passed, ${failed} failed${na ? ` (${na} not applicable)` : ""}.`,
    "",
  ];
  try {
    md.push(readFileSync(join(dirname(import.meta.path), "FINDINGS.md"), "utf8"));
  } catch {
    // no findings written yet
  }
  writeFileSync(out, md.join("\n"));
  for (const r of rows) {
    const verdict = r.na ? "n/a " : r.ok ? "pass" : "FAIL";
    console.log(`lab: ${verdict} ${r.kernel} ${r.scenario}: ${r.result}${r.figure ? ` (${r.figure})` : ""}`);
  }
  console.log(`lab: wrote ${out}`);
  console.log(`lab: ${passed} passed, ${failed} failed`);
  return failed === 0 && rows.length > 0 ? 0 : 1;
}

if (import.meta.main) process.exit(main(process.argv.slice(2)));
