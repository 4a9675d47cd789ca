/*
 * merkle.c - the RFC 6962 Merkle tree of the audit log: leaf and node
 * hashing, prefix roots, inclusion and consistency proofs (RFC 6962
 * section 2.1), and their verification against untrusted input.
 *
 * The tree keeps every perfect aligned subtree hash (level k holds the
 * hashes of leaves [i*2^k, (i+1)*2^k)), so the hash of any range that the
 * RFC's recursion asks for is found or built in O(log n) steps.
 */
#include "audit/audit.h"

#include <string.h>

void aud_hash_leaf(const void *data, size_t n, uint8_t out[AUD_HASH_LEN])
{
	struct sha256 h;
	uint8_t z = 0;

	sha256_begin(&h);
	sha256_add(&h, &z, 1);
	sha256_add(&h, data, n);
	sha256_end(&h, out);
}

void aud_hash_children(const uint8_t l[AUD_HASH_LEN], const uint8_t r[AUD_HASH_LEN],
		       uint8_t out[AUD_HASH_LEN])
{
	uint8_t buf[1 + 2 * AUD_HASH_LEN];

	buf[0] = 1;
	memcpy(buf + 1, l, AUD_HASH_LEN);
	memcpy(buf + 1 + AUD_HASH_LEN, r, AUD_HASH_LEN);
	sha256(buf, sizeof buf, out);
}

void aud_tree_init(struct aud_tree *t)
{
	for (int k = 0; k < 64; k++)
		vec_init(&t->levels[k], AUD_HASH_LEN);
	t->size = 0;
}

void aud_tree_release(struct aud_tree *t)
{
	if (!t)
		return;
	for (int k = 0; k < 64; k++)
		vec_release(&t->levels[k]);
	t->size = 0;
}

status_t aud_tree_append(struct aud_tree *t, const uint8_t leaf_hash[AUD_HASH_LEN])
{
	uint8_t h[AUD_HASH_LEN];
	int top = __builtin_ctzll(t->size + 1), k;
	status_t st;

	/* Reserve first so that a failed allocation leaves the tree as it was:
	 * the new leaf completes subtrees on levels 1..top. */
	for (k = 0; k <= top && k < 64; k++)
		if ((st = vec_reserve(&t->levels[k], t->levels[k].len + 1)) != ST_OK)
			return st;
	vec_push(&t->levels[0], leaf_hash);
	memcpy(h, leaf_hash, AUD_HASH_LEN);
	for (k = 0; k < top && k < 63; k++) {
		const uint8_t *l = vec_at(&t->levels[k], t->levels[k].len - 2);

		aud_hash_children(l, h, h);
		vec_push(&t->levels[k + 1], h);
	}
	t->size++;
	return ST_OK;
}

const uint8_t *aud_tree_leaf(const struct aud_tree *t, uint64_t i)
{
	if (i >= t->size)
		return NULL;
	return vec_at(&t->levels[0], (size_t)i);
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[lo:hi]) for 0 <= lo < hi <= size. */
static void range_hash(const struct aud_tree *t, uint64_t lo, uint64_t hi,
		       uint8_t out[AUD_HASH_LEN])
{
	uint64_t n = hi - lo, k;
	uint8_t l[AUD_HASH_LEN], r[AUD_HASH_LEN];

	if ((n & (n - 1)) == 0) {
		int lvl = __builtin_ctzll(n);

		if ((lo & (n - 1)) == 0) {
			memcpy(out, vec_at(&t->levels[lvl], (size_t)(lo >> lvl)), AUD_HASH_LEN);
			return;
		}
	}
	k = split_point(n);
	range_hash(t, lo, lo + k, l);
	range_hash(t, lo + k, hi, r);
	aud_hash_children(l, r, out);
}

status_t aud_tree_root(const struct aud_tree *t, uint64_t n, uint8_t out[AUD_HASH_LEN])
{
	if (n > t->size)
		return ST_INVAL;
	if (n == 0) {
		sha256("", 0, out);
		return ST_OK;
	}
	range_hash(t, 0, n, out);
	return ST_OK;
}

/* PATH(m, D[lo:hi]) of RFC 6962 2.1.1, appended to proof. */
static void path(const struct aud_tree *t, uint64_t m, uint64_t lo, uint64_t hi,
		 uint8_t proof[][AUD_HASH_LEN], size_t *n)
{
	uint64_t k;

	if (hi - lo <= 1)
		return;
	k = split_point(hi - lo);
	if (m < k) {
		path(t, m, lo, lo + k, proof, n);
		range_hash(t, lo + k, hi, proof[(*n)++]);
	} else {
		path(t, m - k, lo + k, hi, proof, n);
		range_hash(t, lo, lo + k, proof[(*n)++]);
	}
}

status_t aud_tree_inclusion(const struct aud_tree *t, uint64_t index, uint64_t size,
			    uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e)
{
	if (size > t->size)
		return err_set(e, ST_INVAL, "tree size %llu beyond the log's %llu records",
			       (unsigned long long)size, (unsigned long long)t->size);
	if (index >= size)
		return err_set(e, ST_INVAL, "leaf %llu not in a tree of %llu records",
			       (unsigned long long)index, (unsigned long long)size);
	*n_out = 0;
	path(t, index, 0, size, proof, n_out);
	return ST_OK;
}

/* SUBPROOF(m, D[lo:hi], b) of RFC 6962 2.1.2. */
static void subproof(const struct aud_tree *t, uint64_t m, uint64_t lo, uint64_t hi, int b,
		     uint8_t proof[][AUD_HASH_LEN], size_t *n)
{
	uint64_t k, len = hi - lo;

	if (m == len) {
		if (!b)
			range_hash(t, lo, hi, proof[(*n)++]);
		return;
	}
	k = split_point(len);
	if (m <= k) {
		subproof(t, m, lo, lo + k, b, proof, n);
		range_hash(t, lo + k, hi, proof[(*n)++]);
	} else {
		subproof(t, m - k, lo + k, hi, 0, proof, n);
		range_hash(t, lo, lo + k, proof[(*n)++]);
	}
}

status_t aud_tree_consistency(const struct aud_tree *t, uint64_t size1, uint64_t size2,
			      uint8_t proof[][AUD_HASH_LEN], size_t *n_out, struct err *e)
{
	if (size2 > t->size)
		return err_set(e, ST_INVAL, "tree size %llu beyond the log's %llu records",
			       (unsigned long long)size2, (unsigned long long)t->size);
	if (size1 > size2)
		return err_set(e, ST_INVAL, "old size %llu is larger than new size %llu",
			       (unsigned long long)size1, (unsigned long long)size2);
	*n_out = 0;
	if (size1 == 0 || size1 == size2)
		return ST_OK;
	subproof(t, size1, 0, size2, 1, proof, n_out);
	return ST_OK;
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */
/* ------------------------------------------------------------------ */

static int bit_len(uint64_t x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

static int pop_count(uint64_t x)
{
	return __builtin_popcountll(x);
}

/*
 * Splits the inclusion proof of index in a tree of size into the part
 * below the point where the paths to index and size - 1 diverge (inner)
 * and the part along the right border (border).
 */
static void decomp(uint64_t index, uint64_t size, int *inner, int *border)
{
	*inner = bit_len(index ^ (size - 1));
	*border = pop_count(index >> *inner);
}

static status_t check_hashes(const uint8_t *const *proof, const size_t *lens, size_t n,
			     struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (lens[i] != AUD_HASH_LEN)
			return err_set(e, ST_VERIFY, "proof hash %zu has %zu bytes, want %d", i,
				       lens[i], AUD_HASH_LEN);
	return ST_OK;
}

status_t aud_verify_inclusion(uint64_t index, uint64_t size, const uint8_t *leaf_hash,
			      size_t leaf_len, const uint8_t *const *proof,
			      const size_t *proof_lens, size_t n_proof, const uint8_t *root,
			      size_t root_len, struct err *e)
{
	uint8_t h[AUD_HASH_LEN];
	int inner, border;
	status_t st;

	if (index >= size)
		return err_set(e, ST_VERIFY, "leaf index %llu is not below tree size %llu",
			       (unsigned long long)index, (unsigned long long)size);
	if (leaf_len != AUD_HASH_LEN)
		return err_set(e, ST_VERIFY, "leaf hash has %zu bytes, want %d", leaf_len,
			       AUD_HASH_LEN);
	if (root_len != AUD_HASH_LEN)
		return err_set(e, ST_VERIFY, "root hash has %zu bytes, want %d", root_len,
			       AUD_HASH_LEN);
	if ((st = check_hashes(proof, proof_lens, n_proof, e)) != ST_OK)
		return st;
	decomp(index, size, &inner, &border);
	if (n_proof != (size_t)(inner + border))
		return err_set(e, ST_VERIFY, "proof has %zu hashes, want %d", n_proof,
			       inner + border);
	memcpy(h, leaf_hash, AUD_HASH_LEN);
	for (int i = 0; i < inner; i++) {
		if ((index >> i) & 1)
			aud_hash_children(proof[i], h, h);
		else
			aud_hash_children(h, proof[i], h);
	}
	for (int i = inner; i < inner + border; i++)
		aud_hash_children(proof[i], h, h);
	if (memcmp(h, root, AUD_HASH_LEN) != 0)
		return err_set(e, ST_VERIFY, "inclusion proof does not lead to the root");
	return ST_OK;
}

status_t aud_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *const *proof,
				const size_t *proof_lens, size_t n_proof, const uint8_t *root1,
				size_t root1_len, const uint8_t *root2, size_t root2_len,
				struct err *e)
{
	uint8_t h1[AUD_HASH_LEN], h2[AUD_HASH_LEN];
	const uint8_t *seed;
	int inner, border, shift;
	size_t start;
	uint64_t mask;
	status_t st;

	if (size2 < size1)
		return err_set(e, ST_VERIFY, "new size %llu is below old size %llu",
			       (unsigned long long)size2, (unsigned long long)size1);
	if (size1 == 0)
		return err_set(e, ST_VERIFY, "a consistency proof from an empty tree means nothing");
	if (size1 == size2) {
		/* Nothing to chain: the two tree heads must simply be the same. */
		if (n_proof)
			return err_set(e, ST_VERIFY, "equal sizes need an empty proof");
		if (root1_len != root2_len || memcmp(root1, root2, root1_len) != 0)
			return err_set(e, ST_VERIFY, "equal sizes but different roots");
		return ST_OK;
	}
	if (root1_len != AUD_HASH_LEN || root2_len != AUD_HASH_LEN)
		return err_set(e, ST_VERIFY, "root hashes must have %d bytes (have %zu and %zu)",
			       AUD_HASH_LEN, root1_len, root2_len);
	if ((st = check_hashes(proof, proof_lens, n_proof, e)) != ST_OK)
		return st;
	if (n_proof == 0)
		return err_set(e, ST_VERIFY, "empty consistency proof");

	decomp(size1 - 1, size2, &inner, &border);
	shift = __builtin_ctzll(size1);
	inner -= shift;
	/* The proof starts with the hash of the subtree holding leaf size1-1,
	 * unless size1 is that whole subtree (a power of two): then root1. */
	seed = proof[0];
	start = 1;
	if (size1 == (uint64_t)1 << shift) {
		seed = root1;
		start = 0;
	}
	if (n_proof != start + (size_t)inner + (size_t)border)
		return err_set(e, ST_VERIFY, "proof has %zu hashes, want %zu", n_proof,
			       start + (size_t)inner + (size_t)border);
	proof += start;
	mask = (size1 - 1) >> shift;

	memcpy(h1, seed, AUD_HASH_LEN);
	memcpy(h2, seed, AUD_HASH_LEN);
	for (int i = 0; i < inner; i++) {
		if ((mask >> i) & 1) {
			aud_hash_children(proof[i], h1, h1);
			aud_hash_children(proof[i], h2, h2);
		} else {
			aud_hash_children(h2, proof[i], h2);
		}
	}
	for (int i = inner; i < inner + border; i++) {
		aud_hash_children(proof[i], h1, h1);
		aud_hash_children(proof[i], h2, h2);
	}
	if (memcmp(h1, root1, AUD_HASH_LEN) != 0)
		return err_set(e, ST_VERIFY, "consistency proof does not lead to the old root");
	if (memcmp(h2, root2, AUD_HASH_LEN) != 0)
		return err_set(e, ST_VERIFY, "consistency proof does not lead to the new root");
	return ST_OK;
}
