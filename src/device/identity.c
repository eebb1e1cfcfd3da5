// SPDX-License-Identifier: Apache-2.0
#include "device/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "device/fsutil.h"
#include "device/jsonx.h"

#define IDENT_MAX 65536

static int path_in(char *out, size_t cap, const char *dir, const char *name)
{
	return snprintf(out, cap, "%s/%s", dir, name) >= (int)cap ? -ENAMETOOLONG : 0;
}

void cert_sha256(X509 *x, uint8_t out[32])
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	unsigned int olen = 32;

	memset(out, 0, 32);
	if (n > 0)
		EVP_Digest(der, (size_t)n, out, &olen, EVP_sha256(), NULL);
	OPENSSL_free(der);
}

bool parse_sha256_hex(const char *s, uint8_t out[32])
{
	size_t n = 0;

	for (; *s && n < 64; s++) {
		int v;

		if (*s == ':')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			return false;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 64 && *s == '\0';
}

X509 *x509_from_pem(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

static X509 *load_x509(const char *path)
{
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return x;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return k;
}

int identity_load(struct identity *id, const char *dir, char *err, size_t errlen)
{
	char p[PATH_MAX], *buf = NULL;
	size_t len;
	json_t *j = NULL;
	int r;

	memset(id, 0, sizeof(*id));
	r = path_in(p, sizeof(p), dir, "identity.json");
	if (!r)
		r = read_file(p, IDENT_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(err, errlen, "identity: cannot read %s: %s", p, strerror(-r));
		return r;
	}
	j = jx_load(buf, len, IDENT_MAX);
	r = -EBADMSG;
	if (!j || !jx_str(j, "device_id", id->device_id, sizeof(id->device_id)) ||
	    !jx_str(j, "server_id", id->server_id, sizeof(id->server_id)) ||
	    !jx_str(j, "url", id->url, sizeof(id->url)) ||
	    !jx_str_opt(j, "group", id->group, sizeof(id->group)) ||
	    !json_is_object(json_object_get(j, "lease_key"))) {
		snprintf(err, errlen, "identity: %s is malformed", p);
		goto out;
	}
	id->lease_key = json_incref(json_object_get(j, "lease_key"));
	path_in(p, sizeof(p), dir, "device.key");
	id->key = load_key(p);
	path_in(p, sizeof(p), dir, "device.pem");
	id->cert = load_x509(p);
	path_in(p, sizeof(p), dir, "ca.pem");
	id->ca = load_x509(p);
	if (!id->key || !id->cert || !id->ca || X509_check_private_key(id->cert, id->key) != 1) {
		snprintf(err, errlen,
			 "identity: key, certificate or CA missing or mismatched in %s", dir);
		goto out;
	}
	id->enrolled = true;
	r = 0;
out:
	free(buf);
	json_decref(j);
	if (r)
		identity_clear(id);
	return r;
}

void identity_clear(struct identity *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	X509_free(id->ca);
	json_decref(id->lease_key);
	memset(id, 0, sizeof(*id));
}

int identity_new_key(EVP_PKEY **key, char **csr_pem)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int r = -EIO;

	if (!k || !req || !n || !b ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					(const unsigned char *)"pocketvm-device", -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, n) || !X509_REQ_set_pubkey(req, k) ||
	    !X509_REQ_sign(req, k, EVP_sha256()) || !PEM_write_bio_X509_REQ(b, req))
		goto out;
	len = BIO_get_mem_data(b, &data);
	*csr_pem = strndup(data, (size_t)len);
	if (!*csr_pem) {
		r = -ENOMEM;
		goto out;
	}
	*key = k;
	k = NULL;
	r = 0;
out:
	EVP_PKEY_free(k);
	X509_REQ_free(req);
	X509_NAME_free(n);
	BIO_free(b);
	return r;
}

static int save_pem(const char *dir, const char *name, int (*wr)(BIO *, const void *),
		    const void *obj, mode_t mode)
{
	char p[PATH_MAX], *data;
	BIO *b = BIO_new(BIO_s_secmem());
	long len;
	int r = -EIO;

	if (path_in(p, sizeof(p), dir, name) < 0 || !b)
		goto out;
	if (wr(b, obj) != 1)
		goto out;
	len = BIO_get_mem_data(b, &data);
	r = write_file_atomic(p, data, (size_t)len, mode);
out:
	BIO_free(b); /* a secure-memory BIO clears itself */
	return r;
}

static int wr_key(BIO *b, const void *k)
{
	return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static int wr_x509(BIO *b, const void *x)
{
	return PEM_write_bio_X509(b, (X509 *)x);
}

int identity_save(const struct identity *id, const char *dir)
{
	char p[PATH_MAX], *txt;
	json_t *j;
	int r;

	r = save_pem(dir, "device.key", wr_key, id->key, 0600);
	if (!r)
		r = save_pem(dir, "device.pem", wr_x509, id->cert, 0644);
	if (!r)
		r = save_pem(dir, "ca.pem", wr_x509, id->ca, 0644);
	if (r)
		return r;
	j = json_pack("{s:s,s:s,s:s,s:s,s:O}", "device_id", id->device_id, "server_id",
		      id->server_id, "url", id->url, "group", id->group, "lease_key",
		      id->lease_key);
	txt = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!txt)
		return -ENOMEM;
	r = path_in(p, sizeof(p), dir, "identity.json");
	if (!r)
		r = write_file_atomic(p, txt, strlen(txt), 0644);
	free(txt);
	return r;
}

/* Overwrites a file's bytes in place and syncs before unlinking it. */
static int shred(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char zero[4096] = { 0 };

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) == 0)
		for (off_t off = 0; off < st.st_size; off += (off_t)sizeof(zero))
			if (pwrite(fd, zero, sizeof(zero), off) < 0)
				break;
	fsync(fd);
	close(fd);
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int identity_destroy(const char *dir)
{
	static const char *const files[] = { "identity.json", "device.key", "device.pem",
					     "ca.pem" };
	char p[PATH_MAX];
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		int e = path_in(p, sizeof(p), dir, files[i]);

		if (!e)
			e = shred(p);
		if (e && !r)
			r = e;
	}
	fsync_dir(dir);
	return r;
}

int state_key_load(const char *dir, uint8_t key[STATE_KEY_LEN], bool *created)
{
	char p[PATH_MAX];
	int fd, r;
	ssize_t n;

	*created = false;
	r = path_in(p, sizeof(p), dir, "state.key");
	if (r)
		return r;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read(fd, key, STATE_KEY_LEN);
		close(fd);
		return n == STATE_KEY_LEN ? 0 : -EBADMSG;
	}
	if (errno != ENOENT)
		return -errno;
	if (RAND_priv_bytes(key, STATE_KEY_LEN) != 1)
		return -EIO;
	r = write_file_atomic(p, key, STATE_KEY_LEN, 0600);
	*created = r == 0;
	return r;
}
