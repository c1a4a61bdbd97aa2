// SPDX-License-Identifier: GPL-2.0
/*
 * threads <n> <seconds>: keeps n sleeping threads alive for a bounded time,
 * so a benchmark can measure a detection pass with many threads on the box.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_attr_t attr;
	int n, i;

	if (argc != 3 || (n = atoi(argv[1])) < 1 || atoi(argv[2]) <= 0 || atoi(argv[2]) > 600) {
		fprintf(stderr, "usage: threads <n> <seconds (1-600)>\n");
		return 2;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 1; i < n; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, sleeper, NULL)) {
			perror("threads: pthread_create");
			return 1;
		}
	}
	printf("ready %d\n", n);
	fflush(stdout);
	sleep(atoi(argv[2]));
	return 0;
}
