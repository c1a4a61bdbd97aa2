// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded real-time busy loop for tests and benchmarks:
 *   rtload <fifo|other> <prio> <cpu> <seconds>
 * Sets its policy, prints "ready <pid>", then moves itself onto <cpu> (last,
 * so it never starves before it is ready) and spins until <seconds> have
 * passed on CLOCK_MONOTONIC. It checks the clock inside the loop and refuses
 * CPU 0, so a hog can never outlive its test or freeze the housekeeping CPU.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sched_param sp = { 0 };
	cpu_set_t set;
	double end;
	int cpu, policy;

	if (argc != 5) {
		fprintf(stderr, "usage: rtload <fifo|other> <prio> <cpu> <seconds>\n");
		return 2;
	}
	policy = strcmp(argv[1], "fifo") == 0 ? SCHED_FIFO : SCHED_OTHER;
	sp.sched_priority = policy == SCHED_FIFO ? atoi(argv[2]) : 0;
	cpu = atoi(argv[3]);
	end = now() + atof(argv[4]);
	if (cpu <= 0) {
		fprintf(stderr, "rtload: refusing cpu %d: never pin a busy loop to CPU 0\n", cpu);
		return 2;
	}
	if (atof(argv[4]) <= 0 || atof(argv[4]) > 120) {
		fprintf(stderr, "rtload: seconds must be in (0, 120]\n");
		return 2;
	}
	if (sched_setscheduler(0, policy, &sp)) {
		perror("rtload: sched_setscheduler");
		return 1;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("rtload: sched_setaffinity");
		return 1;
	}
	while (now() < end)
		;
	return 0;
}
