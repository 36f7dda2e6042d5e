/*
 * progress: ticketctl's progress bar on a terminal (tools/progress.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/progress.h"

#define BAR_WIDTH 30
#define REDRAW_MS 100

struct ts_progress {
	int tty;			/* stderr is a terminal */
	enum ts_progress_unit unit;	/* how done and total are shown */
	const char *label;		/* of the phase drawn */
	double start, last;		/* of the phase; of the last draw (s) */
	int drawn;			/* a line of this phase is on screen */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct ts_progress *
ts_progress_new(const char *label, enum ts_progress_unit unit)
{
	struct ts_progress *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->tty = isatty(STDERR_FILENO);
	p->unit = unit;
	p->label = label;
	p->start = now_s();
	return p;
}

/* v as the unit shows it, into buf. */
static void
amount(const struct ts_progress *p, double v, char *buf, size_t len)
{
	if (p->unit == TS_PROGRESS_BYTES)
		snprintf(buf, len, "%.1f MiB", v / (1024.0 * 1024.0));
	else
		snprintf(buf, len, "%.0f", v);
}

static void
draw(struct ts_progress *p, uint64_t done, uint64_t total, double t)
{
	double el = t - p->start, rate = el > 0 ? done / el : 0;
	char bar[BAR_WIDTH + 4] = "", left[32] = "", d[32], tot[32] = "";
	char r[32];

	if (total > 0) {
		int fill = (int)((double)done * BAR_WIDTH / total);

		if (fill > BAR_WIDTH)
			fill = BAR_WIDTH;
		bar[0] = '[';
		memset(bar + 1, '#', (size_t)fill);
		memset(bar + 1 + fill, '.', (size_t)(BAR_WIDTH - fill));
		bar[BAR_WIDTH + 1] = ']';
		bar[BAR_WIDTH + 2] = ' ';
		bar[BAR_WIDTH + 3] = '\0';
		tot[0] = '/';
		amount(p, (double)total, tot + 1, sizeof(tot) - 1);
	}
	if (total > 0 && done < total && rate > 0) {
		long s = (long)((total - done) / rate + 0.5);

		snprintf(left, sizeof(left), ", %ld:%02ld left", s / 60,
		         s % 60);
	}
	amount(p, (double)done, d, sizeof(d));
	amount(p, rate, r, sizeof(r));
	fprintf(stderr, "\r%-8s %s%s%s  %s/s%s\033[K", p->label, bar, d, tot,
	        r, left);
	fflush(stderr);
	p->drawn = 1;
	p->last = t;
}

void
ts_progress_update(struct ts_progress *p, uint64_t done, uint64_t total)
{
	double t;

	if (p == NULL || !p->tty)
		return;
	t = now_s();
	if ((total > 0 && done >= total) || !p->drawn ||
	    (t - p->last) * 1000 >= REDRAW_MS)
		draw(p, done, total, t);
}

void
ts_progress_phase(struct ts_progress *p, const char *label)
{
	if (p == NULL)
		return;
	if (p->tty && p->drawn)
		fputc('\n', stderr);	/* the finished phase stays */
	p->label = label;
	p->start = now_s();
	p->drawn = 0;
}

void
ts_progress_free(struct ts_progress *p)
{
	if (p == NULL)
		return;
	if (p->tty && p->drawn)
		fputc('\n', stderr);
	free(p);
}
