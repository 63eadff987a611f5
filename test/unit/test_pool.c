// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/pool.c: the client address allocator. */

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/pool.h"

#include "check_run.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct pool *new_pool(uint32_t addr, uint8_t len)
{
	struct cidr4 c = { .addr = addr, .len = len };
	struct pool *p = pool_new(c);

	ck_assert_ptr_nonnull(p);
	return p;
}

START_TEST(test_slash28_exhaust)
{
	const uint32_t net = IP4(100, 64, 0, 16);
	struct pool *p = new_pool(net, 28);
	bool seen[16] = { false };
	uint32_t a;
	int i;

	ck_assert_uint_eq(pool_size(p), 13);
	ck_assert_uint_eq(pool_gateway_address(p), net + 1);
	ck_assert_uint_eq(pool_in_use(p), 0);
	for (i = 0; i < 13; i++) {
		ck_assert_int_eq(pool_alloc(p, &a), 0);
		ck_assert_uint_eq(a & 0xFFFFFFF0u, net);
		/* never the network, the gateway or the broadcast address */
		ck_assert_uint_ne(a, net);
		ck_assert_uint_ne(a, net + 1);
		ck_assert_uint_ne(a, net + 15);
		ck_assert_msg(!seen[a - net], "address handed out twice: .%u", a - net);
		seen[a - net] = true;
		ck_assert_uint_eq(pool_in_use(p), (uint32_t)i + 1);
	}
	a = 0xdeadbeef;
	ck_assert_int_eq(pool_alloc(p, &a), -ENOSPC);
	ck_assert_int_eq(pool_alloc(p, &a), -ENOSPC);
	ck_assert_uint_eq(pool_in_use(p), 13);

	/* release one, get exactly that one back */
	ck_assert_int_eq(pool_release(p, net + 7), 0);
	ck_assert_uint_eq(pool_in_use(p), 12);
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, net + 7);
	ck_assert_int_eq(pool_alloc(p, &a), -ENOSPC);
	pool_free(p);
}
END_TEST

START_TEST(test_release_errors)
{
	const uint32_t net = IP4(198, 18, 4, 0);
	struct pool *p = new_pool(net, 24);
	uint32_t a, b;

	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_int_eq(pool_alloc(p, &b), 0);
	ck_assert_int_eq(pool_release(p, a), 0);
	ck_assert_int_eq(pool_release(p, a), -EINVAL);      /* double free */
	ck_assert_int_eq(pool_release(p, net + 200), -EINVAL); /* never allocated */
	ck_assert_int_eq(pool_release(p, net), -EINVAL);    /* network */
	ck_assert_int_eq(pool_release(p, net + 1), -EINVAL); /* gateway */
	ck_assert_int_eq(pool_release(p, net + 255), -EINVAL); /* broadcast */
	ck_assert_int_eq(pool_release(p, IP4(198, 18, 5, 2)), -EINVAL); /* outside */
	ck_assert_int_eq(pool_release(p, IP4(203, 0, 113, 2)), -EINVAL);
	ck_assert_uint_eq(pool_in_use(p), 1);
	ck_assert_int_eq(pool_release(p, b), 0);
	ck_assert_uint_eq(pool_in_use(p), 0);
	ck_assert_int_eq(pool_release(p, b), -EINVAL);
	pool_free(p);
}
END_TEST

START_TEST(test_reuse_late)
{
	const uint32_t net = IP4(198, 51, 100, 0);
	struct pool *p = new_pool(net, 28);
	uint32_t a, first[4];
	int i;

	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pool_alloc(p, &first[i]), 0);
	/* Free in a scrambled order: they must come back in exactly that order, and only after every
	 * never-used address. */
	ck_assert_int_eq(pool_release(p, first[2]), 0);
	ck_assert_int_eq(pool_release(p, first[0]), 0);
	ck_assert_int_eq(pool_release(p, first[3]), 0);
	for (i = 4; i < 13; i++) {
		ck_assert_int_eq(pool_alloc(p, &a), 0);
		ck_assert_msg(a != first[0] && a != first[2] && a != first[3], "freed address reused early");
	}
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, first[2]);
	/* A release now goes behind the two still waiting. */
	ck_assert_int_eq(pool_release(p, first[1]), 0);
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, first[0]);
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, first[3]);
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, first[1]);
	ck_assert_int_eq(pool_alloc(p, &a), -ENOSPC);
	pool_free(p);
}
END_TEST

START_TEST(test_slash16_churn)
{
	const uint32_t net = IP4(100, 64, 0, 0);
	struct pool *p = new_pool(net, 16);
	uint32_t *held, nheld = 0, a, i;
	uint8_t *mine;
	unsigned seed = 12345;

	ck_assert_uint_eq(pool_size(p), 65536 - 3);
	held = calloc(65536, sizeof(*held));
	mine = calloc(65536, 1);
	ck_assert_ptr_nonnull(held);
	ck_assert_ptr_nonnull(mine);
	/* 10,000 random allocate/free steps, checked against our own record of what is out. */
	for (i = 0; i < 10000; i++) {
		seed = seed * 1103515245u + 12345u;
		if (nheld == 0 || (seed >> 16) % 3 != 0) {
			ck_assert_int_eq(pool_alloc(p, &a), 0);
			ck_assert_int_ge(pool_index(p, a), 2);
			ck_assert_int_le(pool_index(p, a), 65534);
			ck_assert_msg(!mine[a - net], "address %u allocated twice", a - net);
			mine[a - net] = 1;
			held[nheld++] = a;
		} else {
			uint32_t k = (seed >> 8) % nheld;

			a = held[k];
			held[k] = held[--nheld];
			ck_assert_int_eq(pool_release(p, a), 0);
			ck_assert_int_eq(pool_release(p, a), -EINVAL);
			mine[a - net] = 0;
		}
		ck_assert_uint_eq(pool_in_use(p), nheld);
	}
	while (nheld)
		ck_assert_int_eq(pool_release(p, held[--nheld]), 0);
	ck_assert_uint_eq(pool_in_use(p), 0);
	/* Everything can still be handed out exactly once. */
	memset(mine, 0, 65536);
	for (i = 0; i < pool_size(p); i++) {
		ck_assert_int_eq(pool_alloc(p, &a), 0);
		ck_assert(!mine[a - net]);
		mine[a - net] = 1;
	}
	ck_assert_int_eq(pool_alloc(p, &a), -ENOSPC);
	free(held);
	free(mine);
	pool_free(p);
}
END_TEST

START_TEST(test_index)
{
	const uint32_t net = IP4(198, 18, 0, 0);
	struct pool *p = new_pool(net, 20);

	ck_assert_int_eq(pool_index(p, net), 0);
	ck_assert_int_eq(pool_index(p, net + 1), 1);
	ck_assert_int_eq(pool_index(p, IP4(198, 18, 15, 255)), 4095);
	ck_assert_int_eq(pool_index(p, IP4(198, 18, 16, 0)), -1);
	ck_assert_int_eq(pool_index(p, IP4(198, 17, 255, 255)), -1);
	ck_assert_int_eq(pool_index(p, IP4(192, 0, 2, 1)), -1);
	pool_free(p);
}
END_TEST

START_TEST(test_new_limits)
{
	struct cidr4 c = { .addr = IP4(198, 18, 0, 0), .len = 31 };
	struct pool *p;
	uint32_t a;

	errno = 0;
	ck_assert_ptr_null(pool_new(c));
	ck_assert_int_eq(errno, EINVAL);
	c.len = 32;
	ck_assert_ptr_null(pool_new(c));
	c.len = 7;
	ck_assert_ptr_null(pool_new(c));

	/* /30: exactly one client address */
	c.addr = IP4(192, 0, 2, 4);
	c.len = 30;
	p = pool_new(c);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(pool_size(p), 1);
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, IP4(192, 0, 2, 6));
	ck_assert_int_eq(pool_alloc(p, &a), -ENOSPC);
	pool_free(p);

	/* A big pool (/8 is the limit; a /10 is the largest our test ranges allow) costs nothing up front. */
	c.addr = IP4(100, 64, 0, 0);
	c.len = 10;
	p = pool_new(c);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(pool_size(p), (1u << 22) - 3);
	ck_assert_int_eq(pool_alloc(p, &a), 0);
	ck_assert_uint_eq(a, IP4(100, 64, 0, 2));
	ck_assert_int_eq(pool_release(p, a), 0);
	pool_free(p);
	pool_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_slash28_exhaust);
	tcase_add_test(tc, test_release_errors);
	tcase_add_test(tc, test_reuse_late);
	tcase_add_test(tc, test_slash16_churn);
	tcase_add_test(tc, test_index);
	tcase_add_test(tc, test_new_limits);
	suite_add_tcase(s, tc);
	return check_run(s);
}
