/*
 * intake_json: a fast parser for the JSON a ticket is submitted as
 * (objects, arrays and strings), so that a 30 KB description costs a
 * scan instead of jansson's per-character lexer (~8 ns a byte here).
 *
 * It is a fast path, never a second judge: it accepts only what
 * json_loadb(json, len, JSON_REJECT_DUPLICATES) accepts, builds the same
 * values (jansson's own, through its allocator, so intake.c's wiping
 * free applies), and gives up (NULL) on everything else: a number, true,
 * false or null, a \u escape, a byte jansson refuses (a control
 * character, invalid UTF-8), a duplicate key, a syntax error, deep
 * nesting.  The caller then parses with jansson, whose answer (a value,
 * or the error text and its line and column) is the one that counts.
 */
#ifndef TS_INTAKE_JSON_H
#define TS_INTAKE_JSON_H

#include <stddef.h>

#include <jansson.h>

/* The object json (len bytes, whitespace around it allowed) holds, or
 * NULL: not an object, or not one this fast path takes (above). */
json_t *ts_intake_json_fast(const char *json, size_t len);

#endif
