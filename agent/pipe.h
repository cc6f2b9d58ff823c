/*
 * pipe.h -- a bounded byte pipe between two tasks, one writer and one
 * reader, without a lock: each side advances only its own counter (bytes
 * ever written, bytes ever read), so the writer sees free room and the
 * reader sees data without waiting for the other.  Waking a side that
 * sleeps on an empty or full pipe is the user's business (program.h).
 *
 * The agent's pipes join a program to the agent task: stdin (the agent
 * writes, the program reads), stdout and stderr (the other way round).
 *
 * Typical usage:
 *	err = pipe_init(&pipe, 32 << 10);
 *	writer:	n = pipe_write(&pipe, buf, len);  // 0..len bytes; 0: full
 *		pipe_close_write(&pipe);          // reader: EOF once drained
 *	reader:	n = pipe_read(&pipe, buf, len);   // 0: empty (EOF if write-closed)
 *		pipe_close_read(&pipe);           // writer: nobody reads any more
 *	pipe_destroy(&pipe);                      // once both sides are done
 */
#ifndef AGENT_PIPE_H
#define AGENT_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pipe {
	uint8_t *buf;  /* cap bytes */
	size_t cap;    /* its size */
	uint64_t wpos; /* bytes ever written; only the writer stores it (atomic) */
	uint64_t rpos; /* bytes ever read; only the reader stores it (atomic) */
	bool wclosed;  /* the writer is done: EOF once drained (atomic) */
	bool rclosed;  /* the reader is gone: writes are refused (atomic) */
};

int pipe_init(struct pipe *pipe, size_t cap);
void pipe_destroy(struct pipe *pipe);

/* Writer side. */
size_t pipe_write(struct pipe *pipe, const void *buf, size_t len);
size_t pipe_room(const struct pipe *pipe);
void pipe_close_write(struct pipe *pipe);
bool pipe_read_closed(const struct pipe *pipe);

/* Reader side. */
size_t pipe_read(struct pipe *pipe, void *buf, size_t len);
/* Copy up to len bytes starting `skip` bytes after the oldest; no consume. */
size_t pipe_peek(const struct pipe *pipe, size_t skip, void *buf, size_t len);
size_t pipe_readable(const struct pipe *pipe);
void pipe_close_read(struct pipe *pipe);
bool pipe_write_closed(const struct pipe *pipe);

#endif
