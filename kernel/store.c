/*
 * store.c -- the in-memory file store (see include/store.h).  A list of
 * files and directories under one platform lock; small, since programs
 * and their data files are few.
 */
#include "include/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/platform.h"

static struct store_file *files; /* every listed entry */
static size_t used, limit;       /* bytes of file data held, and the most */
static void *(*store_alloc)(size_t);
static void (*store_release)(void *, size_t);

void store_init(size_t limit_bytes, void *(*alloc)(size_t), void (*release)(void *, size_t))
{
	limit = limit_bytes;
	store_alloc = alloc;
	store_release = release;
}

static bool path_ok(const char *path)
{
	size_t n = strlen(path);

	if (path[0] != '/' || n >= STORE_PATH_MAX || (n > 1 && path[n - 1] == '/'))
		return false;
	for (const char *p = path; *p; p++)
		if (p[0] == '/' &&
		    (p[1] == '/' || (p[1] == '.' && (p[2] == '/' || !p[2] ||
		                                     (p[2] == '.' && (p[3] == '/' || !p[3]))))))
			return false;
	return true;
}

static struct store_file *uploads; /* store_write's files still being written */

static struct store_file *find(const char *path)
{
	for (struct store_file *f = files; f; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

static struct store_file *find_upload(const char *path)
{
	for (struct store_file *f = uploads; f; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

static void release_file(struct store_file *f)
{
	if (!f->is_static && f->data) {
		store_release((void *)f->data, f->size);
		used -= f->size;
	}
	free(f);
}

/* Directories of `path` that are missing; lock held. */
static int add_parents(const char *path)
{
	char dir[STORE_PATH_MAX];

	for (const char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		struct store_file *d;

		memcpy(dir, path, (size_t)(p - path));
		dir[p - path] = '\0';
		if ((d = find(dir))) {
			if (!d->is_dir)
				return -ENOTDIR;
			continue;
		}
		if (!(d = calloc(1, sizeof(*d))))
			return -ENOMEM;
		strcpy(d->path, dir);
		d->is_dir = true;
		d->mode = 0755;
		d->refs = 1;
		d->next = files;
		files = d;
	}
	return 0;
}

int store_add(const char *path, const void *data, size_t size, uint32_t mode, bool copy)
{
	struct store_file *f, *old, **link;
	void *mem = NULL;
	int err;

	if (!path_ok(path))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (copy && size) {
		platform_lock();
		err = size > limit - used ? -ENOSPC : 0;
		if (!err)
			used += size; /* claimed before the copy */
		platform_unlock();
		if (err || !(mem = store_alloc(size))) {
			if (!err) {
				platform_lock();
				used -= size;
				platform_unlock();
			}
			free(f);
			return err ? err : -ENOMEM;
		}
		memcpy(mem, data, size);
	}
	strcpy(f->path, path);
	f->data = copy ? mem : data;
	f->size = size;
	f->mode = mode & 07777;
	f->is_static = !copy;
	f->refs = 1;
	platform_lock();
	err = add_parents(path);
	old = find(path);
	if (!err && old && old->is_dir)
		err = -EISDIR;
	if (err) {
		platform_unlock();
		if (mem) {
			store_release(mem, size);
			platform_lock();
			used -= size;
			platform_unlock();
		}
		free(f);
		return err;
	}
	for (link = &files; old && *link; link = &(*link)->next) {
		if (*link == old) {
			*link = old->next;
			break;
		}
	}
	f->next = files;
	files = f;
	if (old && --old->refs == 0)
		release_file(old);
	platform_unlock();
	return 0;
}

/* Make `f` (complete, lock held) the listed file of its path. */
static int publish(struct store_file *f)
{
	struct store_file *old, **link;
	int err = add_parents(f->path);

	old = find(f->path);
	if (!err && old && old->is_dir)
		err = -EISDIR;
	if (err)
		return err;
	for (link = &files; old && *link; link = &(*link)->next) {
		if (*link == old) {
			*link = old->next;
			break;
		}
	}
	f->pending = false;
	f->next = files;
	files = f;
	if (old && --old->refs == 0)
		release_file(old);
	return 0;
}

static void drop_upload(struct store_file *f)
{
	for (struct store_file **link = &uploads; *link; link = &(*link)->next) {
		if (*link == f) {
			*link = f->next;
			break;
		}
	}
	release_file(f);
}

int store_write(const char *path, uint64_t file_size, uint32_t mode, uint64_t offset,
                const void *data, size_t len)
{
	struct store_file *f;
	int err = 0;

	if (!path_ok(path) || offset > file_size || len > file_size - offset)
		return -EINVAL;
	platform_lock();
	f = find_upload(path);
	if (f && (offset == 0 || f->size != file_size)) { /* starting over */
		drop_upload(f);
		f = NULL;
	}
	if (!f) {
		if (offset != 0) {
			platform_unlock();
			return -EINVAL;
		}
		if (file_size > limit - used) {
			platform_unlock();
			return -ENOSPC;
		}
		used += file_size; /* claimed now: the copy may take many calls */
		platform_unlock();
		f = calloc(1, sizeof(*f));
		if (f && file_size && !(f->data = store_alloc(file_size))) {
			free(f);
			f = NULL;
		}
		platform_lock();
		if (!f) {
			used -= file_size;
			platform_unlock();
			return -ENOMEM;
		}
		strcpy(f->path, path);
		f->size = file_size;
		f->mode = mode & 07777;
		f->refs = 1;
		f->pending = true;
		f->next = uploads;
		uploads = f;
	}
	if (offset != f->received) {
		platform_unlock();
		return -EINVAL; /* chunks come in order */
	}
	platform_unlock();
	if (len) /* only the agent writes uploads */
		memcpy((uint8_t *)f->data + offset, data, len);
	platform_lock();
	f->received += len;
	if (f->received == f->size) {
		for (struct store_file **link = &uploads; *link; link = &(*link)->next) {
			if (*link == f) {
				*link = f->next;
				break;
			}
		}
		if ((err = publish(f)))
			release_file(f);
	}
	platform_unlock();
	return err;
}

int store_mkdir(const char *path, uint32_t mode)
{
	struct store_file *d;
	char child[STORE_PATH_MAX + 2];
	int err;

	if (!path_ok(path))
		return -EINVAL;
	if (strcmp(path, "/") == 0)
		return 0;
	/* the parents of "path/x" are path and its parents */
	snprintf(child, sizeof(child), "%s/x", path);
	platform_lock();
	err = add_parents(child);
	if (!err && (d = find(path)))
		d->mode = mode & 07777;
	platform_unlock();
	return err;
}

struct store_file *store_get(const char *path)
{
	struct store_file *f;

	platform_lock();
	if ((f = find(path)))
		f->refs++;
	platform_unlock();
	return f;
}

void store_put(struct store_file *f)
{
	if (!f)
		return;
	platform_lock();
	if (--f->refs == 0)
		release_file(f);
	platform_unlock();
}

bool store_list(const char *dir, unsigned index, char *name, size_t name_len, bool *is_dir)
{
	size_t dlen = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
	bool found = false;

	platform_lock();
	for (struct store_file *f = files; f && !found; f = f->next) {
		const char *rest = f->path + dlen;

		if (strncmp(f->path, dir, dlen) != 0 || rest[0] != '/' || !rest[1] ||
		    strchr(rest + 1, '/'))
			continue;
		if (index-- == 0) {
			strncpy(name, rest + 1, name_len - 1);
			name[name_len - 1] = '\0';
			*is_dir = f->is_dir;
			found = true;
		}
	}
	platform_unlock();
	return found;
}

size_t store_bytes_used(void)
{
	return used;
}

size_t store_limit(void)
{
	return limit;
}
