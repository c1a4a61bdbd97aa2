/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CO-RE fallbacks shared by the BPF programs: one binary, many kernels.
 * Direct BTF loads (p->pid) are CO-RE relocated and cheaper than BPF_CORE_READ;
 * a missing field's branch is dropped at load by bpf_core_field_exists().
 */
#ifndef STALLD_COMPAT_BPF_H
#define STALLD_COMPAT_BPF_H

/* Kernels before 5.14 call it `state`; before 5.16 the cpu is in task_struct. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

struct task_struct___pre516 {
	unsigned int cpu;
} __attribute__((preserve_access_index));

static __always_inline unsigned int task_state(struct task_struct *p)
{
	if (bpf_core_field_exists(p->__state))
		return p->__state;
	return ((struct task_struct___pre514 *)p)->state;
}

static __always_inline __u32 task_cpu(struct task_struct *p)
{
	if (bpf_core_field_exists(p->thread_info.cpu))
		return p->thread_info.cpu;
	return ((struct task_struct___pre516 *)p)->cpu;
}

/* A fair task whose dequeue is delayed (6.12+) is on_rq but asleep. */
static __always_inline bool dequeue_delayed(struct task_struct *p)
{
	return bpf_core_field_exists(p->se.sched_delayed) && p->se.sched_delayed;
}

/*
 * The run queue a task is on, through its fair entity's cfs_rq: se.cfs_rq
 * exists only with CONFIG_FAIR_GROUP_SCHED (and cfs_rq.rq with it). NULL where
 * the kernel gives no path; the callers then say so or fall back.
 */
static __always_inline bool task_rq_known(void)
{
	return bpf_core_field_exists(struct sched_entity, cfs_rq) && bpf_core_field_exists(struct cfs_rq, rq);
}

static __always_inline struct rq *task_rq(struct task_struct *p)
{
	struct cfs_rq *cfs;

	if (!task_rq_known())
		return NULL;
	cfs = BPF_CORE_READ(p, se.cfs_rq);
	if (!cfs)
		return NULL;
	return BPF_CORE_READ(cfs, rq);
}

/* STALLD_TASK_* flags of a task, for the records. */
static __always_inline __u32 task_flags(struct task_struct *p)
{
	if (bpf_core_field_exists(p->se.custom_slice) && p->se.custom_slice)
		return STALLD_TASK_CUSTOM_SLICE;
	return 0;
}

#endif /* STALLD_COMPAT_BPF_H */
