// SPDX-License-Identifier: GPL-2.0
/*
 * Threads with hostile names, for tests:
 *   namer <cpu> <seconds> <sleep|spin> <hex-name>...
 * One thread per name, named with prctl(PR_SET_NAME) from the hex bytes (any
 * byte but NUL, up to 15), moved onto <cpu>. "sleep" threads sleep; "spin"
 * threads run SCHED_FIFO 1 busy loops. Prints "ready <tid>..." once every
 * thread is named and placed, and every thread ends by itself after <seconds>
 * (the clock is checked inside the loop). CPU 0 is refused.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double end_at;
static int spin;
static int cpu;
static pthread_barrier_t named;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct job {
	char name[16];
	pid_t tid;
};

static void *run(void *arg)
{
	struct job *j = arg;
	cpu_set_t set;

	j->tid = (pid_t)syscall(SYS_gettid);
	prctl(PR_SET_NAME, j->name, 0, 0, 0);
	if (spin) {
		struct sched_param sp = { .sched_priority = 1 };

		if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0)
			fprintf(stderr, "namer: cannot set SCHED_FIFO\n");
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	pthread_barrier_wait(&named);
	while (now() < end_at) {
		if (!spin) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static int unhex(const char *hex, char *out)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 || n / 2 > 15)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1 || b == 0)
			return -1;
		out[i] = (char)b;
	}
	out[n / 2] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: namer <cpu> <seconds> <sleep|spin> <hex-name>...\n");
		return 2;
	}
	cpu = atoi(argv[1]);
	if (cpu <= 0) {
		fprintf(stderr, "namer: refusing CPU %s (CPU 0 stays free)\n", argv[1]);
		return 2;
	}
	end_at = now() + atof(argv[2]);
	spin = strcmp(argv[3], "spin") == 0;
	int n = argc - 4;
	struct job *jobs = calloc(n, sizeof(*jobs));
	pthread_t *threads = calloc(n, sizeof(*threads));

	pthread_barrier_init(&named, NULL, n + 1);
	for (int i = 0; i < n; i++) {
		if (unhex(argv[4 + i], jobs[i].name)) {
			fprintf(stderr, "namer: bad name %s\n", argv[4 + i]);
			return 2;
		}
		pthread_create(&threads[i], NULL, run, &jobs[i]);
	}
	pthread_barrier_wait(&named);
	printf("ready");
	for (int i = 0; i < n; i++)
		printf(" %d", jobs[i].tid);
	printf("\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
