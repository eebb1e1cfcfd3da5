// SPDX-License-Identifier: Apache-2.0
/*
 * pocketvm-server --listen ADDR --db URL --state DIR
 *
 * First start creates STATE (CA, server keys) and, when the database has no
 * admin token yet, an initial admin token printed once on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/server.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pocketvm-server --listen HOST:PORT --db URL --state DIR [options]\n"
		   "  --db sqlite:PATH | postgresql://...   database (SQLite file or PostgreSQL)\n"
		   "  --state DIR            CA, server keys (created on first start, mode 0700)\n"
		   "  --images DIR           image store (default STATE/images; shared storage\n"
		   "                         when several instances serve one database)\n"
		   "  --hostname NAME        name or address for the server certificate (repeat;\n"
		   "                         default localhost and 127.0.0.1)\n"
		   "  --threads N            worker threads (default: number of CPUs)\n"
		   "  --unauth-rate R        unauthenticated requests per second per address (2)\n"
		   "  --unauth-burst B       bucket size for those (20)\n"
		   "  --default-offline S    offline lifetime when no policy sets one (43200)\n"
		   "  --port-file FILE       write the bound port there (for --listen HOST:0)\n"
		   "  --log-level LEVEL      error|warn|info|debug (info)\n");
}

/* Creates the first admin token when the database has none (serialized across instances). */
static int initial_admin_token(struct store *s)
{
	struct store_rows rows;
	char id[UUID_LEN + 1], token[64], hash[SHA256_HEX_LEN + 1], b1[24], b2[24];
	int64_t now = now_s();
	int r;

	r = store_begin(s);
	if (r < 0)
		return r;
	r = store_lock(s, STORE_LOCK_MIGRATE);
	if (r >= 0)
		r = SQ(s, Q_GROUP_INSERT, NULL, "default", "{}", i64s(b1, now));
	if (r >= 0)
		r = SQ0(s, Q_ADMIN_TOKEN_LIST, &rows);
	if (r > 0) {
		store_rows_free(&rows);
		return store_commit(s);
	}
	if (r < 0) {
		store_rollback(s);
		return r;
	}
	r = uuid_random(id);
	if (r >= 0)
		r = token_random("pva_", token, sizeof(token));
	if (r < 0)
		goto out;
	sha256_hex(token, strlen(token), hash);
	r = SQ(s, Q_ADMIN_TOKEN_INSERT, NULL, id, hash, "initial-admin", "admin", i64s(b1, now),
	       i64s(b2, now + 365 * 86400LL));
	if (r >= 0)
		r = store_commit(s);
	if (r >= 0) {
		printf("initial admin token (shown once, valid 365 days): %s\n", token);
		fflush(stdout);
	}
out:
	explicit_bzero(token, sizeof(token));
	if (r < 0)
		store_rollback(s);
	return r;
}

/* True for "scheme://user:password@host...": a password in the authority part. */
static bool url_has_password(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at, *colon;

	if (!auth)
		return false;
	auth += 3;
	end = strchrnul(auth, '/');
	at = memchr(auth, '@', end - auth);
	colon = at ? memchr(auth, ':', at - auth) : NULL;
	return colon != NULL;
}

static int parse_args(struct server_config *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "state", required_argument, NULL, 's' },
		{ "images", required_argument, NULL, 'i' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "threads", required_argument, NULL, 't' },
		{ "unauth-rate", required_argument, NULL, 'r' },
		{ "unauth-burst", required_argument, NULL, 'b' },
		{ "default-offline", required_argument, NULL, 'o' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	enum log_level lvl;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			c->listen = optarg;
			break;
		case 'd':
			c->db_url = optarg;
			break;
		case 's':
			c->state_dir = optarg;
			break;
		case 'i':
			c->image_dir = optarg;
			break;
		case 'p':
			c->port_file = optarg;
			break;
		case 'H':
			if (c->nhosts == MAX_HOSTS)
				die("at most %d --hostname", MAX_HOSTS);
			c->hosts[c->nhosts++] = optarg;
			break;
		case 't':
			c->threads = atoi(optarg);
			break;
		case 'r':
			c->unauth_rate = atof(optarg);
			break;
		case 'b':
			c->unauth_burst = atof(optarg);
			break;
		case 'o':
			c->default_offline = atoll(optarg);
			break;
		case 'L':
			if (!log_parse_level(optarg, &lvl))
				die("unknown log level %s", optarg);
			log_set_level(lvl);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!c->listen || !c->db_url || !c->state_dir || optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	if (c->threads < 1 || c->threads > 64 || c->unauth_rate <= 0 || c->unauth_burst < 1 ||
	    c->default_offline < 60)
		die("bad --threads (1..64), --unauth-rate, --unauth-burst or --default-offline");
	if (url_has_password(c->db_url))
		log_warn(
			"--db carries a password, visible to every local user in the process list; "
			"use ~/.pgpass or PGPASSFILE instead");
	if (c->nhosts == 0) {
		c->hosts[c->nhosts++] = "localhost";
		c->hosts[c->nhosts++] = "127.0.0.1";
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct server_config *c = &srv.cfg;
	struct store *s;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	log_set_ident("pocketvm-server");
	/* Keys pass through this process: keep them out of core dumps and ptrace. */
	prctl(PR_SET_DUMPABLE, 0);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	json_use_wiping_allocator();
	c->threads = ncpu > 0 ? (int)ncpu : 1;
	c->unauth_rate = 2;
	c->unauth_burst = 20;
	c->default_offline = 43200;
	c->default_checkin = 300;
	if (parse_args(c, argc, argv) < 0)
		return 2;
	if (mkdir(c->state_dir, 0700) < 0 && errno != EEXIST)
		die("cannot create %s: %s", c->state_dir, strerror(errno));
	snprintf(srv.image_dir, sizeof(srv.image_dir), "%s",
		 c->image_dir ? c->image_dir : c->state_dir);
	if (!c->image_dir)
		strncat(srv.image_dir, "/images",
			sizeof(srv.image_dir) - strlen(srv.image_dir) - 1);
	if (keys_load_or_create(&srv.keys, c->state_dir) < 0 ||
	    ca_open(&srv.ca, c->state_dir, c->hosts, c->nhosts, srv.keys.server_id) < 0)
		die("cannot set up the state directory %s", c->state_dir);
	s = store_open(c->db_url);
	if (!s)
		die("cannot open the database");
	r = initial_admin_token(s);
	store_free(s);
	if (r < 0)
		die("cannot create the initial admin token");
	log_info("server %s, CA sha256 %s, advertisement key %s", srv.keys.server_id, srv.ca.sha256,
		 srv.keys.adv_thp);
	srv.rl = ratelimit_new(c->unauth_rate, c->unauth_burst);
	if (!srv.rl)
		die("out of memory");
	r = http_start(&srv);
	ratelimit_free(srv.rl);
	ca_close(&srv.ca);
	keys_release(&srv.keys);
	return r < 0 ? 1 : 0;
}
