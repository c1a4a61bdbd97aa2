// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel lab's guest-side helper (static, runs in the qemu guest only):
 *
 *   labtool waker <fifo|other> <prio> <cpu> <seconds> <interval_ms>
 *       Sleeps <interval_ms> in a loop on <cpu> under the given policy for
 *       <seconds>, and prints the longest gap between two wake-ups and its
 *       policy at the end: "waker pid=P wakes=N maxgap=S policy=X prio=Y".
 *       Prints "ready P" once its policy and CPU are set.
 *   labtool refresh
 *       From CPU 0, writes 1 to /proc/sys/vm/stat_refresh (the kernel queues
 *       work on every CPU and waits for all of it) and prints "refresh S".
 *   labtool oncpu <pid> <cpu> <timeout_s>
 *       Waits until <pid> is running on <cpu> (state R, field 39), prints
 *       "oncpu yes" or "oncpu no" after the timeout.
 *   labtool setfifo <pid> <prio>
 *       Makes <pid> SCHED_FIFO <prio> (the lab's stalld watcher, so that it
 *       still looks while a loop owns CPU 0).
 *   labtool spin0 <prio> <seconds>
 *       A SCHED_FIFO busy loop on CPU 0 for <seconds> (at most 30): at prio 2
 *       it outranks ktimers/0 (FIFO 1) and every SCHED_OTHER task there,
 *       stalld's CPU in the lab. rtload refuses CPU 0 (it also runs on the
 *       host); this runs in the guest only.
 *
 * Every loop checks the clock, so nothing here outlives its arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static int waker(char **argv)
{
	struct sched_param sp = { 0 };
	int policy = strcmp(argv[0], "fifo") == 0 ? SCHED_FIFO : SCHED_OTHER;
	int cpu = atoi(argv[2]);
	double secs = atof(argv[3]), interval = atof(argv[4]) / 1000.0;
	double end, last, gap = 0;
	struct timespec ts = { (time_t)interval, (long)((interval - (time_t)interval) * 1e9) };
	long wakes = 0;

	if (secs <= 0 || secs > 300 || interval <= 0) {
		fprintf(stderr, "labtool waker: bad arguments\n");
		return 2;
	}
	sp.sched_priority = policy == SCHED_FIFO ? atoi(argv[1]) : 0;
	if (sched_setscheduler(0, policy, &sp) || pin(cpu)) {
		perror("labtool waker");
		return 1;
	}
	printf("ready %d\n", getpid());
	fflush(stdout);
	last = now();
	end = last + secs;
	while (now() < end) {
		nanosleep(&ts, NULL);
		double t = now();
		if (t - last > gap)
			gap = t - last;
		last = t;
		wakes++;
	}
	policy = sched_getscheduler(0);
	sched_getparam(0, &sp);
	printf("waker pid=%d wakes=%ld maxgap=%.3f policy=%d prio=%d\n", getpid(), wakes, gap, policy, sp.sched_priority);
	return 0;
}

static int refresh(void)
{
	double t0;
	int fd;

	if (pin(0)) {
		perror("labtool refresh: affinity");
		return 1;
	}
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd < 0) {
		perror("labtool refresh: open");
		return 1;
	}
	t0 = now();
	/* EINVAL is the kernel saying a counter went negative: the work still ran everywhere. */
	if (write(fd, "1\n", 2) < 0 && errno != EINVAL) {
		perror("labtool refresh: write");
		return 1;
	}
	printf("refresh %.3f\n", now() - t0);
	close(fd);
	return 0;
}

/* State (field 3) and CPU (field 39) of a task, from /proc/<pid>/stat. */
static int stat_of(int pid, char *state, int *cpu)
{
	char path[64], buf[2048], *p;
	int fd, n, field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (p++; *p && field < 39; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field == 3)
			*state = p[1];
		if (field == 39)
			*cpu = atoi(p + 1);
	}
	return field == 39 ? 0 : -1;
}

static int oncpu(char **argv)
{
	int pid = atoi(argv[0]), want = atoi(argv[1]), cpu = -1;
	double end = now() + atof(argv[2]);
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	char state = '?';

	pin(0);
	while (now() < end) {
		if (stat_of(pid, &state, &cpu) == 0 && state == 'R' && cpu == want) {
			printf("oncpu yes\n");
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	printf("oncpu no state=%c cpu=%d\n", state, cpu);
	return 1;
}

static int spin0(char **argv)
{
	struct sched_param sp = { .sched_priority = atoi(argv[0]) };
	double secs = atof(argv[1]), end;

	if (secs <= 0 || secs > 30 || sp.sched_priority < 1 || sp.sched_priority > 99) {
		fprintf(stderr, "labtool spin0: bad arguments\n");
		return 2;
	}
	end = now() + secs;
	if (sched_setscheduler(0, SCHED_FIFO, &sp) || pin(0)) {
		perror("labtool spin0");
		return 1;
	}
	while (now() < end)
		;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "waker") == 0)
		return waker(argv + 2);
	if (argc == 2 && strcmp(argv[1], "refresh") == 0)
		return refresh();
	if (argc == 5 && strcmp(argv[1], "oncpu") == 0)
		return oncpu(argv + 2);
	if (argc == 4 && strcmp(argv[1], "setfifo") == 0) {
		struct sched_param sp = { .sched_priority = atoi(argv[3]) };

		return sched_setscheduler(atoi(argv[2]), SCHED_FIFO, &sp) ? 1 : 0;
	}
	if (argc == 4 && strcmp(argv[1], "spin0") == 0)
		return spin0(argv + 2);
	fprintf(stderr, "usage: labtool waker <fifo|other> <prio> <cpu> <seconds> <interval_ms> | refresh | oncpu <pid> <cpu> <timeout_s> | setfifo <pid> <prio> | spin0 <prio> <seconds>\n");
	return 2;
}
