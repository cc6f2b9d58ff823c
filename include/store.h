/*
 * store.h -- the in-memory file store programs come from (DESIGN §9):
 * files shipped on the ESP under \bin\ (added at boot as /bin/NAME) and
 * files written with Kata's CopyFile.  Bounded in bytes; a file is
 * immutable once added (adding the same path again replaces it; readers
 * holding the old one keep it until they let go).
 *
 * Portable (include/ + kernel/store.c): the agent writes through it, the
 * kernel's system calls read through it.  Every call takes the platform
 * lock itself.
 *
 * Typical usage:
 *	store_init(limit_bytes, alloc, release);
 *	store_add("/bin/hello", data, len, 0755, false);   // takes a copy
 *	struct store_file *f = store_get("/bin/hello");    // a reference
 *	...f->data, f->size...
 *	store_put(f);
 */
#ifndef INCLUDE_STORE_H
#define INCLUDE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_PATH_MAX 256

struct store_file {
	char path[STORE_PATH_MAX]; /* absolute, normalised: "/bin/hello" */
	const uint8_t *data;       /* contents */
	size_t size;               /* bytes */
	uint32_t mode;             /* permission bits (0755) */
	bool is_dir;               /* a directory (no data) */
	bool is_static;            /* data not owned by the store (ESP files) */
	bool pending;              /* being written (store_write): not visible yet */
	uint64_t received;         /* pending: bytes written so far, in order */
	char sha256[65];           /* hex digest, "" until a user computes it (immutable data) */
	unsigned refs;             /* store_get references + 1 while listed */
	struct store_file *next;   /* listed files */
};

/* `alloc`/`release` provide file memory (the image: whole pages). */
void store_init(size_t limit_bytes, void *(*alloc)(size_t bytes),
                void (*release)(void *ptr, size_t bytes));
/* Add (or replace) a file; its parent directories appear.  copy: take a
 * copy of data (else the store refers to it for good).  0, -ENOSPC when
 * over the limit, -ENOMEM, -EINVAL for a bad path. */
int store_add(const char *path, const void *data, size_t size, uint32_t mode, bool copy);
/*
 * Kata's CopyFile, one chunk at a time: the file (file_size bytes, mode)
 * fills in order (offset == bytes so far) and appears, replacing any
 * file of that path, with its last byte; a chunk at offset 0 starts it
 * over.  0, -ENOSPC (over the bound), -EINVAL (bad path, out-of-order or
 * oversized chunk), -ENOMEM, -EISDIR.
 */
int store_write(const char *path, uint64_t file_size, uint32_t mode, uint64_t offset,
                const void *data, size_t len);
/* A directory (and its parents); 0 or -errno as store_add. */
int store_mkdir(const char *path, uint32_t mode);
/* A referenced file or directory, or NULL. */
struct store_file *store_get(const char *path);
void store_put(struct store_file *file);
/* The index-th entry directly inside directory `dir`: its name into
 * `name`, is_dir into *is_dir; false past the last. */
bool store_list(const char *dir, unsigned index, char *name, size_t name_len, bool *is_dir);
size_t store_bytes_used(void);
size_t store_limit(void);

#endif
