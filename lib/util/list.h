/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one intrusive doubly linked list and container_of of the project.
 *
 * A struct sb_list is either a list head or an item embedded in an object;
 * an item that is on no list points to itself (sb_list_init, sb_list_del),
 * so sb_list_linked() tells whether it is queued. Nothing here allocates
 * or locks: the owner of the head guards the list.
 */
#ifndef SPANBLK_LIB_UTIL_LIST_H
#define SPANBLK_LIB_UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

#ifndef container_of
/* The object of type @type whose member @member is at @ptr. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#endif

struct sb_list {
	struct sb_list *prev;
	struct sb_list *next;
};

#define sb_list_entry(ptr, type, member) container_of(ptr, type, member)

/* Iterate over the items of @head; @pos must not be removed meanwhile. */
#define sb_list_for_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Iterate over @head; @pos may be removed, @tmp holds the next item. */
#define sb_list_for_each_safe(pos, tmp, head)                            \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

static inline void sb_list_init(struct sb_list *l)
{
	l->prev = l;
	l->next = l;
}

static inline bool sb_list_empty(const struct sb_list *l)
{
	return l->next == l;
}

/* An item is on some list (after sb_list_init or sb_list_del: false). */
static inline bool sb_list_linked(const struct sb_list *item)
{
	return item->next != item;
}

static inline void sb_list_add_tail(struct sb_list *l, struct sb_list *item)
{
	item->prev = l->prev;
	item->next = l;
	l->prev->next = item;
	l->prev = item;
}

static inline void sb_list_add_head(struct sb_list *l, struct sb_list *item)
{
	item->prev = l;
	item->next = l->next;
	l->next->prev = item;
	l->next = item;
}

/* Take @item off its list; it then points to itself. */
static inline void sb_list_del(struct sb_list *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	item->prev = item;
	item->next = item;
}

/* Move every item of @from to the front of @to, in order; @from empties. */
static inline void sb_list_splice_front(struct sb_list *from,
					struct sb_list *to)
{
	if (sb_list_empty(from))
		return;
	from->prev->next = to->next;
	to->next->prev = from->prev;
	to->next = from->next;
	from->next->prev = to;
	sb_list_init(from);
}

/* Move every item of @from to the end of @to; @from empties. */
static inline void sb_list_splice_tail(struct sb_list *from, struct sb_list *to)
{
	if (sb_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	sb_list_init(from);
}

#endif
