/*
 * util: small helpers shared by store/, fs/ and tools/: little-endian
 * integers, RFC 3339 times, and the rules for ticket and item names.
 */
#ifndef TS_UTIL_H
#define TS_UTIL_H

#include <stddef.h>
#include <stdint.h>

static inline void
ts_le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
ts_le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
ts_le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t
ts_le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
ts_le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
ts_le64_get(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Milliseconds since the epoch, wall clock. */
int64_t ts_now_ms(void);

/* Formats ms as "2026-11-25T08:18:45Z" (seconds precision) into buf[32]. */
void ts_time_format(int64_t ms, char buf[32]);
/* Formats ms as "2026-11-25T08:18:45.123Z" into buf[32]. */
void ts_time_format_ms(int64_t ms, char buf[32]);
/*
 * Parses an RFC 3339 date-time ("2026-12-01T00:00:00Z",
 * "2026-12-01T08:00:00.5+08:00") into ms since the epoch.  -EINVAL if it
 * is not one.
 */
int ts_time_parse(const char *s, int64_t *ms);

/*
 * Writes "line N: " and the formatted reason into err; returns -EINVAL.
 * For the parsers of config files.
 */
int ts_line_error(char *err, size_t errlen, unsigned line, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Longest ticket id, authorization or message name, without the NUL. */
#define TS_NAME_MAX 64

/* 1 if s is a valid ticket id: 1..TS_NAME_MAX of [A-Za-z0-9-]. */
int ts_id_valid(const char *s);
/*
 * 1 if s is a valid message or authorization name: 1..TS_NAME_MAX bytes
 * of [A-Za-z0-9._-], not starting with '.'.
 */
int ts_name_valid(const char *s);

/*
 * Makes a new id that sorts by creation time: "20261125-081845-123456-3fa2"
 * (UTC date, time, microseconds, 16 random bits) into buf[TS_NAME_MAX+1].
 * Successive calls in one process return strictly increasing ids.
 */
void ts_id_new(char buf[TS_NAME_MAX + 1]);

#endif
