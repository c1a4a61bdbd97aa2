/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records shared by bpf/stalld.bpf.c and the TypeScript decoder in
 * src/backends/records.ts. Change both together: tests/unit/records.test.ts
 * compiles this header and compares sizes and offsets with the decoder.
 */
#ifndef STALLD_H
#define STALLD_H

/* Kernel prio below this is RT (0..99) or DEADLINE (-1). */
#define STALLD_MAX_RT_PRIO 100

/*
 * Value of the `waiting` hash map, keyed by pid (__u32): a task that is
 * runnable on a run queue but not running.
 */
struct stalld_waiter {
	__u64 since_ns;	/* CLOCK_MONOTONIC ns since which it has waited */
	__u32 tgid;
	__u32 cpu;	/* run queue it waits on */
	__s32 prio;	/* kernel prio when it started waiting */
	__u32 policy;	/* SCHED_* when it started waiting */
};

/*
 * Element of the `running` array map, index = cpu: the task on that CPU.
 * pid 0 is the idle task (or nothing seen yet, then since_ns is 0).
 */
struct stalld_running {
	__u64 since_ns;	/* CLOCK_MONOTONIC ns when it was switched in */
	__u32 pid;
	__u32 tgid;
	__s32 prio;
	__u32 policy;
};

#endif /* STALLD_H */
