// SPDX-License-Identifier: GPL-2.0
/*
 * task_scan: finds queued-but-not-running tasks without any scheduler hook.
 * The daemon runs this iter/task program from its own (housekeeping) CPU once
 * per pass; nothing runs on the CPUs it protects. Each thread's wait comes
 * from the scheduler's own accounting: sched_info.last_queued against the
 * clock of the run queue it waits on. Filtering happens here, so user space
 * reads a few 32-byte records per pass, not a dump of every thread.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "stalld.h"
#include "compat.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stalld_scan_cfg);
} scan_cfg SEC(".maps");

static __always_inline __u32 scan_features(void)
{
	__u32 f = 0;

	if (bpf_core_field_exists(struct task_struct, sched_info.last_queued))
		f |= STALLD_SCAN_HAS_QUEUED;
	if (task_rq_known())
		f |= STALLD_SCAN_HAS_RQ;
	return f;
}

static __always_inline void emit(struct seq_file *seq, __u32 kind, struct task_struct *p, __u32 cpu, __u64 ns)
{
	struct stalld_scan_rec r = {
		.ns = ns,
		.kind = kind,
		.pid = p->pid,
		.tgid = p->tgid,
		.cpu = cpu,
		.prio = p->prio,
		.policy = p->policy,
		.flags = task_flags(p),
	};

	bpf_seq_write(seq, &r, sizeof(r));
}

SEC("iter/task")
int stalld_scan(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *p = ctx->task;
	struct stalld_scan_cfg *cfg;
	__u32 zero = 0, cpu;
	__u64 clock, queued;
	struct rq *rq;

	if (ctx->meta->seq_num == 0) {
		struct stalld_scan_rec h = { .kind = STALLD_SCAN_HEADER, .pid = scan_features() };

		bpf_seq_write(seq, &h, sizeof(h));
	}
	if (!p || p->on_rq != 1)
		return 0;
	cfg = bpf_map_lookup_elem(&scan_cfg, &zero);
	if (!cfg)
		return 0;
	cpu = task_cpu(p);
	if (cpu >= STALLD_MAX_CPUS || !(cfg->cpus[cpu / 64] & (1ULL << (cpu % 64))))
		return 0;
	rq = task_rq(p);
	if (!rq || !bpf_core_field_exists(p->sched_info.last_queued))
		return 0;
	clock = BPF_CORE_READ(rq, clock);
	if (p->on_cpu) {
		__u64 arrived = BPF_CORE_READ(p, sched_info.last_arrival);

		emit(seq, STALLD_SCAN_RUNNING, p, cpu, clock > arrived ? clock - arrived : 0);
		return 0;
	}
	if (dequeue_delayed(p))
		return 0;
	queued = BPF_CORE_READ(p, sched_info.last_queued);
	/*
	 * Preempted after it set a sleeping state (between set_current_state()
	 * and schedule()): queued, but sched_info does not count it as queued.
	 * The last time its runtime was accounted is when it stopped running.
	 */
	if (!queued) {
		queued = p->se.exec_start;
		clock = BPF_CORE_READ(rq, clock_task);	/* exec_start's clock */
	}
	if (!queued || clock <= queued || clock - queued < cfg->report_ns)
		return 0;
	emit(seq, STALLD_SCAN_WAITER, p, cpu, clock - queued);
	return 0;
}
