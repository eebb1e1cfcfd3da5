// SPDX-License-Identifier: Apache-2.0
/*
 * The Tang HTTP client against a misbehaving server on loopback: every bad
 * answer is a clear error code, never a crash or a hang.
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "disk/binding.h"

struct server {
	int lfd;
	int port;
	const char *reply; /* whole HTTP response; NULL = accept and stay silent */
	size_t reply_len;
	char request[4096];
	pthread_t tid;
};

/* Serves exactly one connection with the canned reply. */
static void *serve_one(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = recv(fd, s->request, sizeof(s->request) - 1, 0);
	s->request[n > 0 ? n : 0] = '\0';
	if (s->reply) {
		size_t off = 0;

		while (off < s->reply_len) {
			ssize_t w = send(fd, s->reply + off, s->reply_len - off, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
	} else {
		sleep(3); /* longer than the client's timeout */
	}
	close(fd);
	return NULL;
}

static void server_start(struct server *s, const char *reply, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	s->reply = reply;
	s->reply_len = len;
	assert_int_equal(pthread_create(&s->tid, NULL, serve_one, s), 0);
}

static void server_stop(struct server *s)
{
	pthread_join(s->tid, NULL);
	close(s->lfd);
}

static int adv_from(const char *reply, size_t len, json_t **adv)
{
	struct tang_client_opts o = { .timeout_s = 1 };
	struct server s;
	char url[64];
	int ret;

	server_start(&s, reply, len);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	ret = tang_http_adv(url, &o, adv);
	server_stop(&s);
	return ret;
}

#define OK_HDR "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"

static void test_good_reply(void **state)
{
	static const char r[] = OK_HDR "{\"payload\":\"e30\",\"signatures\":[]}";
	json_t *adv = NULL;

	assert_int_equal(adv_from(r, sizeof(r) - 1, &adv), 0);
	assert_string_equal(json_string_value(json_object_get(adv, "payload")), "e30");
	json_decref(adv);
}

static void test_bad_replies(void **state)
{
	static const char junk[] = OK_HDR "this is not json";
	static const char forbidden[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	static const char missing[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	static const char gone[] = "HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n";
	static const char oops[] = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
	static const char garbage[] = "\x01\x02 not http at all\r\n\r\n";
	size_t big_len = strlen(OK_HDR) + 200 * 1024;
	char *big = malloc(big_len);
	json_t *adv = NULL;

	memcpy(big, OK_HDR, strlen(OK_HDR));
	memset(big + strlen(OK_HDR), ' ', big_len - strlen(OK_HDR));
	assert_int_equal(adv_from(junk, sizeof(junk) - 1, &adv), -EPROTO);
	assert_int_equal(adv_from(forbidden, sizeof(forbidden) - 1, &adv), -EACCES);
	/* 404 (no such VM or key) and 410 (the VM's key was deleted) are refusals too. */
	assert_int_equal(adv_from(missing, sizeof(missing) - 1, &adv), -EACCES);
	assert_int_equal(adv_from(gone, sizeof(gone) - 1, &adv), -EACCES);
	assert_int_equal(adv_from(oops, sizeof(oops) - 1, &adv), -EPROTO);
	assert_int_equal(adv_from(big, big_len, &adv), -EMSGSIZE);
	assert_true(adv_from(garbage, sizeof(garbage) - 1, &adv) < 0);
	/* Accepts, never answers: the timeout ends it. */
	assert_int_equal(adv_from(NULL, 0, &adv), -EHOSTUNREACH);
	assert_null(adv);
	free(big);
}

static void test_server_down(void **state)
{
	struct tang_client_opts o = { .timeout_s = 1 };
	struct server s;
	char url[64];
	json_t *adv = NULL;
	int port;

	/* A port that was just free: nothing listens there any more. */
	server_start(&s, "", 0);
	port = s.port;
	close(s.lfd);
	pthread_cancel(s.tid);
	pthread_join(s.tid, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	assert_int_equal(tang_http_adv(url, &o, &adv), -EHOSTUNREACH);
}

static void test_rec_request(void **state)
{
	static const char r[] = OK_HDR "{\"kty\":\"EC\"}";
	struct tang_client_opts o = { .timeout_s = 1 };
	json_t *xfr = json_pack("{s:s}", "kty", "EC"), *reply = NULL;
	struct server s;
	char url[64];

	/* A kid is a thumbprint: path characters never reach the URL. */
	assert_int_equal(tang_http_rec("http://127.0.0.1:1", "../adv", xfr, &o, &reply), -EINVAL);
	server_start(&s, r, sizeof(r) - 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	assert_int_equal(tang_http_rec(url, "abc_-9", xfr, &o, &reply), 0);
	server_stop(&s);
	assert_non_null(strstr(s.request, "POST /rec/abc_-9 HTTP/1.1"));
	assert_non_null(strstr(s.request, "Content-Type: application/jwk+json"));
	json_decref(reply);
	json_decref(xfr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_reply),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_server_down),
		cmocka_unit_test(test_rec_request),
	};

	log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
