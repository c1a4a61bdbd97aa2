// SPDX-License-Identifier: GPL-2.0
/*
 * dl_server: the DL-server (fair_server) of each CPU, where debugfs cannot be
 * read (kernel lockdown). An iter/task program: the first task seen on each
 * CPU leads to that CPU's run queue, and one record per CPU is written. The
 * daemon runs it at start and when a decision needs it, never per event.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "stalld.h"
#include "compat.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Run number of the last record per CPU: one record per CPU and run. */
__u64 seen[STALLD_MAX_CPUS];
__u64 run;

SEC("iter/task")
int stalld_dl_server(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *p = ctx->task;
	struct stalld_dl_rec r = {};
	struct rq *rq;
	__u32 cpu;

	if (ctx->meta->seq_num == 0)
		run++;
	if (!p)
		return 0;
	rq = task_rq(p);
	if (!rq)
		return 0;
	cpu = BPF_CORE_READ(rq, cpu);
	if (cpu >= STALLD_MAX_CPUS || seen[cpu] == run)
		return 0;
	seen[cpu] = run;

	r.cpu = cpu;
	if (bpf_core_field_exists(struct rq, fair_server)) {
		r.flags |= STALLD_DL_PRESENT;
		r.runtime_ns = BPF_CORE_READ(rq, fair_server.dl_runtime);
		r.period_ns = BPF_CORE_READ(rq, fair_server.dl_period);
		if (bpf_core_field_exists(struct sched_dl_entity, dl_server_active)) {
			struct sched_dl_entity *dl = &rq->fair_server;

			r.flags |= STALLD_DL_KNOWS_ACTIVE;
			if (BPF_CORE_READ_BITFIELD_PROBED(dl, dl_server_active))
				r.flags |= STALLD_DL_ACTIVE;
		}
	}
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
