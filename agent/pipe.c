/*
 * pipe.c -- the single-writer, single-reader byte pipe (see pipe.h).
 *
 * wpos and rpos only grow (64 bits never wrap in practice); the bytes
 * held are wpos - rpos and live at buf[pos % cap].  The writer copies
 * data in and only then publishes the new wpos; the reader copies data
 * out and only then publishes the new rpos, so neither ever sees bytes
 * the other is still moving.  Sequentially consistent atomics keep the
 * order between a pipe change and the flag its user then checks (the
 * agent's wake-up protocol, process.c).
 */
#include "agent/pipe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOAD(p)     __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

int pipe_init(struct pipe *pipe, size_t cap)
{
	memset(pipe, 0, sizeof(*pipe));
	pipe->buf = malloc(cap);
	pipe->cap = cap;
	return pipe->buf ? 0 : -ENOMEM;
}

void pipe_destroy(struct pipe *pipe)
{
	free(pipe->buf);
	pipe->buf = NULL;
}

size_t pipe_room(const struct pipe *pipe)
{
	return pipe->cap - (size_t)(LOAD(&pipe->wpos) - LOAD(&pipe->rpos));
}

size_t pipe_readable(const struct pipe *pipe)
{
	return (size_t)(LOAD(&pipe->wpos) - LOAD(&pipe->rpos));
}

size_t pipe_write(struct pipe *pipe, const void *buf, size_t len)
{
	uint64_t wpos = LOAD(&pipe->wpos);
	size_t room = pipe_room(pipe), done = 0;
	const uint8_t *in = buf;

	if (len > room)
		len = room;
	while (done < len) {
		size_t at = (size_t)((wpos + done) % pipe->cap);
		size_t n = pipe->cap - at;

		if (n > len - done)
			n = len - done;
		memcpy(pipe->buf + at, in + done, n);
		done += n;
	}
	STORE(&pipe->wpos, wpos + done);
	return done;
}

size_t pipe_peek(const struct pipe *pipe, size_t skip, void *buf, size_t len)
{
	uint64_t rpos = LOAD(&pipe->rpos);
	size_t held = (size_t)(LOAD(&pipe->wpos) - rpos), done = 0;
	uint8_t *out = buf;

	if (skip >= held)
		return 0;
	if (len > held - skip)
		len = held - skip;
	while (done < len) {
		size_t at = (size_t)((rpos + skip + done) % pipe->cap);
		size_t n = pipe->cap - at;

		if (n > len - done)
			n = len - done;
		memcpy(out + done, pipe->buf + at, n);
		done += n;
	}
	return done;
}

size_t pipe_read(struct pipe *pipe, void *buf, size_t len)
{
	size_t n = pipe_peek(pipe, 0, buf, len);

	STORE(&pipe->rpos, LOAD(&pipe->rpos) + n);
	return n;
}

void pipe_close_write(struct pipe *pipe)
{
	STORE(&pipe->wclosed, true);
}

void pipe_close_read(struct pipe *pipe)
{
	STORE(&pipe->rclosed, true);
}

bool pipe_write_closed(const struct pipe *pipe)
{
	return LOAD(&pipe->wclosed);
}

bool pipe_read_closed(const struct pipe *pipe)
{
	return LOAD(&pipe->rclosed);
}
