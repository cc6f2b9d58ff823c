/*
 * test_store.c -- kernel/store.c on the host: paths, replacement while a
 * reader holds the old file, listing, CopyFile-style chunked writes, the
 * bound, and that every byte goes back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/store.h"
#include "tests/unit/harness.h"

static size_t live; /* bytes handed out by the allocator below */

static void *alloc(size_t n)
{
	live += n;
	return malloc(n);
}

static void release(void *p, size_t n)
{
	live -= n;
	free(p);
}

static void fresh(size_t limit)
{
	store_init(limit, alloc, release);
}

TEST(adds_gets_and_replaces_files)
{
	struct store_file *old, *f;

	fresh(1 << 20);
	CHECK_EQ(store_add("/bin/a", "one", 3, 0755, true), 0);
	old = store_get("/bin/a");
	CHECK(old && old->size == 3 && memcmp(old->data, "one", 3) == 0);
	CHECK_EQ(store_add("/bin/a", "second", 6, 0644, true), 0);
	f = store_get("/bin/a");
	CHECK(f && f != old && f->size == 6 && f->mode == 0644);
	CHECK(memcmp(old->data, "one", 3) == 0); /* the reader keeps its copy */
	store_put(old);
	CHECK_EQ(live, 6);
	store_put(f);
	f = store_get("/bin");
	CHECK(f && f->is_dir);
	store_put(f);
	CHECK(store_get("/bin/none") == NULL);
}

TEST(refuses_bad_paths)
{
	fresh(1 << 20);
	CHECK_EQ(store_add("relative", "x", 1, 0644, true), -EINVAL);
	CHECK_EQ(store_add("/a/../b", "x", 1, 0644, true), -EINVAL);
	CHECK_EQ(store_add("/a//b", "x", 1, 0644, true), -EINVAL);
	CHECK_EQ(store_add("/a/./b", "x", 1, 0644, true), -EINVAL);
	CHECK_EQ(store_add("/a/", "x", 1, 0644, true), -EINVAL);
	CHECK_EQ(store_add("/f", "x", 1, 0644, true), 0);
	CHECK_EQ(store_add("/f/g", "x", 1, 0644, true), -ENOTDIR);
}

TEST(lists_one_directory)
{
	char name[64];
	bool is_dir;
	unsigned n = 0;

	fresh(1 << 20);
	store_add("/d/x", "1", 1, 0644, true);
	store_add("/d/y", "2", 1, 0644, true);
	store_add("/d/sub/z", "3", 1, 0644, true);
	while (store_list("/d", n, name, sizeof(name), &is_dir)) {
		CHECK(strcmp(name, "x") == 0 || strcmp(name, "y") == 0 ||
		      (strcmp(name, "sub") == 0 && is_dir));
		n++;
	}
	CHECK_EQ(n, 3);
	CHECK(store_list("/", 0, name, sizeof(name), &is_dir) && is_dir);
}

TEST(chunked_writes_appear_with_their_last_byte)
{
	struct store_file *f;

	fresh(1 << 20);
	CHECK_EQ(store_write("/run/f", 10, 0755, 0, "01234", 5), 0);
	CHECK(store_get("/run/f") == NULL);                              /* not visible yet */
	CHECK_EQ(store_write("/run/f", 10, 0755, 7, "789", 3), -EINVAL); /* out of order */
	CHECK_EQ(store_write("/run/f", 10, 0755, 5, "56789", 5), 0);
	f = store_get("/run/f");
	CHECK(f && f->size == 10 && memcmp(f->data, "0123456789", 10) == 0);
	store_put(f);
	CHECK_EQ(store_write("/run/e", 0, 0644, 0, NULL, 0), 0); /* an empty file */
	f = store_get("/run/e");
	CHECK(f && f->size == 0);
	store_put(f);
	CHECK_EQ(store_write("/run/g", 4, 0644, 0, "123456", 6), -EINVAL); /* past its size */
}

/* Earlier tests' files stay in the (one, global) store: count from here. */
TEST(the_bound_is_kept_and_every_byte_comes_back)
{
	static char big[4096];
	size_t used0 = store_bytes_used(), live0 = live;

	fresh(used0 + 8192);
	CHECK_EQ(store_add("/a", big, 4096, 0644, true), 0);
	CHECK_EQ(store_write("/b", 8192, 0644, 0, big, 10), -ENOSPC);
	CHECK_EQ(store_add("/c", big, 4097, 0644, true), -ENOSPC);
	CHECK_EQ(store_bytes_used(), used0 + 4096);
	CHECK_EQ(store_write("/b", 4096, 0644, 0, big, 100), 0); /* claims its 4096 */
	CHECK_EQ(store_add("/c", big, 1, 0644, true), -ENOSPC);
	CHECK_EQ(store_write("/b", 4096, 0644, 0, big, 4096), 0); /* restarted, complete */
	CHECK_EQ(store_add("/a", "", 0, 0644, true), 0);          /* replaced: bytes back */
	CHECK_EQ(store_bytes_used(), used0 + 4096);
	CHECK_EQ(live, live0 + 4096);
	CHECK_EQ(store_mkdir("/m/n", 0700), 0);
	CHECK_EQ(store_add("/m", "x", 1, 0644, true), -EISDIR);
}
