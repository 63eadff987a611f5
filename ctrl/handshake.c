// SPDX-License-Identifier: GPL-2.0-or-later
/* The handshake thread pool (handshake.h). A step is one wolfSSL_accept call of a millisecond or so, so a
 * mutex and a condition variable per step cost nothing that matters; the data path never comes here. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "cvpn/handshake.h"
#include "cvpn/tls.h"

#define HS_MAX_THREADS 16

struct hs_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hs_job *todo, *todo_tail;      /* under mu */
	struct hs_job *done, *done_tail;      /* under mu */
	bool stop;                            /* under mu */
	int efd;
	unsigned n;
	pthread_t threads[HS_MAX_THREADS];
	struct thread_arg {
		struct hs_pool *p;
		unsigned index;
		_Atomic uint64_t steps;
	} args[HS_MAX_THREADS];
};

static void push(struct hs_job **head, struct hs_job **tail, struct hs_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *run(void *arg)
{
	struct thread_arg *a = arg;
	struct hs_pool *p = a->p;
	uint64_t one = 1;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct hs_job *j;

		while (!p->stop && !p->todo)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		j = p->todo;
		p->todo = j->next;
		if (!p->todo)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);

		j->result = tls_conn_handshake(j->tls);
		j->thread = a->index;
		atomic_fetch_add_explicit(&a->steps, 1, memory_order_relaxed);

		pthread_mutex_lock(&p->mu);
		push(&p->done, &p->done_tail, j);
		if (write(p->efd, &one, sizeof(one)) < 0) {
			/* the count is already non-zero: the control thread will look */
		}
	}
	pthread_mutex_unlock(&p->mu);
#ifdef FP_ECC
	/* wolfSSL's fixed-point ECC cache is thread-local and nothing frees it when a thread ends */
	wc_ecc_fp_free();
#endif
	return NULL;
}

struct hs_pool *hs_pool_new(unsigned threads)
{
	struct hs_pool *p;

	if (threads == 0 || threads > HS_MAX_THREADS || !(p = calloc(1, sizeof(*p))))
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		hs_pool_free(p);
		return NULL;
	}
	for (unsigned i = 0; i < threads; i++) {
		p->args[i].p = p;
		p->args[i].index = i;
		if (pthread_create(&p->threads[i], NULL, run, &p->args[i]) != 0) {
			hs_pool_free(p);
			return NULL;
		}
		p->n++;
	}
	return p;
}

static void free_list(struct hs_job *j)
{
	while (j) {
		struct hs_job *next = j->next;

		tls_conn_free(j->tls);
		free(j);
		j = next;
	}
}

void hs_pool_free(struct hs_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	free_list(p->todo);
	free_list(p->done);
	if (p->efd >= 0)
		close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

unsigned hs_pool_threads(const struct hs_pool *p)
{
	return p->n;
}

void hs_pool_submit(struct hs_pool *p, struct hs_job *job)
{
	job->orphan = false;
	pthread_mutex_lock(&p->mu);
	push(&p->todo, &p->todo_tail, job);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

bool hs_pool_cancel(struct hs_pool *p, struct hs_job *job)
{
	struct hs_job **pp, *prev = NULL;
	bool found = false;

	pthread_mutex_lock(&p->mu);
	for (pp = &p->todo; *pp; prev = *pp, pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			if (p->todo_tail == job)
				p->todo_tail = prev;
			job->next = NULL;
			found = true;
			break;
		}
	pthread_mutex_unlock(&p->mu);
	return found;
}

int hs_pool_fd(const struct hs_pool *p)
{
	return p->efd;
}

struct hs_job *hs_pool_take_done(struct hs_pool *p)
{
	struct hs_job *list;
	uint64_t count;

	if (read(p->efd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing signalled since the last take; the list may still hold some */
	}
	pthread_mutex_lock(&p->mu);
	list = p->done;
	p->done = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	return list;
}

uint64_t hs_pool_steps(const struct hs_pool *p, unsigned thread)
{
	struct hs_pool *m = (struct hs_pool *)p; /* atomic loads take a non-const pointer */

	return thread < p->n ? atomic_load_explicit(&m->args[thread].steps, memory_order_relaxed) : 0;
}
