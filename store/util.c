/*
 * util: time formatting and parsing, id generation and validation.
 */
#include "store/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

int64_t
ts_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
format(int64_t ms, char buf[32], int with_ms)
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)s * 1000);
	struct tm tm;
	char tmp[96];	/* room for any int the compiler imagines */

	gmtime_r(&s, &tm);
	if (with_ms)
		snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	else
		snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		         tm.tm_hour, tm.tm_min, tm.tm_sec);
	tmp[31] = '\0';	/* years past 9999 do not occur */
	memcpy(buf, tmp, 32);
}

void
ts_time_format(int64_t ms, char buf[32])
{
	format(ms, buf, 0);
}

void
ts_time_format_ms(int64_t ms, char buf[32])
{
	format(ms, buf, 1);
}

/* Reads exactly n digits at *p into *v. */
static int
digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		*v = *v * 10 + (c - '0');
	}
	*p += n;
	return 0;
}

static int
expect(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return -EINVAL;
	(*p)++;
	return 0;
}

int
ts_time_parse(const char *s, int64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	                             30, 31 };
	int y, mo, d, h, mi, sec, frac = 0, offh = 0, offm = 0, sign = 0;
	const char *p = s;
	struct tm tm;

	if (digits(&p, 4, &y) || expect(&p, "-") || digits(&p, 2, &mo) ||
	    expect(&p, "-") || digits(&p, 2, &d) || expect(&p, "Tt ") ||
	    digits(&p, 2, &h) || expect(&p, ":") || digits(&p, 2, &mi) ||
	    expect(&p, ":") || digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		int n = 0, scale = 100;

		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 3)
				frac += (*p - '0') * scale;
			scale /= 10;
			n++;
			p++;
		}
		if (n == 0)
			return -EINVAL;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (digits(&p, 2, &offh) || expect(&p, ":") ||
		    digits(&p, 2, &offm) || offh > 23 || offm > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;	/* a leap second: close enough */
	*ms = ((int64_t)timegm(&tm) - sign * (offh * 3600 + offm * 60)) * 1000 +
	      frac;
	return 0;
}

int
ts_line_error(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(err, errlen, "line %u: ", line);

	va_start(ap, fmt);
	if (k >= 0 && (size_t)k < errlen)
		vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
ts_id_valid(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return n >= 1 && n <= TS_NAME_MAX;
}

int
ts_name_valid(const char *s)
{
	size_t n = 0;

	if (s[0] == '.')
		return 0;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return n >= 1 && n <= TS_NAME_MAX;
}

void
ts_id_new(char buf[TS_NAME_MAX + 1])
{
	/* Keeps ids from one process strictly increasing in a batch. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last_us;
	struct timespec ts;
	int64_t us;
	time_t s;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	pthread_mutex_lock(&lock);
	if (us <= last_us)
		us = last_us + 1;
	last_us = us;
	pthread_mutex_unlock(&lock);
	s = (time_t)(us / 1000000);
	gmtime_r(&s, &tm);
	snprintf(buf, TS_NAME_MAX + 1, "%04d%02d%02d-%02d%02d%02d-%06d-%04x",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (int)(us % 1000000),
	         (unsigned)randombytes_uniform(0x10000));
}
