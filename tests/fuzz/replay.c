/*
 * replay: runs a libFuzzer target without libFuzzer, so the regular build
 * (gcc, no fuzzer runtime) replays each target's seed corpus and saved
 * crashes on every test run, under ASan/UBSan in tools/test.sh's second
 * build.  Linked with one tests/fuzz/fuzz_<target>.c.
 *
 *   fuzz_replay_<target> DIR|FILE...
 *
 * Runs the target once on every file named, and on every regular file of
 * every directory named (in name order; dotfiles such as .keep skipped).
 * Exit 0 once all ran; 1 if an argument cannot be read or no input was
 * found in any (an empty corpus tests nothing).  A crashing input
 * crashes it (the target aborts, or the sanitizer reports), which is the
 * test failing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads path whole into a malloc'd buffer of exactly its size. */
static int
read_file(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;
	int rc = -1;

	if (f == NULL)
		return -1;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0)
		goto out_close;
	/* malloc(0) may return NULL: a byte more than an empty file needs. */
	if ((buf = malloc(st.st_size ? (size_t)st.st_size : 1)) == NULL)
		goto out_close;
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		goto out_close;
	}
	*out = buf;
	*len = (size_t)st.st_size;
	rc = 0;
out_close:
	fclose(f);
	return rc;
}

static int
run_file(const char *path)
{
	uint8_t *buf;
	size_t len;

	if (read_file(path, &buf, &len) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int
not_dotfile(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Runs every regular file of dir; returns how many, or -1. */
static int
run_dir(const char *dir)
{
	struct dirent **names;
	int n, ran = 0, rc = 0;

	if ((n = scandir(dir, &names, not_dotfile, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				rc = -1;
			else
				ran++;
		}
		free(names[i]);
	}
	free(names);
	return rc < 0 ? -1 : ran;
}

int
main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			        strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			n = run_dir(argv[i]);
		else
			n = run_file(argv[i]) < 0 ? -1 : 1;
		if (n < 0)
			return 1;
		printf("replay: %s: %d inputs\n", argv[i], n);
		total += n;
	}
	/* No input tested nothing: a missing or emptied corpus must fail. */
	if (total == 0) {
		fprintf(stderr, "replay: no inputs: nothing was tested\n");
		return 1;
	}
	printf("replay: %d inputs, all passed\n", total);
	return 0;
}
