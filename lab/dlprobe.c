// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel's DEADLINE class gives a boosted task, measured without
 * stalld (lab guests only: it starts RT busy loops and changes HRTICK_DL):
 *
 *   dlprobe
 *
 * For HRTICK_DL on and off, and for each rung of stalld's ladder (20 us,
 * 200 us, 2 ms, 20 ms, 50 ms every 1 s), a SCHED_FIFO 50 busy loop owns CPU 1
 * and a hungry SCHED_FIFO 10 busy loop starves behind it; the victim is set
 * to SCHED_DEADLINE <runtime>/1 s for 3 s while its CPU time is sampled every
 * 5 ms. One line per case:
 *
 *   dlprobe hrtick=on runtime_us=20 raise=none p1_us=.. p2_us=.. p3_us=.. overrun_us=.. debt_periods=..
 *
 * p<N>_us: CPU time in the N-th second of the boost; overrun: p1 - runtime
 * (the kernel's debt: it is repaid one runtime per period). Two more cases
 * per HRTICK_DL setting raise a 20 us boost to 20 ms, once 50 ms into the
 * boost (before the first replenishment) and once 1.05 s into it (after):
 * what stalld's escalation relies on; two more re-boost a task restored
 * while throttled in debt (reboost_case). Every loop checks the clock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#define SCHED_FLAG_RESET_ON_FORK 0x01

struct attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

static int setattr(pid_t pid, uint32_t policy, uint32_t prio, uint64_t runtime)
{
	struct attr a = { .size = sizeof(a), .policy = policy, .priority = prio };

	if (policy == SCHED_DEADLINE) {
		a.flags = SCHED_FLAG_RESET_ON_FORK;
		a.runtime = runtime;
		a.deadline = a.period = 1000000000ull;
	}
	return syscall(SYS_sched_setattr, pid, &a, 0);
}

/* A SCHED_FIFO <prio> busy loop on CPU 1 for at most <secs>. */
static pid_t spinner(int prio, double secs)
{
	pid_t pid = fork();

	if (pid == 0) {
		cpu_set_t one;
		double end = now() + secs;

		CPU_ZERO(&one);
		CPU_SET(1, &one);
		if (setattr(0, SCHED_FIFO, prio, 0) || sched_setaffinity(0, sizeof(one), &one))
			_exit(1);
		while (now() < end)
			;
		_exit(0);
	}
	return pid;
}

static double cpu_ns(pid_t pid)
{
	char path[64], buf[128];
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atof(buf);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* Ends a case: both loops killed and reaped, then past the victim's 0-lag time, so the next case starts clean. */
static void finish(pid_t victim, pid_t hog)
{
	fflush(stdout);
	kill(victim, SIGKILL);
	kill(hog, SIGKILL);
	waitpid(victim, NULL, 0);
	waitpid(hog, NULL, 0);
	sleep_s(0.3);
}

static void one_case(const char *hrtick, uint64_t runtime, uint64_t raise_to, double raise_at)
{
	pid_t hog = spinner(50, 5), victim;
	double p[3] = { 0 }, t0, t, base, last, c;
	int i;

	sleep_s(0.1);
	victim = spinner(10, 4.5);
	sleep_s(0.3);
	base = cpu_ns(victim);
	if (setattr(victim, SCHED_DEADLINE, 0, runtime)) {
		printf("dlprobe hrtick=%s runtime_us=%llu error=%s\n", hrtick, (unsigned long long)runtime / 1000,
		       strerror(errno));
		goto out;
	}
	t0 = now();
	last = base;
	int raised = raise_to == 0;
	while ((t = now()) < t0 + 3) {
		if (!raised && t >= t0 + raise_at) {
			raised = 1;
			setattr(victim, SCHED_DEADLINE, 0, raise_to);
		}
		c = cpu_ns(victim);
		if (c >= 0) {
			i = (int)(t - t0);
			if (i > 2)
				i = 2;
			p[i] += c - last;
			last = c;
		}
		sleep_s(0.005);
	}
	setattr(victim, SCHED_FIFO, 10, 0);
	double overrun = p[0] - (double)runtime;
	printf("dlprobe hrtick=%s runtime_us=%llu raise=%s p1_us=%.0f p2_us=%.0f p3_us=%.0f overrun_us=%.0f "
	       "debt_periods=%.0f\n",
	       hrtick, (unsigned long long)runtime / 1000,
	       raise_to == 0 ? "none" : (raise_at < 1 ? "20ms_before_replenish" : "20ms_after_replenish"), p[0] / 1e3,
	       p[1] / 1e3, p[2] / 1e3, overrun / 1e3, overrun > 0 ? (overrun + runtime - 1) / runtime : 0);
out:
	finish(victim, hog);
}

/*
 * A re-boost after a restore that left DEADLINE while throttled in debt: a
 * 20 us boost of the hungry victim, restored to FIFO 10 after 0.5 s; 1 s
 * later (past the boost's first deadline, whose replenishment timer fires
 * while the task is not DEADLINE) a 20 ms boost for 2 s. With `widen`, the
 * restore first sets a 50 ms runtime (the same period), which moves the
 * 0-lag time of the debt close to the deadline. Reports what the re-boost gave.
 */
static void reboost_case(const char *hrtick, int widen, int rearm)
{
	pid_t hog = spinner(50, 5), victim;
	double base, first, ran, before = 0;

	sleep_s(0.1);
	victim = spinner(10, 4.5);
	sleep_s(0.3);
	base = cpu_ns(victim);
	if (setattr(victim, SCHED_DEADLINE, 0, 20000)) {
		printf("dlprobe hrtick=%s reboost error=%s\n", hrtick, strerror(errno));
		goto out;
	}
	sleep_s(0.5);
	first = cpu_ns(victim) - base;
	if (widen)
		setattr(victim, SCHED_DEADLINE, 0, 50000000);
	setattr(victim, SCHED_FIFO, 10, 0);
	sleep_s(1.0);
	base = cpu_ns(victim);
	setattr(victim, SCHED_DEADLINE, 0, 20000000);
	if (rearm) {
		/*
		 * stalld's re-arm of a boost that ran nothing: the cap's runtime,
		 * its old policy (leaving DEADLINE while queued lets the kernel
		 * clear a stale throttle when the 0-lag time has passed), the
		 * boost again.
		 */
		sleep_s(0.05);
		before = cpu_ns(victim) - base;
		setattr(victim, SCHED_DEADLINE, 0, 50000000);
		setattr(victim, SCHED_FIFO, 10, 0);
		setattr(victim, SCHED_DEADLINE, 0, 20000000);
		sleep_s(1.95);
	} else {
		sleep_s(2.0);
	}
	ran = cpu_ns(victim) - base;
	setattr(victim, SCHED_FIFO, 10, 0);
	printf("dlprobe hrtick=%s reboost widen=%s rearm=%s first_boost_us=%.0f before_rearm_us=%.0f "
	       "reboost_2s_us=%.0f\n",
	       hrtick, widen ? "50ms_before_restore" : "no", rearm ? "at_50ms" : "no", first / 1e3, before / 1e3,
	       ran / 1e3);
out:
	finish(victim, hog);
}

int main(int argc, char **argv)
{
	/* "reboost": only the re-boost cases (a shorter run). */
	int only_reboost = argc > 1 && strcmp(argv[1], "reboost") == 0;
	static const uint64_t rungs[] = { 20000, 200000, 2000000, 20000000, 50000000 };
	static const char *feat = "/sys/kernel/debug/sched/features";
	static const char *rt = "/proc/sys/kernel/sched_rt_runtime_us";
	const char *settings[] = { "HRTICK_DL", "NO_HRTICK_DL" };
	char old[32] = "950000";
	FILE *f = fopen(rt, "r");
	cpu_set_t zero;

	if (f) {
		if (!fgets(old, sizeof(old), f))
			strcpy(old, "950000");
		fclose(f);
	}
	/* Pinned DEADLINE tasks need DEADLINE admission control off, as stalld has it. */
	if (write_str(rt, "-1")) {
		perror("dlprobe: sched_rt_runtime_us");
		return 1;
	}
	CPU_ZERO(&zero);
	CPU_SET(0, &zero);
	sched_setaffinity(0, sizeof(zero), &zero);
	for (int h = 0; h < 2; h++) {
		const char *name = h == 0 ? "on" : "off";

		if (write_str(feat, settings[h])) {
			printf("dlprobe hrtick=%s error=cannot_set_%s\n", name, settings[h]);
			continue;
		}
		if (!only_reboost) {
			for (unsigned r = 0; r < sizeof(rungs) / sizeof(rungs[0]); r++)
				one_case(name, rungs[r], 0, 0);
			one_case(name, 20000, 20000000, 0.05);
			one_case(name, 20000, 20000000, 1.05);
		}
		reboost_case(name, 0, 0);
		reboost_case(name, 1, 0);
		reboost_case(name, 0, 1);
	}
	write_str(feat, "NO_HRTICK_DL");
	write_str(rt, old);
	return 0;
}
