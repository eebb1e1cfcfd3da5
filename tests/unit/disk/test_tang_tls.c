// SPDX-License-Identifier: Apache-2.0
/*
 * The Tang HTTP client's errors over TLS: a server that refuses our
 * certificate is a refusal (-EACCES); a server that vanishes mid-handshake
 * (EOF or reset) or one we do not trust is unreachable (-EHOSTUNREACH). The
 * servers are OpenSSL on loopback in a thread, with certificates made here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/binding.h"

enum mode {
	MODE_TLS, /* a real TLS server that demands a certificate from our CA */
	MODE_TLS_ABRUPT, /* same, closing at once after a failed handshake (a reset) */
	MODE_CLOSE, /* reads the ClientHello, closes */
	MODE_RESET, /* reads the ClientHello, resets */
};

struct server {
	enum mode mode;
	int max_version;
	int lfd, port;
	pthread_t tid;
};

static char dir[] = "/tmp/pocketvm-test-tls-XXXXXX";
static EVP_PKEY *ca_key, *server_key;
static X509 *ca_cert, *server_cert;

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;

	assert_non_null(c);
	X509_set_version(c, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)random() & 0x7fffffff);
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(c, name);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(c, key);
	X509V3_set_ctx(&v3, issuer ? issuer : c, c, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, issuer ? NID_subject_alt_name : NID_basic_constraints,
				  issuer ? "IP:127.0.0.1" : "critical,CA:TRUE");
	assert_non_null(ext);
	X509_add_ext(c, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	X509_NAME_free(name);
	return c;
}

static void write_pem(const char *file, X509 *cert, EVP_PKEY *key)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(cert ? PEM_write_X509(f, cert) :
			   PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	fclose(f);
}

/* Our CA with a server and a client certificate; an intruder signed by itself. */
static int setup(void **state)
{
	EVP_PKEY *client_key, *intruder_key;
	X509 *client, *intruder;

	if (!mkdtemp(dir))
		return -1;
	ca_key = EVP_EC_gen("P-256");
	server_key = EVP_EC_gen("P-256");
	client_key = EVP_EC_gen("P-256");
	intruder_key = EVP_EC_gen("P-256");
	ca_cert = make_cert(ca_key, "test-ca", NULL, NULL);
	server_cert = make_cert(server_key, "server", ca_cert, ca_key);
	client = make_cert(client_key, "client", ca_cert, ca_key);
	intruder = make_cert(intruder_key, "intruder", NULL, NULL);
	write_pem("ca.pem", ca_cert, NULL);
	write_pem("client.pem", client, NULL);
	write_pem("client.key", NULL, client_key);
	write_pem("intruder.pem", intruder, NULL);
	write_pem("intruder.key", NULL, intruder_key);
	X509_free(client);
	X509_free(intruder);
	EVP_PKEY_free(client_key);
	EVP_PKEY_free(intruder_key);
	return 0;
}

static int teardown(void **state)
{
	static const char *files[] = { "ca.pem", "client.pem", "client.key", "intruder.pem",
				       "intruder.key" };
	char path[128];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	X509_free(ca_cert);
	X509_free(server_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(server_key);
	return 0;
}

/* After a failed handshake: let the client read our alert, then go. */
static void linger_close(int fd)
{
	struct timeval tv = { .tv_sec = 2 };
	char buf[512];

	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
}

static void serve_tls(struct server *s, int fd)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				    "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char buf[1024];
	SSL *ssl;

	assert_non_null(ctx);
	SSL_CTX_set_max_proto_version(ctx, s->max_version);
	assert_int_equal(SSL_CTX_use_certificate(ctx, server_cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, server_key), 1);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca_cert);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1 && SSL_read(ssl, buf, sizeof(buf)) > 0) {
		SSL_write(ssl, reply, sizeof(reply) - 1);
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (s->mode == MODE_TLS_ABRUPT)
		close(fd); /* the client's last records unread: its kernel gets a reset */
	else
		linger_close(fd);
}

static void *serve_one(void *arg)
{
	struct server *s = arg;
	struct pollfd p = { .fd = s->lfd, .events = POLLIN };
	char hello[64];
	int fd;

	if (s->mode == MODE_TLS_ABRUPT) {
		/* The request, then perhaps the client's probe for our verdict. */
		while (poll(&p, 1, 500) == 1 && (fd = accept(s->lfd, NULL, NULL)) >= 0)
			serve_tls(s, fd);
		return NULL;
	}
	fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (s->mode == MODE_TLS) {
		serve_tls(s, fd);
		return NULL;
	}
	/* Part of the ClientHello, so the client is inside its handshake. */
	if (recv(fd, hello, sizeof(hello), MSG_WAITALL) <= 0) {
		close(fd);
		return NULL;
	}
	if (s->mode == MODE_RESET) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fd);
	return NULL;
}

/* GET /adv from a server of the given mode with our CA and the given certificate. */
static int adv_from(enum mode mode, int max_version, const char *cafile, const char *who)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct server s = { .mode = mode, .max_version = max_version };
	char url[64], ca[128], cert[128], key[128];
	struct tang_client_opts o = { .timeout_s = 5 };
	socklen_t al = sizeof(a);
	json_t *adv = NULL;
	int ret;

	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s.lfd >= 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s.lfd, 4), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(pthread_create(&s.tid, NULL, serve_one, &s), 0);

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", ntohs(a.sin_port));
	snprintf(ca, sizeof(ca), "%s/%s", dir, cafile);
	o.cafile = ca;
	if (who) {
		snprintf(cert, sizeof(cert), "%s/%s.pem", dir, who);
		snprintf(key, sizeof(key), "%s/%s.key", dir, who);
		o.cert = cert;
		o.key = key;
	}
	ret = tang_http_adv(url, &o, &adv);
	pthread_join(s.tid, NULL);
	close(s.lfd);
	json_decref(adv);
	return ret;
}

/* The setup itself works: our CA's client certificate gets an answer. */
static void test_accepted(void **state)
{
	assert_int_equal(adv_from(MODE_TLS, TLS1_3_VERSION, "ca.pem", "client"), 0);
	assert_int_equal(adv_from(MODE_TLS, TLS1_2_VERSION, "ca.pem", "client"), 0);
}

static void test_certificate_refused(void **state)
{
	/* TLS 1.3: the alert comes after the client's handshake is done. */
	assert_int_equal(adv_from(MODE_TLS, TLS1_3_VERSION, "ca.pem", "intruder"), -EACCES);
	assert_int_equal(adv_from(MODE_TLS, TLS1_3_VERSION, "ca.pem", NULL), -EACCES);
	/* A server that closes at once: the alert is read before the reset. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(adv_from(MODE_TLS_ABRUPT, TLS1_3_VERSION, "ca.pem", "intruder"),
				 -EACCES);
		assert_int_equal(adv_from(MODE_TLS_ABRUPT, TLS1_3_VERSION, "ca.pem", NULL),
				 -EACCES);
	}
	/* TLS 1.2: inside the handshake. */
	assert_int_equal(adv_from(MODE_TLS, TLS1_2_VERSION, "ca.pem", "intruder"), -EACCES);
	assert_int_equal(adv_from(MODE_TLS, TLS1_2_VERSION, "ca.pem", NULL), -EACCES);
}

static void test_vanished_mid_handshake(void **state)
{
	assert_int_equal(adv_from(MODE_CLOSE, 0, "ca.pem", "client"), -EHOSTUNREACH);
	assert_int_equal(adv_from(MODE_RESET, 0, "ca.pem", "client"), -EHOSTUNREACH);
}

/* A server we do not trust has refused nothing: it is not our server. */
static void test_server_not_trusted(void **state)
{
	assert_int_equal(adv_from(MODE_TLS, TLS1_3_VERSION, "intruder.pem", "client"),
			 -EHOSTUNREACH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_certificate_refused),
		cmocka_unit_test(test_vanished_mid_handshake),
		cmocka_unit_test(test_server_not_trusted),
	};

	log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	return cmocka_run_group_tests(tests, setup, teardown);
}
