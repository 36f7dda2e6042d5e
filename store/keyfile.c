/*
 * keyfile: permission-checked loading of the secret key.
 */
#include "store/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "store/sysio.h"

#define PASS_MAX 1024

static int
fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* Reads the first line of fd into a locked buffer. */
static int
read_line(int fd, char **pass, size_t *len)
{
	char *p = sodium_malloc(PASS_MAX + 1);
	size_t n = 0;

	if (p == NULL)
		return -ENOMEM;
	while (n < PASS_MAX) {
		ssize_t r = read(fd, p + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || p[n] == '\n')
			break;
		n++;
	}
	if (n > 0 && p[n - 1] == '\r')
		n--;
	p[n] = '\0';
	*pass = p;
	*len = n;
	return 0;
}

/*
 * Refuses, as ssh does, a secret file (what: "private key", "passphrase")
 * that another uid owns or that group or others may read or write: whoever
 * could read it has the secret, whoever owns it can chmod it.
 */
static int
check_private(int fd, const char *path, const char *what, char *err,
              size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return fail(err, errlen, -errno, "cannot stat %s: %s", path,
		            strerror(errno));
	if (st.st_uid != geteuid())
		return fail(err, errlen, -EPERM, "Bad owner or permissions on "
		            "%s: owned by uid %u, not by uid %u who reads it",
		            path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return fail(err, errlen, -EPERM, "Permissions 0%3.3o for '%s' "
		            "are too open. It is required that your %s files "
		            "are NOT accessible by others (chmod 600 %s).",
		            (unsigned)(st.st_mode & 0777), path, what, path);
	return 0;
}

int
ts_keyfile_read_pass(const char *passfile, char **pass, size_t *len,
                     char *err, size_t errlen)
{
	int fd = open(passfile, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return fail(err, errlen, -errno, "cannot read passphrase file "
		            "%s: %s", passfile, strerror(errno));
	if ((rc = check_private(fd, passfile, "passphrase", err, errlen)) == 0 &&
	    (rc = read_line(fd, pass, len)) < 0)
		fail(err, errlen, rc, "cannot read passphrase file %s: %s",
		     passfile, strerror(-rc));
	close(fd);
	return rc;
}

/* Asks the terminal, with echo off. */
static int
ask_tty(char **pass, size_t *len)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	int rc;

	if (fd < 0)
		return -ENOKEY;
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return -ENOKEY;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	(void)!write(fd, "passphrase: ", 12);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = read_line(fd, pass, len);
	tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	return rc;
}

int
ts_keyfile_load(const char *path, const char *passfile,
                struct ts_seckey **out, char *err, size_t errlen)
{
	return ts_keyfile_load_hint(path, passfile, "-o passfile=FILE", out,
	                            err, errlen);
}

int
ts_keyfile_load_hint(const char *path, const char *passfile,
                     const char *hint, struct ts_seckey **out, char *err,
                     size_t errlen)
{
	unsigned char *text = NULL;
	char *pass = NULL;
	size_t len, passlen = 0;
	struct stat st;
	int fd, rc, needs;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail(err, errlen, -errno, "cannot open key file %s: %s",
		            path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, -EINVAL, "key file %s is not a regular "
		            "file", path);
	}
	if ((rc = check_private(fd, path, "private key", err, errlen)) < 0) {
		close(fd);
		return rc;
	}
	rc = ts_sysio_read_all(fd, 16384, &text, &len);
	close(fd);
	if (rc < 0)
		return fail(err, errlen, rc, "cannot read key file %s: %s", path,
		            strerror(-rc));
	needs = ts_seal_seckey_needs_pass((const char *)text, len);
	if (needs < 0) {
		rc = fail(err, errlen, -EINVAL, "%s is not a ticketfs secret "
		          "key", path);
		goto out_wipe;
	}
	if (needs) {
		if (passfile != NULL)
			rc = ts_keyfile_read_pass(passfile, &pass, &passlen, err,
			                          errlen);
		else if ((rc = ask_tty(&pass, &passlen)) < 0)
			fail(err, errlen, rc, "key %s needs a passphrase: give "
			     "%s or run on a terminal", path, hint);
		if (rc < 0)
			goto out_wipe;
	}
	rc = ts_seal_seckey_decode((const char *)text, len, pass, passlen, out);
	if (rc == -EKEYREJECTED)
		fail(err, errlen, rc, "wrong passphrase, or key file %s is "
		     "damaged", path);
	else if (rc < 0)
		fail(err, errlen, rc, "cannot load key %s: %s", path,
		     strerror(-rc));
out_wipe:
	sodium_free(pass);
	sodium_memzero(text, len);
	free(text);
	return rc;
}
