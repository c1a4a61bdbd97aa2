// SPDX-License-Identifier: GPL-2.0
/*
 * queue_track: keeps, per task, the moment it became runnable without running.
 *
 * Only tracepoints (tp_btf) and an iterator: fentry/fexit attach waits for
 * synchronize_rcu_tasks(), which never finishes while an RT hog owns a CPU.
 * Every event does O(1) map work. Direct BTF loads (p->pid) are CO-RE
 * relocated and cheaper than BPF_CORE_READ on the hot path.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "stalld.h"
#include "compat.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EEXIST 17

/* Sizes are placeholders: the daemon sets them before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stalld_waiter);
} waiting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct stalld_running);
} running SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct stalld_running);
} boot_running SEC(".maps");

/* Inserts refused because `waiting` was full: reported by the daemon. */
__u64 waiting_full = 0;

static __always_inline void add_waiter(struct task_struct *p, __u32 pid, __u32 cpu,
				       __u64 since, __u64 flags)
{
	struct stalld_waiter w = {
		.since_ns = since,
		.tgid = p->tgid,
		.cpu = cpu,
		.prio = p->prio,
		.policy = p->policy,
		.flags = task_flags(p),
	};
	long err = bpf_map_update_elem(&waiting, &pid, &w, flags);

	if (err && err != -EEXIST)
		__sync_fetch_and_add(&waiting_full, 1);
}

/*
 * A wake-up of a task that is still current (it set a sleeping state but had
 * not yet scheduled out) does not make it wait. NOEXIST keeps the earlier
 * stamp of a task that was preempted before it was woken.
 */
static __always_inline int on_wakeup(struct task_struct *p)
{
	__u32 pid = p->pid;
	__u32 cpu = task_cpu(p);
	struct stalld_running *cur = bpf_map_lookup_elem(&running, &cpu);

	if (cur && cur->pid == pid)
		return 0;
	add_waiter(p, pid, cpu, bpf_ktime_get_ns(), BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(stalld_wakeup, struct task_struct *p)
{
	return on_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(stalld_wake_new, struct task_struct *p)
{
	return on_wakeup(p);
}

/*
 * Three arguments only: prev_state was added in 5.18, and prev->__state
 * read here under the rq lock holds the same value.
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(stalld_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 prev_pid = prev->pid;
	__u32 next_pid = next->pid;
	__u64 now = bpf_ktime_get_ns();
	struct stalld_running *cur = bpf_map_lookup_elem(&running, &cpu);

	if (cur) {
		cur->since_ns = now;
		cur->pid = next_pid;
		cur->tgid = next->tgid;
		cur->prio = next->prio;
		cur->policy = next->policy;
	}
	if (next_pid)
		bpf_map_delete_elem(&waiting, &next_pid);
	if (!prev_pid)
		return 0;
	/* Preempted, or never went to sleep: still on the run queue. */
	if (preempt || task_state(prev) == 0)
		add_waiter(prev, prev_pid, cpu, now, BPF_ANY);
	else
		/* Asleep: no stamp survives, whatever left one (the start-up snapshot's race). */
		bpf_map_delete_elem(&waiting, &prev_pid);
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(stalld_migrate, struct task_struct *p, int dest_cpu)
{
	__u32 pid = p->pid;
	struct stalld_waiter *w = bpf_map_lookup_elem(&waiting, &pid);

	/* The wait goes on, on another run queue. */
	if (w)
		w->cpu = dest_cpu;
	return 0;
}

/* Only the first argument: 6.18 added group_dead. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(stalld_exit, struct task_struct *p)
{
	__u32 pid = p->pid;

	bpf_map_delete_elem(&waiting, &pid);
	return 0;
}

/*
 * How long a queued task has waited, from the scheduler's own accounting
 * (sched_info.last_queued, rq clock) where the kernel keeps it; else "now".
 */
static __always_inline __u64 queued_since(struct task_struct *p, __u64 now)
{
	__u64 queued, clock = 0;
	struct rq *rq = NULL;

	if (!bpf_core_field_exists(p->sched_info.last_queued))
		return now;
	queued = BPF_CORE_READ(p, sched_info.last_queued);
	rq = task_rq(p);
	if (!queued || !rq)
		return now;
	clock = BPF_CORE_READ(rq, clock);
	if (clock < queued || clock - queued > now)
		return now;
	return now - (clock - queued);
}

/*
 * Start-up snapshot, run once after the tracepoints are attached: adds tasks
 * that were already queued, and what already runs on each CPU (a CPU owned by
 * one hog may never switch again).
 */
SEC("iter/task")
int stalld_snapshot(struct bpf_iter__task *ctx)
{
	struct task_struct *p = ctx->task;
	__u32 pid, cpu;
	__u64 now;

	if (!p)
		return 0;
	pid = p->pid;
	if (!pid || p->on_rq != 1)
		return 0;
	cpu = task_cpu(p);
	now = bpf_ktime_get_ns();
	if (p->on_cpu) {
		/* Its own array: sched_switch may write `running` at this very moment. */
		struct stalld_running *cur = bpf_map_lookup_elem(&boot_running, &cpu);

		if (cur) {
			cur->since_ns = now;
			cur->pid = pid;
			cur->tgid = p->tgid;
			cur->prio = p->prio;
			cur->policy = p->policy;
		}
		return 0;
	}
	if (dequeue_delayed(p))
		return 0;
	add_waiter(p, pid, cpu, queued_since(p, now), BPF_NOEXIST);
	return 0;
}
