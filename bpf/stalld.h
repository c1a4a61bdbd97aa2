/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records shared by bpf/stalld.bpf.c and the TypeScript decoder in
 * src/backends/records.ts. Change both together: tests/unit/records.test.ts
 * compiles this header and compares sizes and offsets with the decoder.
 */
#ifndef STALLD_H
#define STALLD_H

/* CPUs the per-CPU programs know (task_scan's bitmap, dl_server's records). */
#define STALLD_MAX_CPUS		1024

/* Kernel prio below this is RT (0..99) or DEADLINE (-1). */
#define STALLD_MAX_RT_PRIO 100

/* Task flags carried in records. */
#define STALLD_TASK_CUSTOM_SLICE 1	/* a fair task with a slice of its own (6.12+) */

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
	__u32 flags;	/* STALLD_TASK_* */
	__u32 pad;
};

/*
 * Element of the `running` array map, index = cpu: the task on that CPU,
 * written by sched_switch. pid 0 is the idle task (or nothing seen yet, then
 * since_ns is 0). The start-up snapshot writes `boot_running` instead, read
 * only for CPUs that have not switched since: the two never race.
 */
struct stalld_running {
	__u64 since_ns;	/* CLOCK_MONOTONIC ns when it was switched in */
	__u32 pid;
	__u32 tgid;
	__s32 prio;
	__u32 policy;
};

/*
 * task_scan: one record per interesting task, written by the iter/task
 * program into the seq_file the daemon reads each pass.
 */
#define STALLD_SCAN_HEADER	0	/* first record: pid holds STALLD_SCAN_HAS_* flags */
#define STALLD_SCAN_WAITER	1	/* queued, not running: ns = waited so far */
#define STALLD_SCAN_RUNNING	2	/* on a CPU: ns = time on the CPU so far */

#define STALLD_SCAN_HAS_QUEUED	1	/* sched_info.last_queued (CONFIG_SCHED_INFO) */
#define STALLD_SCAN_HAS_RQ	2	/* task -> run queue clock (CONFIG_FAIR_GROUP_SCHED) */

struct stalld_scan_rec {
	__u64 ns;
	__u32 kind;
	__u32 pid;
	__u32 tgid;
	__u32 cpu;
	__s32 prio;
	__u32 policy;
	__u32 flags;	/* STALLD_TASK_* */
	__u32 pad;
};


/* Value of the one-element `scan_cfg` array: set by the daemon before each pass. */
struct stalld_scan_cfg {
	__u64 report_ns;	/* report waiters that waited at least this long */
	__u64 cpus[STALLD_MAX_CPUS / 64];	/* monitored CPUs */
};

/*
 * dl_server: one record per CPU that has a task, read from the CPU's run
 * queue (rq->fair_server, Linux >= 6.12).
 */
#define STALLD_DL_PRESENT	1	/* the kernel has rq->fair_server */
#define STALLD_DL_ACTIVE	2	/* the server is running or armed now (dl_server_active) */
#define STALLD_DL_KNOWS_ACTIVE	4	/* the kernel has dl_server_active */

struct stalld_dl_rec {
	__u64 runtime_ns;	/* dl_runtime: 0 means the admin turned it off */
	__u64 period_ns;	/* dl_period */
	__u32 cpu;
	__u32 flags;		/* STALLD_DL_* */
};

#endif /* STALLD_H */
