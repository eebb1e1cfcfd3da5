// SPDX-License-Identifier: Apache-2.0
#include "server/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "server/sutil.h"

#define CA_DAYS (3650L)
#define LEAF_DAYS (397L)

static EVP_PKEY *gen_p256(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

/* A certificate skeleton: random positive 159-bit serial, validity, subject CN. */
static X509 *new_cert(const char *cn, long days, EVP_PKEY *pub)
{
	X509 *c = X509_new();
	unsigned char raw[20];
	BIGNUM *bn = NULL;
	X509_NAME *name;

	if (!c || RAND_bytes(raw, sizeof(raw)) != 1)
		goto fail;
	raw[0] &= 0x7f;
	raw[0] |= 0x01;
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)))
		goto fail;
	BN_free(bn);
	bn = NULL;
	X509_set_version(c, X509_VERSION_3);
	X509_gmtime_adj(X509_getm_notBefore(c), -300);
	X509_gmtime_adj(X509_getm_notAfter(c), days * 86400);
	name = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0))
		goto fail;
	if (!X509_set_pubkey(c, pub))
		goto fail;
	return c;
fail:
	BN_free(bn);
	X509_free(c);
	return NULL;
}

static char *cert_to_pem(X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b && PEM_write_bio_X509(b, cert)) {
		n = BIO_get_mem_data(b, &data);
		out = strndup(data, n);
	}
	BIO_free(b);
	return out;
}

static int write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
		   PEM_write_X509(f, cert);
	if (fclose(f) != 0 || !ok)
		return -EIO;
	return 0;
}

static int create_ca(struct ca *ca, const char *kpath, const char *cpath, const char *server_id)
{
	char cn[128];

	snprintf(cn, sizeof(cn), "pocketvm-server CA %.36s", server_id);
	ca->key = gen_p256();
	ca->cert = ca->key ? new_cert(cn, CA_DAYS, ca->key) : NULL;
	if (!ca->cert)
		return -EIO;
	X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert));
	if (add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
	    !X509_sign(ca->cert, ca->key, EVP_sha256()))
		return -EIO;
	if (write_pem(kpath, ca->key, NULL) < 0 || write_pem(cpath, NULL, ca->cert) < 0)
		return -EIO;
	log_info("ca: created a new certificate authority in %s", cpath);
	return 0;
}

static int load_ca(struct ca *ca, const char *kpath, const char *cpath)
{
	FILE *kf = fopen(kpath, "re"), *cf = fopen(cpath, "re");
	int r = 0;

	/* Unbuffered: no stdio buffer keeps a copy of the key's PEM text. */
	if (kf && setvbuf(kf, NULL, _IONBF, 0) == 0)
		ca->key = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
	if (cf)
		ca->cert = PEM_read_X509(cf, NULL, NULL, NULL);
	if (!ca->key || !ca->cert || X509_check_private_key(ca->cert, ca->key) != 1) {
		log_error("ca: %s / %s unreadable or not a pair", kpath, cpath);
		r = -EINVAL;
	}
	if (kf)
		fclose(kf);
	if (cf)
		fclose(cf);
	return r;
}

/* SAN list "DNS:a,IP:1.2.3.4" from host names; addresses become IP entries. */
static void build_san(char *out, size_t n, const char *const *hosts, int nhosts)
{
	unsigned char addr[16];
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < nhosts; i++) {
		bool ip = inet_pton(AF_INET, hosts[i], addr) == 1 ||
			  inet_pton(AF_INET6, hosts[i], addr) == 1;

		o += snprintf(out + o, o < n ? n - o : 0, "%s%s:%s", i ? "," : "",
			      ip ? "IP" : "DNS", hosts[i]);
	}
}

static int issue_server(struct ca *ca, const char *const *hosts, int nhosts)
{
	char san[2048];

	build_san(san, sizeof(san), hosts, nhosts);
	ca->server_key = gen_p256();
	ca->server_cert = ca->server_key ? new_cert(hosts[0], LEAF_DAYS, ca->server_key) : NULL;
	if (!ca->server_cert)
		return -EIO;
	X509_set_issuer_name(ca->server_cert, X509_get_subject_name(ca->cert));
	if (add_ext(ca->server_cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(ca->server_cert, ca->cert, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(ca->server_cert, ca->cert, NID_ext_key_usage, "serverAuth") ||
	    add_ext(ca->server_cert, ca->cert, NID_subject_alt_name, san) ||
	    add_ext(ca->server_cert, ca->cert, NID_authority_key_identifier, "keyid") ||
	    !X509_sign(ca->server_cert, ca->key, EVP_sha256()))
		return -EIO;
	return 0;
}

int ca_open(struct ca *ca, const char *dir, const char *const *hosts, int nhosts,
	    const char *server_id)
{
	char kpath[4096], cpath[4096];
	unsigned char md[32];
	unsigned int mdlen = sizeof(md);
	int r;

	memset(ca, 0, sizeof(*ca));
	snprintf(kpath, sizeof(kpath), "%s/ca.key", dir);
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	if (access(cpath, F_OK) == 0)
		r = load_ca(ca, kpath, cpath);
	else
		r = create_ca(ca, kpath, cpath, server_id);
	if (r == 0)
		r = issue_server(ca, hosts, nhosts);
	if (r == 0) {
		ca->cert_pem = cert_to_pem(ca->cert);
		X509_digest(ca->cert, EVP_sha256(), md, &mdlen);
		for (unsigned int i = 0; i < mdlen; i++)
			snprintf(ca->sha256 + 2 * i, 3, "%02x", md[i]);
		if (!ca->cert_pem)
			r = -ENOMEM;
	}
	if (r < 0) {
		log_error("ca: cannot set up the certificate authority in %s", dir);
		ca_close(ca);
	}
	return r;
}

void ca_close(struct ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->server_key);
	X509_free(ca->server_cert);
	free(ca->cert_pem);
	memset(ca, 0, sizeof(*ca));
}

void ca_serial_hex(const X509 *cert, char out[CA_SERIAL_HEX + 1])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	size_t i;

	out[0] = '\0';
	if (hex && strlen(hex) <= CA_SERIAL_HEX) {
		for (i = 0; hex[i]; i++)
			out[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? hex[i] - 'A' + 'a' : hex[i];
		out[i] = '\0';
	}
	OPENSSL_free(hex);
	BN_free(bn);
}

bool ca_subject_cn(const X509 *cert, char *out, size_t n)
{
	int len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, n);

	return len > 0 && (size_t)len < n;
}

static bool key_acceptable(EVP_PKEY *pk)
{
	char group[64];
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &glen))
			return false;
		return strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0 ||
		       strcmp(group, "secp521r1") == 0;
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(pk) >= 2048 && EVP_PKEY_get_bits(pk) <= 8192;
	default:
		return false;
	}
}

int ca_issue_device(struct ca *ca, const char *csr_pem, size_t len, const char *device_id,
		    char **pem, char serial[CA_SERIAL_HEX + 1])
{
	BIO *b = BIO_new_mem_buf(csr_pem, (int)len);
	X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pub = req ? X509_REQ_get0_pubkey(req) : NULL;
	X509 *cert = NULL;
	int r = -EINVAL;

	*pem = NULL;
	if (!pub || !key_acceptable(pub) || X509_REQ_verify(req, pub) != 1)
		goto out;
	r = -EIO;
	cert = new_cert(device_id, LEAF_DAYS, pub);
	if (!cert)
		goto out;
	X509_set_issuer_name(cert, X509_get_subject_name(ca->cert));
	if (add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(cert, ca->cert, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(cert, ca->cert, NID_ext_key_usage, "clientAuth") ||
	    add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid") ||
	    !X509_sign(cert, ca->key, EVP_sha256()))
		goto out;
	*pem = cert_to_pem(cert);
	ca_serial_hex(cert, serial);
	r = *pem && serial[0] ? 0 : -ENOMEM;
out:
	ERR_clear_error();
	X509_free(cert);
	X509_REQ_free(req);
	BIO_free(b);
	return r;
}
