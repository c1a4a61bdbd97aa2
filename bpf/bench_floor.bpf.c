// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark reference only (not loaded by stalld): empty programs on the same
 * tracepoints, so bench/ can report the per-event floor of a tp_btf program
 * on this machine next to the cost of ours.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wakeup)
{
	return 0;
}
