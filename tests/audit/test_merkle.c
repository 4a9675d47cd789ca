/*
 * test_merkle.c - the Merkle tree against independent references: the
 * RFC 6962 root hashes of the certificate-transparency test leaves
 * (trees of 0..8), and every inclusion and consistency vector of
 * transparency-dev/merkle in shared/testdata/merkle (valid proofs must
 * verify, every mutation marked wantErr must be rejected).
 */
#include "audit_tests.h"

#include <ftw.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The RFC 6962 / certificate-transparency reference leaves and roots. */
static const char *const ref_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};
static const char *const ref_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ref_tree(struct aud_tree *t)
{
	aud_tree_init(t);
	for (int i = 0; i < 8; i++) {
		uint8_t data[16], h[32];
		size_t n = strlen(ref_leaves[i]) / 2;

		TH_OK(hex_decode(ref_leaves[i], 2 * n, data, n));
		aud_hash_leaf(data, n, h);
		TH_OK(aud_tree_append(t, h));
	}
}

static void test_rfc6962_roots(void **state)
{
	struct aud_tree t;
	char hex[65];

	(void)state;
	ref_tree(&t);
	for (uint64_t n = 0; n <= 8; n++) {
		uint8_t root[32];
		TH_OK(aud_tree_root(&t, n, root));
		assert_string_equal(hex_encode(root, 32, hex), ref_roots[n]);
	}
	aud_tree_release(&t);
}

/* Every proof the tree generates verifies, for every size up to 70, and a
 * flipped bit or a wrong index does not. */
static void test_generated_proofs(void **state)
{
	struct aud_tree t;
	uint8_t proof[AUD_MAX_PROOF][32];
	const uint8_t *pp[AUD_MAX_PROOF];
	size_t pl[AUD_MAX_PROOF], np;

	(void)state;
	aud_tree_init(&t);
	for (int i = 0; i < 70; i++) {
		uint8_t d[2] = { (uint8_t)i, (uint8_t)(i * 7) }, h[32];
		aud_hash_leaf(d, 2, h);
		TH_OK(aud_tree_append(&t, h));
	}
	for (int k = 0; k < AUD_MAX_PROOF; k++) {
		pp[k] = proof[k];
		pl[k] = 32;
	}
	for (uint64_t n = 1; n <= 70; n++) {
		uint8_t root[32];
		TH_OK(aud_tree_root(&t, n, root));
		for (uint64_t i = 0; i < n; i++) {
			TH_OK(aud_tree_inclusion(&t, i, n, proof, &np, NULL));
			TH_OK(aud_verify_inclusion(i, n, aud_tree_leaf(&t, i), 32, pp, pl, np, root, 32,
						   NULL));
			if (n > 1)
				TH_ST(aud_verify_inclusion((i + 1) % n, n, aud_tree_leaf(&t, i), 32, pp,
							   pl, np, root, 32, NULL), ST_VERIFY);
			if (np) {
				proof[np - 1][5] ^= 1;
				TH_ST(aud_verify_inclusion(i, n, aud_tree_leaf(&t, i), 32, pp, pl, np,
							   root, 32, NULL), ST_VERIFY);
			}
		}
		for (uint64_t m = 1; m <= n; m++) {
			uint8_t r1[32];
			TH_OK(aud_tree_root(&t, m, r1));
			TH_OK(aud_tree_consistency(&t, m, n, proof, &np, NULL));
			TH_OK(aud_verify_consistency(m, n, pp, pl, np, r1, 32, root, 32, NULL));
			if (np) {
				proof[0][0] ^= 0x80;
				TH_ST(aud_verify_consistency(m, n, pp, pl, np, r1, 32, root, 32, NULL),
				      ST_VERIFY);
			}
		}
	}
	aud_tree_release(&t);
}

/* ---- transparency-dev vectors ---- */

struct vec_counts {
	int inc_ok, inc_rejected, con_ok, con_rejected, cross_checked;
	int failures;
	struct aud_tree ref;
};
static struct vec_counts counts;

/* Decodes a base64 JSON string into out; returns its length. */
static size_t b64(json_t *s, uint8_t *out, size_t cap)
{
	size_t n = cap;
	const char *t = json_string_value(s);

	if (!t)
		return 0;
	if (base64_decode(t, strlen(t), out, &n) != ST_OK)
		fail_msg("vector holds bad base64 '%s'", t);
	return n;
}

/* Numbers are read as reals: one mutation uses 2^64 - 1 (index - 1 of 0),
 * past what jansson's integers hold. */
static uint64_t num(json_t *v)
{
	double d = json_number_value(v);

	if (d >= 18446744073709551615.0)
		return UINT64_MAX;
	return d < 0 ? 0 : (uint64_t)d;
}

static size_t proof_of(json_t *a, uint8_t (*store)[64], const uint8_t **pp, size_t *pl)
{
	size_t n = 0;
	json_t *v;
	size_t i;

	if (!json_is_array(a))
		return 0;
	json_array_foreach(a, i, v) {
		if (n >= AUD_MAX_PROOF)
			break;
		pl[n] = b64(v, store[n], 64);
		pp[n] = store[n];
		n++;
	}
	return n;
}

static void check_vector(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je);
	uint8_t store[AUD_MAX_PROOF][64], r1[64], r2[64], leaf[64];
	const uint8_t *pp[AUD_MAX_PROOF];
	size_t pl[AUD_MAX_PROOF], np, l1, l2;
	int want_err;
	status_t st;
	struct err e;

	if (!j)
		fail_msg("%s: %s", path, je.text);
	want_err = json_is_true(json_object_get(j, "wantErr"));
	np = proof_of(json_object_get(j, "proof"), store, pp, pl);
	err_clear(&e);
	if (json_object_get(j, "leafIdx")) {
		uint64_t idx = num(json_object_get(j, "leafIdx"));
		uint64_t size = num(json_object_get(j, "treeSize"));
		l1 = b64(json_object_get(j, "root"), r1, sizeof r1);
		l2 = b64(json_object_get(j, "leafHash"), leaf, sizeof leaf);
		st = aud_verify_inclusion(idx, size, leaf, l2, pp, pl, np, r1, l1, &e);
		if (want_err ? st != ST_VERIFY : st != ST_OK) {
			print_message("FAIL %s: got %s (%s)\n", path, status_name(st), e.msg);
			counts.failures++;
		} else if (want_err) {
			counts.inc_rejected++;
		} else {
			counts.inc_ok++;
			/* Where the vector uses the RFC leaves, our generator must give
			 * the very same proof. */
			if (size <= 8 && idx < size && l2 == 32 &&
			    memcmp(leaf, aud_tree_leaf(&counts.ref, idx), 32) == 0) {
				uint8_t mine[AUD_MAX_PROOF][32];
				size_t nm;
				TH_OK(aud_tree_inclusion(&counts.ref, idx, size, mine, &nm, NULL));
				assert_int_equal(nm, np);
				for (size_t k = 0; k < nm; k++)
					assert_memory_equal(mine[k], pp[k], 32);
				counts.cross_checked++;
			}
		}
	} else {
		uint64_t s1 = num(json_object_get(j, "size1"));
		uint64_t s2 = num(json_object_get(j, "size2"));
		l1 = b64(json_object_get(j, "root1"), r1, sizeof r1);
		l2 = b64(json_object_get(j, "root2"), r2, sizeof r2);
		st = aud_verify_consistency(s1, s2, pp, pl, np, r1, l1, r2, l2, &e);
		if (want_err ? st != ST_VERIFY : st != ST_OK) {
			print_message("FAIL %s: got %s (%s)\n", path, status_name(st), e.msg);
			counts.failures++;
		} else if (want_err) {
			counts.con_rejected++;
		} else {
			uint8_t root2[32];
			counts.con_ok++;
			if (s2 <= 8 && s1 >= 1 && l2 == 32 &&
			    aud_tree_root(&counts.ref, s2, root2) == ST_OK &&
			    memcmp(root2, r2, 32) == 0) {
				uint8_t mine[AUD_MAX_PROOF][32];
				size_t nm;
				TH_OK(aud_tree_consistency(&counts.ref, s1, s2, mine, &nm, NULL));
				assert_int_equal(nm, np);
				for (size_t k = 0; k < nm; k++)
					assert_memory_equal(mine[k], pp[k], 32);
				counts.cross_checked++;
			}
		}
	}
	json_decref(j);
}

static int visit(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	size_t l = strlen(p);

	(void)sb;
	(void)f;
	if (flag == FTW_F && l > 5 && strcmp(p + l - 5, ".json") == 0)
		check_vector(p);
	return 0;
}

static void test_vectors(void **state)
{
	char dir[4096];

	(void)state;
	th_shared_path("testdata/merkle", dir, sizeof dir);
	memset(&counts, 0, sizeof counts);
	ref_tree(&counts.ref);
	assert_int_equal(nftw(dir, visit, 16, FTW_PHYS), 0);
	print_message("merkle vectors: inclusion %d valid verified, %d mutations rejected; "
		      "consistency %d valid verified, %d mutations rejected; %d proofs "
		      "regenerated identically\n",
		      counts.inc_ok, counts.inc_rejected, counts.con_ok, counts.con_rejected,
		      counts.cross_checked);
	aud_tree_release(&counts.ref);
	assert_int_equal(counts.failures, 0);
	/* 196 vector files (98 inclusion, 98 consistency): all must be seen. */
	assert_int_equal(counts.inc_ok + counts.inc_rejected + counts.con_ok +
			 counts.con_rejected, 196);
	assert_true(counts.cross_checked > 0);
}

/* Proof requests outside the tree are refused, not crashed on. */
static void test_bad_requests(void **state)
{
	struct aud_tree t;
	uint8_t proof[AUD_MAX_PROOF][32];
	size_t np;

	(void)state;
	ref_tree(&t);
	TH_ST(aud_tree_inclusion(&t, 8, 8, proof, &np, NULL), ST_INVAL);
	TH_ST(aud_tree_inclusion(&t, 0, 9, proof, &np, NULL), ST_INVAL);
	TH_ST(aud_tree_consistency(&t, 5, 4, proof, &np, NULL), ST_INVAL);
	TH_ST(aud_tree_consistency(&t, 1, 9, proof, &np, NULL), ST_INVAL);
	TH_ST(aud_tree_root(&t, 9, proof[0]), ST_INVAL);
	aud_tree_release(&t);
}

int run_merkle_tests(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6962_roots),
		cmocka_unit_test(test_generated_proofs),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_bad_requests),
	};
	return cmocka_run_group_tests_name("merkle", tests, NULL, NULL);
}
