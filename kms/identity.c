#include "config.h"

#include "identity.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lockfile.h"
#include "log.h"
#include "paths.h"
#include "secfile.h"
#include "skeyfile.h"

static char *staged_path(const char *path)
{
	char *staged;

	return asprintf(&staged, "%s.staged", path) < 0 ? NULL : staged;
}

/* The DER form of @pkey in locked memory. */
static struct sk_secret *der_of(EVP_PKEY *pkey)
{
	int len = i2d_PrivateKey(pkey, NULL);
	struct sk_secret *der;
	unsigned char *p;

	if (len < SK_IDENTITY_MIN_LEN || len > SK_IDENTITY_MAX_LEN) {
		sk_err("the identity key is too %s (%d bytes in DER)",
		       len < SK_IDENTITY_MIN_LEN ? "small" : "large", len);
		return NULL;
	}
	der = sk_secret_new((size_t)len);
	p = der ? der->data : NULL;
	if (der && i2d_PrivateKey(pkey, &p) != len) {
		sk_secret_free(der);
		der = NULL;
	}
	return der;
}

EVP_PKEY *sk_identity_read_pem(const char *pem_path)
{
	EVP_PKEY *pkey = NULL;
	FILE *f = fopen(pem_path, "re");

	if (!f) {
		sk_err("cannot open the client key %s: %s", pem_path, strerror(errno));
		return NULL;
	}
	setvbuf(f, NULL, _IONBF, 0); /* no unlocked stdio copy of the key */
	if (sk_secfile_check(fileno(f), pem_path, "the client key") == 0) {
		pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		if (!pkey)
			sk_err("%s holds no unencrypted PEM private key", pem_path);
	}
	ERR_clear_error();
	fclose(f);
	return pkey;
}

int sk_identity_store(struct sk_hsm *hsm, EVP_PKEY *pkey, const char *path)
{
	struct sk_secret *der = der_of(pkey);
	struct sk_key_spec spec = { SK_KEY_IDENTITY, 0 };
	char *staged = staged_path(path);
	unsigned char *blob = NULL;
	size_t len;
	int r = -EINVAL;

	if (!der || !staged) {
		sk_secret_free(der);
		free(staged);
		return r;
	}
	spec.bits = (unsigned)der->len * 8;
	r = sk_hsm_wrap(hsm, SK_REG_CURRENT, &spec, der, &blob, &len);
	sk_secret_free(der);
	if (r == 0)
		r = sk_file_replace(path, blob, len);
	/* A staged key of a previous identity must not outlive it. */
	if (r == 0 && unlink(staged) == 0)
		r = sk_fsync_dir_of(staged);
	free(staged);
	free(blob);
	return r;
}

/*
 * EC P-256 rather than RSA-3072: the same strength (128 bits), generated in
 * milliseconds instead of seconds, a DER of about 120 bytes, and a private
 * scalar that OpenSSL keeps in its secure heap (a BIGNUM made with
 * BN_secure_new), which our programs set up; what it frees is wiped
 * (ossl_wipe.h).
 */
int sk_identity_generate(struct sk_hsm *hsm, const char *path, EVP_PKEY **pkey)
{
	int r;

	*pkey = EVP_EC_gen("P-256");
	if (!*pkey) {
		sk_err("cannot generate an EC P-256 key: %s",
		       ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		return -EIO;
	}
	r = sk_identity_store(hsm, *pkey, path);
	if (r < 0) {
		EVP_PKEY_free(*pkey);
		*pkey = NULL;
	}
	return r;
}

X509_NAME *sk_identity_subject(const char *text)
{
	X509_NAME *name = X509_NAME_new();
	char *copy = strdup(text), *save = NULL, *part;
	bool ok = name && copy && text[0] == '/' && text[1];

	for (part = ok ? strtok_r(copy + 1, "/", &save) : NULL; ok && part;
	     part = strtok_r(NULL, "/", &save)) {
		char *eq = strchr(part, '=');

		ok = eq && eq != part && eq[1];
		if (ok) {
			*eq = '\0';
			ok = X509_NAME_add_entry_by_txt(name, part, MBSTRING_UTF8,
							(const unsigned char *)eq + 1, -1, -1, 0);
		}
	}
	ERR_clear_error();
	free(copy);
	if (!ok) {
		sk_err("subject '%s' is not of the form /CN=NAME[/O=ORG...] with known "
		       "attribute names",
		       text);
		X509_NAME_free(name);
		name = NULL;
	}
	return name;
}

static int write_pem_req(X509_REQ *req, const char *csr_path)
{
	BIO *mem = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int r = -ENOMEM;

	if (mem && PEM_write_bio_X509_REQ(mem, req)) {
		len = BIO_get_mem_data(mem, &data);
		r = sk_file_replace_mode(csr_path, data, (size_t)len, 0644);
	}
	BIO_free(mem);
	return r;
}

int sk_identity_write_csr(EVP_PKEY *pkey, const X509_NAME *subject, const char *csr_path)
{
	X509_REQ *req = X509_REQ_new();
	int r = -EIO;

	if (req && X509_REQ_set_version(req, 0) && X509_REQ_set_subject_name(req, subject) &&
	    X509_REQ_set_pubkey(req, pkey) && X509_REQ_sign(req, pkey, EVP_sha256()) > 0)
		r = write_pem_req(req, csr_path);
	else
		sk_err("cannot make the certificate signing request: %s",
		       ERR_reason_error_string(ERR_peek_last_error()));
	ERR_clear_error();
	X509_REQ_free(req);
	return r;
}

int sk_identity_check_cert(EVP_PKEY *pkey, const char *cert_path)
{
	FILE *f = fopen(cert_path, "re");
	X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	int r = 0;

	if (!f) {
		sk_err("cannot open the client certificate %s: %s", cert_path, strerror(errno));
		return -errno;
	}
	fclose(f);
	if (!cert) {
		sk_err("%s holds no PEM certificate", cert_path);
		r = -EINVAL;
	} else if (EVP_PKEY_eq(X509_get0_pubkey(cert), pkey) != 1) {
		sk_err("the certificate %s is not for the identity key: its public key differs; "
		       "it must be signed from the request that 'securekey kms configure "
		       "--generate-key' wrote",
		       cert_path);
		r = -EKEYREJECTED;
	}
	ERR_clear_error();
	X509_free(cert);
	return r;
}

static int read_blob(const char *path, unsigned char **blob, size_t *len)
{
	return sk_file_read(path, SK_BLOB_IDENTITY_MAX_LEN, blob, len);
}

/*
 * The directory of the identity key (kms/, with the CA the KMS is trusted
 * by): a key that others could swap is refused. A missing one is left to
 * the read to report.
 */
static int check_dir_of(const char *path)
{
	char *copy = strdup(path);
	int r = copy ? sk_path_check_dir(dirname(copy), "KMS directory", "go-w") : -ENOMEM;

	free(copy);
	return r == -ENOENT ? 0 : r;
}

int sk_identity_read(const char *path, const struct sk_apqn_list *apqns, struct sk_token *token)
{
	char *staged = staged_path(path);
	unsigned char *blob = NULL;
	size_t len;
	int r = staged ? check_dir_of(path) : -ENOMEM;

	if (!r)
		r = read_blob(path, &blob, &len);

	if (r == 0)
		r = sk_token_create(0, apqns, blob, len, token);
	free(blob);
	blob = NULL;
	if (r == 0 && access(staged, F_OK) == 0) {
		r = read_blob(staged, &blob, &len);
		if (r == 0)
			r = sk_token_set_staged(token, blob, len);
		free(blob);
		if (r < 0)
			sk_token_free(token);
	}
	if (r == -EINVAL)
		sk_err("identity key %s is not a securekey identity secure key", path);
	free(staged);
	return r;
}

/* Under no register: the recovery is a new key and certificate, never the old key file. */
static int lost(const char *path, const struct sk_apqn_list *apqns)
{
	char list[SK_APQN_MAX * (SK_APQN_TEXT_LEN + 1) + 1];

	sk_apqn_list_format(apqns, list, sizeof(list));
	sk_err("identity key %s is enciphered with no master key of APQNs %s: it is lost; "
	       "make a new one with 'securekey kms configure --apqns %s --generate-key --csr "
	       "FILE', have the KMS administrator sign the request, and install the "
	       "certificate with 'securekey kms configure ... --cert SIGNED.pem'",
	       path, list, list);
	return -ENOKEY;
}

int sk_identity_unwrap_der(struct sk_hsm *hsm, const char *path, const struct sk_apqn_list *apqns,
			   struct sk_secret **der)
{
	const struct sk_token_key *pick;
	struct sk_key_state state;
	struct sk_token token;
	const char *which;
	int r = sk_identity_read(path, apqns, &token);

	*der = NULL;
	if (r < 0)
		return r;
	r = sk_key_state_get(hsm, &token, &state);
	pick = r == 0 ? sk_key_state_pick(&token, &state, &which) : NULL;
	if (r == 0 && !pick)
		r = lost(path, apqns);
	if (pick)
		r = sk_hsm_unwrap(hsm, pick->blob, pick->blob_len, der, NULL);
	if (r == 0)
		sk_dbg("identity key: using the %s", which);
	sk_token_free(&token);
	return r;
}

int sk_identity_parse(const struct sk_secret *der, const char *path, EVP_PKEY **key)
{
	const unsigned char *p = der->data;

	*key = d2i_AutoPrivateKey(NULL, &p, (long)der->len);
	if (*key && CRYPTO_secure_malloc_initialized())
		sk_dbg("identity key parsed; OpenSSL's secure heap holds %zu bytes",
		       CRYPTO_secure_used());
	ERR_clear_error();
	if (!*key) {
		sk_err("identity key %s does not hold a private key", path);
		return -EINVAL;
	}
	return 0;
}

int sk_identity_unwrap(struct sk_hsm *hsm, const char *path, const struct sk_apqn_list *apqns,
		       EVP_PKEY **key)
{
	struct sk_secret *der = NULL;
	int r = sk_identity_unwrap_der(hsm, path, apqns, &der);

	if (r == 0)
		r = sk_identity_parse(der, path, key);
	sk_secret_free(der);
	return r;
}

/* Write what @action changed, the current key first (a secure key file pair: skeyfile.h). */
static int write_back(const char *path, enum sk_next_step action, bool had_staged,
		      const struct sk_token *token)
{
	char *staged = staged_path(path);
	int r = staged ? sk_skeyfile_write_back(path, staged, action, had_staged, token) : -ENOMEM;

	free(staged);
	return r;
}

static int lock_identity(const char *path)
{
	char what[PATH_MAX + 32];

	snprintf(what, sizeof(what), "identity key %s", path);
	return sk_skeyfile_lock("identity.lock", what);
}

int sk_identity_reencipher(struct sk_hsm *hsm, const char *path,
			   const struct sk_apqn_list *apqns, enum sk_reencipher_mode mode,
			   enum sk_next_step *done)
{
	struct sk_key_state state;
	struct sk_token token;
	char name[PATH_MAX + 16];
	bool had_staged;
	int lock = lock_identity(path), r;

	*done = SK_NEXT_NONE;
	if (lock < 0)
		return lock;
	snprintf(name, sizeof(name), "identity key %s", path);
	r = sk_identity_read(path, apqns, &token);
	if (r < 0) {
		sk_lock_release(lock);
		return r;
	}
	had_staged = token.has_staged;
	r = sk_key_state_get(hsm, &token, &state);
	if (r == 0 && state.next == SK_NEXT_UNREACHABLE)
		r = lost(path, apqns); /* no volume step (refresh, setkey) applies to it */
	if (r == 0)
		r = sk_reencipher_choose(name, &state, mode, done);
	if (r == 0 && *done != SK_NEXT_NONE)
		r = sk_reencipher_apply(hsm, &token, *done);
	if (r == 0 && *done != SK_NEXT_NONE)
		r = write_back(path, *done, had_staged, &token);
	sk_token_free(&token);
	sk_lock_release(lock);
	return r;
}
