/*
 * list.h -- a minimal intrusive doubly-linked list (the Linux list_head idea)
 * used for the daemon's connection and VM lists.
 *
 * Typical usage:
 *	struct list_node head; list_init(&head);
 *	list_add_tail(&head, &item->node);
 *	list_for_each_safe(pos, tmp, &head) { ... list_del(pos); }
 */
#ifndef HOST_VHOST_LIST_H
#define HOST_VHOST_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
	struct list_node *prev; /* previous node (head when first) */
	struct list_node *next; /* next node (head when last) */
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

static inline void list_init(struct list_node *n)
{
	n->prev = n->next = n;
}

static inline bool list_empty(const struct list_node *head)
{
	return head->next == head;
}

/* True when n is on some list (nodes are re-initialised on removal). */
static inline bool list_linked(const struct list_node *n)
{
	return n->next != n;
}

static inline void list_add_tail(struct list_node *head, struct list_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_del(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

#endif
