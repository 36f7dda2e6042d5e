/*
 * lat: per-operation latency for the benchmark, without process start-up
 * in the measurement.  Reads a list of paths (one a line) on stdin.
 *
 *   lat open ROUNDS < paths   open+read+close of each path, ROUNDS times
 *   lat stat ROUNDS < paths   lstat of each path, ROUNDS times
 *
 * Prints "p50 p99 mean" in microseconds.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	char **paths = NULL, line[4096], buf[65536];
	size_t n = 0, cap = 0, k = 0;
	int rounds, do_open;
	double *t, sum = 0;

	if (argc != 3 || (strcmp(argv[1], "open") && strcmp(argv[1], "stat"))) {
		fprintf(stderr, "usage: lat open|stat ROUNDS < paths\n");
		return 2;
	}
	do_open = strcmp(argv[1], "open") == 0;
	rounds = atoi(argv[2]);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (n == cap && (paths = realloc(paths, (cap = cap ? 2 * cap : 1024)
		                                         * sizeof(*paths))) == NULL)
			return 1;
		if ((paths[n++] = strdup(line)) == NULL)
			return 1;
	}
	if (n == 0 || rounds < 1)
		return 2;
	if ((t = malloc(n * (size_t)rounds * sizeof(*t))) == NULL)
		return 1;
	for (int r = 0; r < rounds; r++)
		for (size_t i = 0; i < n; i++) {
			double a = now_us();
			struct stat st;

			if (do_open) {
				int fd = open(paths[i], O_RDONLY);
				if (fd < 0 || read(fd, buf, sizeof(buf)) < 0) {
					perror(paths[i]);
					return 1;
				}
				close(fd);
			} else if (lstat(paths[i], &st) < 0) {
				perror(paths[i]);
				return 1;
			}
			t[k] = now_us() - a;
			sum += t[k++];
		}
	qsort(t, k, sizeof(*t), cmp);
	printf("%.1f %.1f %.1f\n", t[k / 2], t[(size_t)(k * 0.99)], sum / k);
	return 0;
}
