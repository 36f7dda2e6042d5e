/*
 * file_dir: listing a directory of the file store: sorted names, with
 * their inode numbers if asked, without "rejected" and (unless asked)
 * dotfiles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_file_priv.h"

void
ts_file_free_names(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

int
ts_file_cmp_name_ino(const void *a, const void *b)
{
	return strcmp(((const struct name_ino *)a)->name,
	              ((const struct name_ino *)b)->name);
}

/*
 * The names in directory fd and their inode numbers, sorted, without
 * "rejected" and (unless dots) dotfiles.  Free with ts_file_free_name_inos().
 */
static int
list_dir_dots(int fd, int dots, struct name_ino **out, size_t *n)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct name_ino *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return -errno;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if ((de->d_name[0] == '.' && (!dots || strcmp(de->d_name, ".") == 0 ||
		                              strcmp(de->d_name, "..") == 0)) ||
		    strcmp(de->d_name, "rejected") == 0)
			continue;
		if (cnt == cap) {
			struct name_ino *nv = realloc(v, (cap = cap ? 2 * cap : 64) *
			                                 sizeof(*v));
			if (nv == NULL)
				goto out_nomem;
			v = nv;
		}
		if ((v[cnt].name = strdup(de->d_name)) == NULL)
			goto out_nomem;
		v[cnt++].ino = de->d_ino;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), ts_file_cmp_name_ino);
	*out = v;
	*n = cnt;
	return 0;
out_nomem:
	closedir(d);
	while (cnt > 0)
		free(v[--cnt].name);
	free(v);
	return -ENOMEM;
}

int
ts_file_list_dir_ino(int fd, struct name_ino **out, size_t *n)
{
	return list_dir_dots(fd, 0, out, n);
}

void
ts_file_free_name_inos(struct name_ino *v, size_t n)
{
	while (n > 0)
		free(v[--n].name);
	free(v);
}

/* The sorted names in directory fd, without "rejected" and (unless dots)
 * dotfiles. */
int
ts_file_list_dir_of(int fd, int dots, char ***names, size_t *n)
{
	struct name_ino *v;
	char **out;
	int rc;

	if ((rc = list_dir_dots(fd, dots, &v, n)) < 0)
		return rc;
	if ((out = malloc((*n ? *n : 1) * sizeof(*out))) == NULL) {
		ts_file_free_name_inos(v, *n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < *n; i++)
		out[i] = v[i].name;	/* the strings move over */
	free(v);
	*names = out;
	return 0;
}

int
ts_file_list_dir(int fd, char ***names, size_t *n)
{
	return ts_file_list_dir_of(fd, 0, names, n);
}
