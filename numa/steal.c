/* SPDX-License-Identifier: MIT */
/*
 * numa/steal.c - the flat, randomised steal order (see numa/steal.h).
 */
#include "numa/steal.h"

#include <errno.h>

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

int steal_order_init(struct steal_order *o, uint32_t count)
{
	uint32_t i;

	if (count == 0 || count > STEAL_MAX_COPRIMES)
		return -EINVAL;
	o->count = count;
	o->ncoprimes = 0;
	for (i = 1; i <= count; i++)
		if (gcd(i, count) == 1)
			o->coprimes[o->ncoprimes++] = i;
	return 0;
}
