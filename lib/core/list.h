/*
 * list.h -- intrusive circular doubly linked list (private to lib/core).
 */
#ifndef PSCOM_LIST_H_
#define PSCOM_LIST_H_

#include <stddef.h>

struct list_head {
    struct list_head *next;
    struct list_head *prev;
};

#define LIST_HEAD_INIT(name)                                                   \
    {                                                                          \
        &(name), &(name)                                                       \
    }

#define container_of(ptr, type, member)                                        \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define list_entry(ptr, type, member) container_of(ptr, type, member)

#define list_for_each(pos, head)                                               \
    for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/** Safe against removal of pos inside the loop body. */
#define list_for_each_safe(pos, n, head)                                       \
    for ((pos) = (head)->next, (n) = (pos)->next; (pos) != (head);             \
         (pos) = (n), (n) = (pos)->next)

/** Make head an empty list. */
static inline void list_init(struct list_head *head)
{
    head->next = head;
    head->prev = head;
}

/** 1 if head is empty. */
static inline int list_empty(const struct list_head *head)
{
    return head->next == head;
}

/** Append item at the tail of head. */
static inline void list_add_tail(struct list_head *item, struct list_head *head)
{
    item->prev = head->prev;
    item->next = head;
    head->prev->next = item;
    head->prev = item;
}

/** Remove item from its list and make it an empty list again, so that a
 * second list_del() is harmless. */
static inline void list_del(struct list_head *item)
{
    item->prev->next = item->next;
    item->next->prev = item->prev;
    list_init(item);
}

#endif /* PSCOM_LIST_H_ */
