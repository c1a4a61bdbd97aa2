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
 *   labtool now
 *       Prints CLOCK_REALTIME in seconds (the clock of stalld's log stamps).
 *   labtool trace <pid> <seconds>
 *       SCHED_FIFO 95 on CPU 0: every 20 ms reads the state, wait channel,
 *       kernel stack and CPU time of <pid>'s main thread, and prints a line
 *       ("trace T state wchan ran_ms") when state or wait channel change, the
 *       stack when it changes while the thread is not running, and "trace T
 *       still ..." when it stayed the same for 1 s. T: CLOCK_REALTIME. Says
 *       where stalld's main thread spends a stall (lab/FINDINGS.md): while
 *       it stays runnable, it is also stopped every 20 ms (ptrace) for its
 *       instruction pointer ("ip <mapping>+<offset>@<address> xN").
 *
 * The abusers (scenario 9): each sets SCHED_FIFO 10 on CPU 1 as root, then
 * drops to uid/gid 65534 with RLIMIT_RTPRIO 0, prints "ready P", and wakes
 * every 50 ms, reading its own policy (raw sched_getattr) at each wake.
 * "held_boost_s" is the longest it saw itself, continuously, under any policy
 * other than SCHED_FIFO 10 (from the first wake that saw it to the first that
 * did not: a task only looks when it runs).
 *   labtool mover <seconds>
 *       On seeing SCHED_DEADLINE, moves itself onto CPU 0 (stalld's CPU) and
 *       busy-loops there, reading its policy every ~1 ms, until it is no
 *       longer DEADLINE or 5 s passed; then sleeps in a loop again.
 *   labtool lowerer <seconds>
 *       On seeing SCHED_DEADLINE (and a probe saying it still is), tries
 *       SCHED_FIFO 9 (EPERM expected: RLIMIT_RTPRIO 0) and then SCHED_OTHER
 *       with SCHED_RESET_ON_FORK (allowed to an unprivileged task that keeps
 *       reset-on-fork), once, and says which calls succeeded. fifo9=ok means
 *       the boost ended just before the try: the change was its own.
 *   labtool flood <n> <seconds> [interval_ms]
 *       <n> such threads (comm "flood") in one process, each sleeping
 *       <interval_ms> (50 unless given) in a loop; says how many ran at all, their longest gaps and held times,
 *       and how many did not end as SCHED_FIFO 10.
 *   labtool dlsum <seconds> <exclude_pid> [period_ms]
 *       As root, SCHED_FIFO 90 on CPU 0, every period (20 ms unless given;
 *       the period is the sleep between two scans): sched_getattr of every
 *       task in /proc/<*>/task/<*> but <exclude_pid>'s thread group (stalld's
 *       own reservation on PREEMPT_RT); sums runtime/period of the DEADLINE
 *       ones per CPU (field 39 of their stat) and prints the largest sum seen
 *       per CPU in percent (a sum that sets a new maximum is read twice and
 *       the smaller kept: a scan is no snapshot). /proc is walked every 2 s
 *       (a task must wait 3 s to be boosted); tasks allowed on CPU 0 only are
 *       read at each walk. It also times, for the abusers (by comm), the
 *       longest each held a policy other than SCHED_FIFO 10, at least and at
 *       most: seen from outside, that view does not depend on the task
 *       getting to run (a task's own view joins a restore and the next boost
 *       into one hold when it starves in between).
 *
 * Every loop checks the clock, so nothing here outlives its arguments.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

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

/* struct sched_attr as the kernel has it (48 bytes), read with the raw syscall. */
struct lab_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

static int getattr(int pid, struct lab_sched_attr *a)
{
	memset(a, 0, sizeof(*a));
	return syscall(SYS_sched_getattr, pid, a, sizeof(*a), 0);
}

/* The abusers' own policy: SCHED_FIFO 10. */
#define OWN_PRIO 10
#define UNPRIV 65534

static int own(const struct lab_sched_attr *a)
{
	return a->sched_policy == SCHED_FIFO && a->sched_priority == OWN_PRIO;
}

/* Longest continuous stretch under another policy, from the samples a task takes of itself. */
struct held {
	int in;
	double since, max;
	/* Distinct policy/prio pairs seen that were not its own, for the report. */
	int nseen;
	uint32_t seen[6][2];
};

static void sample(struct held *h, const struct lab_sched_attr *a, double t)
{
	if (own(a)) {
		if (h->in && t - h->since > h->max)
			h->max = t - h->since;
		h->in = 0;
		return;
	}
	if (!h->in) {
		h->in = 1;
		h->since = t;
	}
	if (t - h->since > h->max)
		h->max = t - h->since;
	for (int i = 0; i < h->nseen; i++)
		if (h->seen[i][0] == a->sched_policy && h->seen[i][1] == a->sched_priority)
			return;
	if (h->nseen < 6) {
		h->seen[h->nseen][0] = a->sched_policy;
		h->seen[h->nseen][1] = a->sched_priority;
		h->nseen++;
	}
}

/* "6:0,1:98" (policy:prio of each seen), or "none". */
static const char *seen_str(const struct held *h)
{
	static char buf[96];
	int n = 0;

	buf[0] = 0;
	for (int i = 0; i < h->nseen; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s%u:%u", i ? "," : "", h->seen[i][0], h->seen[i][1]);
	return h->nseen ? buf : "none";
}

static const char *err_name(int e)
{
	static char buf[16];

	switch (e) {
	case 0:
		return "ok";
	case EPERM:
		return "EPERM";
	case EBUSY:
		return "EBUSY";
	case EINVAL:
		return "EINVAL";
	case EAGAIN:
		return "EAGAIN";
	}
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* As root: RLIMIT_RTPRIO 0, SCHED_FIFO 10 on CPU 1; then uid/gid 65534. */
static int unprivileged_fifo10(const char *who)
{
	struct rlimit rl = { 0, 0 };
	struct sched_param sp = { .sched_priority = OWN_PRIO };
	uid_t r, e, s;

	if (setrlimit(RLIMIT_RTPRIO, &rl) || sched_setscheduler(0, SCHED_FIFO, &sp) || pin(1)) {
		fprintf(stderr, "labtool %s: setup: %s\n", who, strerror(errno));
		return -1;
	}
	if (setgroups(0, NULL) || setresgid(UNPRIV, UNPRIV, UNPRIV) || setresuid(UNPRIV, UNPRIV, UNPRIV)) {
		fprintf(stderr, "labtool %s: dropping to uid %d: %s\n", who, UNPRIV, strerror(errno));
		return -1;
	}
	if (getresuid(&r, &e, &s) || r != UNPRIV || e != UNPRIV || s != UNPRIV) {
		fprintf(stderr, "labtool %s: still privileged\n", who);
		return -1;
	}
	prctl(PR_SET_NAME, who, 0, 0, 0);
	return 0;
}

static double secs_arg(const char *s, const char *who)
{
	double v = atof(s);

	if (v <= 0 || v > 120) {
		fprintf(stderr, "labtool %s: seconds must be in (0, 120]\n", who);
		return -1;
	}
	return v;
}

/* An abuser's life: unprivileged SCHED_FIFO 10 on CPU 1, waking every 50 ms until its end. */
struct waking {
	double end, last, gap;
	long wakes;
	struct held h;
	struct lab_sched_attr a;
};

static int wake_start(struct waking *w, const char *who, const char *secs_s)
{
	double secs = secs_arg(secs_s, who);

	memset(w, 0, sizeof(*w));
	if (secs < 0 || unprivileged_fifo10(who))
		return -1;
	printf("ready %d\n", getpid());
	fflush(stdout);
	w->last = now();
	w->end = w->last + secs;
	return 0;
}

/* Sleeps 50 ms; 1 with w->a its policy now (sampled), 0 at its end (w->a its last policy). */
static int wake_next(struct waking *w)
{
	double t;

	while (now() < w->end) {
		sleep_s(0.05);
		t = now();
		if (t - w->last > w->gap)
			w->gap = t - w->last;
		w->last = t;
		w->wakes++;
		if (getattr(0, &w->a))
			continue;
		sample(&w->h, &w->a, t);
		return 1;
	}
	t = now();
	if (getattr(0, &w->a) == 0)
		sample(&w->h, &w->a, t);
	return 0;
}

static int mover(char **argv)
{
	struct waking w;
	double spun = 0, t;
	int moves = 0, move_err = 0, spins = 0;

	if (wake_start(&w, "mover", argv[0]))
		return 1;
	while (wake_next(&w)) {
		if (w.a.sched_policy != SCHED_DEADLINE)
			continue;
		/* Boosted: off to stalld's CPU, and spin there while the boost lasts (at most 5 s). */
		if (pin(0))
			move_err = errno;
		else
			moves++;
		spins++;
		double t0 = now();
		while ((t = now()) < t0 + 5 && t < w.end) {
			while (now() < t + 0.001)
				;
			t = now();
			if (getattr(0, &w.a))
				break;
			sample(&w.h, &w.a, t);
			if (w.a.sched_policy != SCHED_DEADLINE)
				break;
		}
		spun += now() - t0;
		w.last = now();
	}
	printf("mover pid=%d held_boost_s=%.3f moved=%d move_err=%s spins=%d spun_s=%.3f wakes=%ld maxgap=%.3f seen=%s "
	       "cpu=%d policy=%u prio=%u\n",
	       getpid(), w.h.max, moves, err_name(move_err), spins, spun, w.wakes, w.gap, seen_str(&w.h), sched_getcpu(),
	       w.a.sched_policy, w.a.sched_priority);
	return 0;
}

static int lowerer(char **argv)
{
	struct waking w;
	int tried = 0, attempts = 0, late = 0, fifo9 = -1, other = -1;

	if (wake_start(&w, "lowerer", argv[0]))
		return 1;
	while (wake_next(&w)) {
		if (tried || w.a.sched_policy != SCHED_DEADLINE)
			continue;
		/*
		 * A boost of 20 us can run out between the look and the try, and
		 * end before the task runs again: a try from SCHED_FIFO 10 would
		 * be the task's own change, not one of a boost. So first a probe
		 * that changes nothing: SCHED_FIFO 10 is refused (EPERM) only
		 * while the task is not on SCHED_FIFO (RLIMIT_RTPRIO 0); allowed,
		 * it means the boost is over, and the task tries at its next one.
		 */
		struct sched_param sp = { .sched_priority = OWN_PRIO };
		attempts++;
		if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0) {
			late++;
			continue;
		}
		tried = 1;
		sp.sched_priority = OWN_PRIO - 1;
		fifo9 = sched_setscheduler(0, SCHED_FIFO, &sp) ? errno : 0;
		/* Allowed only if the boost ended right between the probe and the try: the task's own change. */
		if (fifo9 == 0)
			continue;
		sp.sched_priority = 0;
		other = sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp) ? errno : 0;
		if (getattr(0, &w.a) == 0)
			sample(&w.h, &w.a, now());
	}
	printf("lowerer pid=%d held_boost_s=%.3f tried=%d attempts=%d late=%d fifo9=%s other=%s wakes=%ld maxgap=%.3f "
	       "seen=%s policy=%u prio=%u\n",
	       getpid(), w.h.max, tried, attempts, late, tried ? err_name(fifo9) : "-",
	       tried && fifo9 ? err_name(other) : "-", w.wakes, w.gap, seen_str(&w.h), w.a.sched_policy,
	       w.a.sched_priority);
	return 0;
}

struct flooder {
	pthread_t th;
	double end, interval, gap, first;
	long wakes;
	struct held h;
	struct lab_sched_attr last;
	int last_ok;
};

static volatile int flood_go;
static int flood_named;

static void *flood_thread(void *arg)
{
	struct flooder *f = arg;
	double last, t;

	prctl(PR_SET_NAME, "flood", 0, 0, 0);
	__atomic_add_fetch(&flood_named, 1, __ATOMIC_SEQ_CST);
	/* Bounded: the main thread sets flood_go or the end passes. */
	while (!flood_go && now() < f->end)
		sleep_s(0.01);
	last = now();
	while (now() < f->end) {
		sleep_s(f->interval);
		t = now();
		if (t - last > f->gap)
			f->gap = t - last;
		last = t;
		f->wakes++;
		if (getattr(0, &f->last) == 0)
			sample(&f->h, &f->last, t);
	}
	t = now();
	f->last_ok = getattr(0, &f->last) == 0;
	if (f->last_ok)
		sample(&f->h, &f->last, t);
	return NULL;
}

static int flood(char **argv, int argc)
{
	int n = atoi(argv[0]), started = 0;
	double secs = secs_arg(argv[1], "flood"), interval = argc > 2 ? atof(argv[2]) / 1000 : 0.05;
	struct rlimit rl = { 0, 0 };
	struct sched_param sp = { .sched_priority = OWN_PRIO };
	struct flooder *f;
	pthread_attr_t at;
	cpu_set_t one;

	if (secs < 0 || n < 1 || n > 1000 || interval < 0.001 || interval > 10) {
		fprintf(stderr, "labtool flood: bad arguments\n");
		return 2;
	}
	f = calloc(n, sizeof(*f));
	/* The threads: SCHED_FIFO 10 on CPU 1, set as root when each is made; the main thread stays on CPU 0. */
	if (!f || setrlimit(RLIMIT_RTPRIO, &rl) || pin(0)) {
		perror("labtool flood: setup");
		return 1;
	}
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 * 1024);
	pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&at, SCHED_FIFO);
	pthread_attr_setschedparam(&at, &sp);
	pthread_attr_setaffinity_np(&at, sizeof(one), &one);
	double end = now() + secs;
	for (int i = 0; i < n; i++) {
		f[i].end = end;
		f[i].interval = interval;
		if (pthread_create(&f[i].th, &at, flood_thread, &f[i])) {
			fprintf(stderr, "labtool flood: thread %d: %s\n", i, strerror(errno));
			break;
		}
		started++;
	}
	/* Every thread at once (glibc's setxid reaches each of them: none starves yet). */
	if (setgroups(0, NULL) || setresgid(UNPRIV, UNPRIV, UNPRIV) || setresuid(UNPRIV, UNPRIV, UNPRIV)) {
		perror("labtool flood: dropping privileges");
		flood_go = 1;
		for (int i = 0; i < started; i++)
			pthread_join(f[i].th, NULL);
		return 1;
	}
	flood_go = 1;
	/* Named (dlsum tells the abusers by comm) before anyone looks. */
	for (double t = now(); __atomic_load_n(&flood_named, __ATOMIC_SEQ_CST) < started && now() < t + 10;)
		sleep_s(0.01);
	printf("ready %d\n", getpid());
	fflush(stdout);
	int ran = 0, not_own = 0, saw_other = 0, over = 0;
	double gap_max = 0, held_max = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(f[i].th, NULL);
		ran += f[i].wakes > 0;
		saw_other += f[i].h.nseen > 0;
		not_own += !f[i].last_ok || !own(&f[i].last);
		over += f[i].gap > 5;
		if (f[i].gap > gap_max)
			gap_max = f[i].gap;
		if (f[i].h.max > held_max)
			held_max = f[i].h.max;
	}
	/* CPU time of all its threads: in a slow guest, a flood of wake-ups can load CPU 1 by itself. */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("flood pid=%d n=%d interval_ms=%.0f started=%d ran=%d saw_other=%d held_boost_s=%.3f maxgap=%.3f "
	       "gaps_over_5s=%d not_fifo10=%d cpu_s=%.2f\n",
	       getpid(), n, 1000 * interval, started, ran, saw_other, held_max, gap_max, over, not_own,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	return 0;
}

/* CPU (field 39) of a task's stat, read again through an open fd. */
static int cpu_of(int fd)
{
	char buf[1024], *p;
	int n, field = 2;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (p++; *p; p++)
		if (*p == ' ' && ++field == 39)
			return atoi(p + 1);
	return -1;
}

#define MAX_CPUS 64
#define MAX_TID 65536
#define MAX_TASKS 8192
/* Between two walks of /proc: under the threshold (3 s), so every task is listed before it can be boosted. */
#define LIST_EVERY_S 2.0

/* dlsum's view of one task, kept between scans. */
struct tent {
	int tgid, stat_fd;
	/* 0: not an abuser; 1 mover, 2 lowerer, 3 flood (by comm). */
	int abuser;
	/* Allowed on CPU 0 only when first listed: stalld (-c 1) never boosts it; read only at each walk. */
	int cpu0_only;
	/* Abusers: in another policy since the scan at `since`; last scan that saw it on its own. */
	int in, ever;
	double since, last_own, last_other, held_lo, held_hi;
};

static const char *const abuser_names[] = { "", "mover", "lowerer", "flood" };

static struct tent *tent_of[MAX_TID];
static int tids[MAX_TASKS], ntids;

static struct tent *new_tent(int tgid, int tid, double t)
{
	struct tent *t_ = calloc(1, sizeof(*t_));
	char path[64], comm[32] = "";
	cpu_set_t aff;
	int fd;

	if (!t_)
		return NULL;
	t_->tgid = tgid;
	t_->stat_fd = -1;
	t_->last_own = t;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", tgid, tid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		int n = read(fd, comm, sizeof(comm) - 1);

		comm[n > 0 ? n : 0] = 0;
		close(fd);
	}
	comm[strcspn(comm, "\n")] = 0;
	for (int i = 1; i < 4; i++)
		if (strcmp(comm, abuser_names[i]) == 0)
			t_->abuser = i;
	t_->cpu0_only = !t_->abuser && sched_getaffinity(tid, sizeof(aff), &aff) == 0 && CPU_COUNT(&aff) == 1 &&
			CPU_ISSET(0, &aff);
	return t_;
}

/* The task list, walked again every LIST_EVERY_S: reading policies is cheap, /proc's directories are not. */
static void list_tasks(int exclude, double t)
{
	DIR *proc = opendir("/proc");
	struct dirent *d, *e;

	ntids = 0;
	if (!proc)
		return;
	while ((d = readdir(proc))) {
		char path[64];
		int tgid = atoi(d->d_name);
		DIR *task;

		if (d->d_name[0] < '1' || d->d_name[0] > '9' || tgid == exclude)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task", tgid);
		task = opendir(path);
		if (!task)
			continue;
		while ((e = readdir(task)) && ntids < MAX_TASKS) {
			int tid = atoi(e->d_name);

			if (e->d_name[0] < '1' || e->d_name[0] > '9' || tid >= MAX_TID)
				continue;
			if (!tent_of[tid] || tent_of[tid]->tgid != tgid) {
				/* New, or a reused tid (its old entry is dropped). */
				struct tent *t_ = new_tent(tgid, tid, t);

				if (!t_)
					continue;
				if (tent_of[tid]) {
					if (tent_of[tid]->stat_fd >= 0)
						close(tent_of[tid]->stat_fd);
					free(tent_of[tid]);
				}
				tent_of[tid] = t_;
			}
			tids[ntids++] = tid;
		}
		closedir(task);
	}
	closedir(proc);
}

/* The CPU of a DEADLINE task: where its affinity allows one CPU only, that one (cheap); else its stat's. */
static int dl_cpu(int tid, struct tent *t, int ncpu)
{
	cpu_set_t aff;

	if (sched_getaffinity(tid, sizeof(aff), &aff) == 0 && CPU_COUNT(&aff) == 1)
		for (int c = 0; c < ncpu; c++)
			if (CPU_ISSET(c, &aff))
				return c;
	if (t->stat_fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", t->tgid, tid);
		t->stat_fd = open(path, O_RDONLY);
	}
	return t->stat_fd < 0 ? -1 : cpu_of(t->stat_fd);
}

/* An abuser's policy at scan time t: the bounds of its longest hold of another policy. */
static void track(struct tent *t, int other, double now_)
{
	if (other) {
		if (!t->in) {
			t->in = 1;
			t->ever = 1;
			t->since = now_;
		}
		t->last_other = now_;
		/* At least from the first scan that saw it to the last; at most from the last scan that did not. */
		if (t->last_other - t->since > t->held_lo)
			t->held_lo = t->last_other - t->since;
		if (now_ - t->last_own > t->held_hi)
			t->held_hi = now_ - t->last_own;
		return;
	}
	if (t->in && now_ - t->last_own > t->held_hi)
		t->held_hi = now_ - t->last_own;
	t->in = 0;
	t->last_own = now_;
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cputime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dlsum(char **argv, int argc)
{
	double secs = secs_arg(argv[0], "dlsum"), period = argc > 2 ? atof(argv[2]) / 1000 : 0.02;
	double end, next_list = 0, last_scan = 0, gap_max = 0;
	double scan_total = 0, cpu_total = 0, scan_max = 0, scan_max_at = 0, list_total = 0, list_max = 0;
	int exclude = atoi(argv[1]), ncpu = sysconf(_SC_NPROCESSORS_CONF), max_tasks = 0, scans = 0, lists = 0;
	int boosted[4] = { 0 }, seen[4] = { 0 }, rescans = 0;
	double held_lo[4] = { 0 }, held_hi[4] = { 0 };
	struct sched_param sp = { .sched_priority = 90 };
	double max[MAX_CPUS] = { 0 }, raw[MAX_CPUS] = { 0 };
	int max_n[MAX_CPUS] = { 0 };
	static int dl_tid[MAX_TASKS], dl_cpu_of[MAX_TASKS];

	if (secs < 0 || period < 0.001 || period > 1)
		return 2;
	if (ncpu > MAX_CPUS)
		ncpu = MAX_CPUS;
	if (pin(0) || sched_setscheduler(0, SCHED_FIFO, &sp)) {
		perror("labtool dlsum: setup");
		return 1;
	}
	/* The first walk reads every task's comm (1.5 s once on 6.1-rt under icount): before "ready". */
	list_tasks(exclude, now());
	next_list = now() + LIST_EVERY_S;
	printf("ready %d\n", getpid());
	fflush(stdout);
	end = now() + secs;
	while (now() < end) {
		double sum[MAX_CPUS] = { 0 }, t0 = now(), c0 = cputime();
		int cnt[MAX_CPUS] = { 0 }, ndl = 0, listed = t0 >= next_list;

		if (listed) {
			list_tasks(exclude, t0);
			next_list = t0 + LIST_EVERY_S;
			double l = now() - t0;
			list_total += l;
			lists++;
			if (l > list_max)
				list_max = l;
		}
		if (last_scan && t0 - last_scan > gap_max)
			gap_max = t0 - last_scan;
		last_scan = t0;
		for (int i = 0; i < ntids; i++) {
			struct tent *t = tent_of[tids[i]];
			struct lab_sched_attr a;

			if ((t->cpu0_only && !listed) || getattr(tids[i], &a))
				continue;
			if (t->abuser)
				track(t, !own(&a), t0);
			if (a.sched_policy != SCHED_DEADLINE)
				continue;
			int cpu = dl_cpu(tids[i], t, ncpu);
			uint64_t per = a.sched_period ? a.sched_period : a.sched_deadline;
			if (cpu < 0 || cpu >= ncpu || !per)
				continue;
			sum[cpu] += 100.0 * a.sched_runtime / per;
			cnt[cpu]++;
			dl_tid[ndl] = tids[i];
			dl_cpu_of[ndl++] = cpu;
		}
		/*
		 * A scan is no snapshot: a boost that ends and another that begins
		 * while it reads may both count. A sum that would raise a CPU's
		 * maximum is read once more at once, over the same tasks, and the
		 * smaller of the two counts (what both saw); the first is kept as
		 * the raw maximum.
		 */
		int higher = 0;
		for (int c = 0; c < ncpu; c++) {
			if (sum[c] > raw[c])
				raw[c] = sum[c];
			higher |= sum[c] > max[c];
		}
		if (higher) {
			double again[MAX_CPUS] = { 0 };

			rescans++;
			for (int i = 0; i < ndl; i++) {
				struct lab_sched_attr a;
				uint64_t per;

				if (getattr(dl_tid[i], &a) || a.sched_policy != SCHED_DEADLINE)
					continue;
				per = a.sched_period ? a.sched_period : a.sched_deadline;
				if (per)
					again[dl_cpu_of[i]] += 100.0 * a.sched_runtime / per;
			}
			for (int c = 0; c < ncpu; c++) {
				double both = sum[c] < again[c] ? sum[c] : again[c];

				if (both > max[c]) {
					max[c] = both;
					max_n[c] = cnt[c];
				}
			}
		}
		if (ndl > max_tasks)
			max_tasks = ndl;
		double took = now() - t0;
		scan_total += took;
		cpu_total += cputime() - c0;
		if (took > scan_max) {
			scan_max = took;
			scan_max_at = wall() - took;
		}
		scans++;
		sleep_s(period);
	}
	for (int i = 0; i < MAX_TID; i++) {
		struct tent *t = tent_of[i];

		if (!t || !t->abuser)
			continue;
		seen[t->abuser]++;
		boosted[t->abuser] += t->ever;
		if (t->held_lo > held_lo[t->abuser])
			held_lo[t->abuser] = t->held_lo;
		if (t->held_hi > held_hi[t->abuser])
			held_hi[t->abuser] = t->held_hi;
	}
	printf("dlsum");
	for (int c = 0; c < ncpu; c++)
		printf(" cpu%d=%.2f cpu%d_tasks=%d cpu%d_raw=%.2f", c, max[c], c, max_n[c], c, raw[c]);
	/* held_s: at least this long (first to last scan that saw it); held_max_s: at most (scan to scan). */
	for (int i = 1; i < 4; i++)
		printf(" %s_held_s=%.3f %s_held_max_s=%.3f %s_boosted=%d %s_seen=%d", abuser_names[i], held_lo[i],
		       abuser_names[i], held_hi[i], abuser_names[i], boosted[i], abuser_names[i], seen[i]);
	/* What the scans cost: wall time, CPU time (the rest they waited), the walks of /proc. */
	printf(" max_tasks=%d period_ms=%.0f scans=%d rescans=%d scan_ms=%.2f scan_cpu_ms=%.2f scan_ms_max=%.2f "
	       "scan_max_at=%.3f list_ms=%.2f list_ms_max=%.2f scan_gap_max_s=%.3f\n",
	       max_tasks, 1000 * period, scans, rescans, scans ? 1000 * scan_total / scans : 0,
	       scans ? 1000 * cpu_total / scans : 0, 1000 * scan_max, scan_max_at, lists ? 1000 * list_total / lists : 0,
	       1000 * list_max, gap_max);
	return 0;
}

static double wall(void);

/* Reads a whole small file into buf (NUL-terminated); returns its length or -1. */
static int slurp(const char *path, char *buf, int size)
{
	int fd = open(path, O_RDONLY), n, len = 0;

	if (fd < 0)
		return -1;
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return len;
}

/* The syscall <pid>'s main thread is in; for epoll_pwait2 (441), the timeout it asked for. */
static void print_syscall(int pid)
{
	char path[64], sc[256];
	unsigned long long a[4];
	int nr;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, pid);
	if (slurp(path, sc, sizeof(sc)) <= 0)
		snprintf(sc, sizeof(sc), "?\n");
	printf("syscall=%s", sc);
	/* epoll_pwait2(fd, events, max, timeout, ...) */
	if (sscanf(sc, "%d %llx %llx %llx %llx", &nr, &a[0], &a[1], &a[2], &a[3]) == 5 && nr == 441 && a[3]) {
		long long tsv[2] = { -1, -1 };
		int mfd;

		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		mfd = open(path, O_RDONLY);
		if (mfd >= 0 && pread(mfd, tsv, sizeof(tsv), (off_t)a[3]) == sizeof(tsv))
			printf("trace   epoll_pwait2 timeout %lld.%09lld s\n", tsv[0], tsv[1]);
		if (mfd >= 0)
			close(mfd);
	}
}

/*
 * Where a runnable thread is: stops it with PTRACE_INTERRUPT (seized once),
 * reads its instruction pointer, lets it go (a signal that arrived meanwhile
 * is passed on). Returns the address, 0 when it could not.
 */
static unsigned long long sample_ip(int pid, int *seized)
{
	struct user_regs_struct regs;
	unsigned long long ip = 0;
	int st;

	if (!*seized) {
		if (ptrace(PTRACE_SEIZE, pid, 0, 0))
			return 0;
		*seized = 1;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0))
		return 0;
	for (int i = 0; i < 8; i++) {
		if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st))
			return 0;
		if ((st >> 16) == PTRACE_EVENT_STOP) {
			if (!ptrace(PTRACE_GETREGS, pid, 0, &regs))
				ip = regs.rip;
			ptrace(PTRACE_CONT, pid, 0, 0);
			return ip;
		}
		ptrace(PTRACE_CONT, pid, 0, WSTOPSIG(st));
	}
	return 0;
}

/* The mapping an address falls in, as "name+0xoffset" (a JIT or heap address: "[anon]+0x..."). */
static void where(int pid, unsigned long long ip, char *out, int size)
{
	char path[64], line[512];
	FILE *f;

	snprintf(out, size, "0x%llx", ip);
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, off;
		char name[256] = "[anon]";

		if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %255s", &lo, &hi, &off, name) < 3)
			continue;
		if (ip >= lo && ip < hi) {
			const char *base = strrchr(name, '/');

			/* A non-PIE executable's addresses are its own: printed as they are. */
			snprintf(out, size, "%s+0x%llx@0x%llx", base ? base + 1 : name, ip - lo + off, ip);
			break;
		}
	}
	fclose(f);
}

static int trace(char **argv)
{
	int pid = atoi(argv[0]);
	double secs = atof(argv[1]), t0 = now(), since = 0;
	struct sched_param sp = { .sched_priority = 95 };
	char path[320], stat[1024], wchan[128], stack[4096], sched[4096];
	char last_wchan[128] = "", last_stack[4096] = "", last_state = 0;
	/* While it stays runnable: where it is (instruction pointers), printed with each "still" line. */
	unsigned long long ips[32];
	int ip_n[32], nips = 0, seized = 0;
	double rsince = -1;

	if (secs <= 0 || secs > 600 || pin(0) || sched_setscheduler(0, SCHED_FIFO, &sp))
		return 1;
	while (now() - t0 < secs) {
		struct timespec ts = { 0, 20 * 1000000 };
		char state, *p;
		double t = wall();
		unsigned long long ut = 0, st = 0;

		/* Seized: a signal the thread stopped on (SIGTERM at the end) is passed on at once. */
		for (int st; seized && waitpid(pid, &st, __WALL | WNOHANG) == pid;)
			if (WIFSTOPPED(st))
				ptrace(PTRACE_CONT, pid, 0, (st >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(st));
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, pid);
		if (slurp(path, stat, sizeof(stat)) <= 0)
			break;
		p = strrchr(stat, ')');
		if (!p || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ut, &st) != 3)
			break;
		if (state != 'R')
			rsince = -1;
		else if (rsince < 0)
			rsince = t;
		else if (t - rsince > 0.3) {
			unsigned long long ip = sample_ip(pid, &seized);
			int k;

			for (k = 0; k < nips && ips[k] != ip; k++)
				;
			if (k == nips && nips < 32) {
				ips[nips] = ip;
				ip_n[nips++] = 0;
			}
			if (k < 32)
				ip_n[k]++;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, pid);
		if (slurp(path, wchan, sizeof(wchan)) < 0)
			wchan[0] = 0;
		if (state != last_state || strcmp(wchan, last_wchan)) {
			printf("trace %.3f %c %s ran_ms=%llu ", t, state, wchan[0] ? wchan : "-",
			       (ut + st) * 1000 / sysconf(_SC_CLK_TCK));
			if (state == 'S')
				print_syscall(pid);
			else
				printf("\n");
			since = t;
			last_state = state;
			snprintf(last_wchan, sizeof(last_wchan), "%s", wchan);
		} else if (t - since >= 1) {
			printf("trace %.3f still %c %s user_ms=%llu sys_ms=%llu ", t, state, wchan[0] ? wchan : "-",
			       ut * 1000 / sysconf(_SC_CLK_TCK), st * 1000 / sysconf(_SC_CLK_TCK));
			print_syscall(pid);
			since = t;
			for (int k = 0; k < nips; k++) {
				char w[320];

				where(pid, ips[k], w, sizeof(w));
				printf("trace   ip %s x%d\n", w, ip_n[k]);
			}
			nips = 0;
			/* The whole process: its resident memory and every thread's CPU time (a GC shows in both). */
			snprintf(path, sizeof(path), "/proc/%d/status", pid);
			if (slurp(path, sched, sizeof(sched)) > 0)
				for (char *l = strtok(sched, "\n"); l; l = strtok(NULL, "\n"))
					if (!strncmp(l, "VmRSS", 5) || !strncmp(l, "Threads", 7))
						printf("trace   %s\n", l);
			snprintf(path, sizeof(path), "/proc/%d/task", pid);
			DIR *d = opendir(path);
			struct dirent *e;

			while (d && (e = readdir(d))) {
				char tstat[512], *q;
				unsigned long long u = 0, k = 0;

				if (e->d_name[0] == '.')
					continue;
				snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, e->d_name);
				if (slurp(path, tstat, sizeof(tstat)) > 0 && (q = strrchr(tstat, ')')) &&
				    sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &k) == 2 && u + k)
					printf("trace   thread %s %.*s cpu_ms=%llu\n", e->d_name, (int)(q - strchr(tstat, '(') - 1),
					       strchr(tstat, '(') + 1, (u + k) * 1000 / sysconf(_SC_CLK_TCK));
			}
			if (d)
				closedir(d);
			/* A DEADLINE thread's own view: runtime left and deadline (6.1: dl.runtime, dl.deadline). */
			snprintf(path, sizeof(path), "/proc/%d/task/%d/sched", pid, pid);
			if (slurp(path, sched, sizeof(sched)) > 0)
				for (char *l = strtok(sched, "\n"); l; l = strtok(NULL, "\n"))
					if (strstr(l, "dl.") || strstr(l, "nr_involuntary") || strstr(l, "se.sum_exec"))
						printf("trace   %s\n", l);
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, pid);
		if (state != 'R' && slurp(path, stack, sizeof(stack)) > 0 && strcmp(stack, last_stack)) {
			snprintf(last_stack, sizeof(last_stack), "%s", stack);
			for (char *l = strtok(stack, "\n"); l; l = strtok(NULL, "\n"))
				printf("trace   %s\n", l);
		}
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
	if (seized)
		ptrace(PTRACE_DETACH, pid, 0, 0);
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
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		printf("%ld.%03ld\n", (long)ts.tv_sec, ts.tv_nsec / 1000000);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "trace") == 0)
		return trace(argv + 2);
	if (argc == 3 && strcmp(argv[1], "mover") == 0)
		return mover(argv + 2);
	if (argc == 3 && strcmp(argv[1], "lowerer") == 0)
		return lowerer(argv + 2);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "flood") == 0)
		return flood(argv + 2, argc - 2);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "dlsum") == 0)
		return dlsum(argv + 2, argc - 2);
	fprintf(stderr, "usage: labtool waker <fifo|other> <prio> <cpu> <seconds> <interval_ms> | refresh | "
			"oncpu <pid> <cpu> <timeout_s> | setfifo <pid> <prio> | spin0 <prio> <seconds> | now | "
			"trace <pid> <seconds> | mover <seconds> | lowerer <seconds> | flood <n> <seconds> [interval_ms] | "
			"dlsum <seconds> <exclude_pid> [period_ms]\n");
	return 2;
}
