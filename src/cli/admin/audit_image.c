// SPDX-License-Identifier: Apache-2.0
/* pocketvm-admin audit verify and image upload: the two commands with real client logic. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/admin/admin.h"
#include "server/audit_chain.h"

/*
 * Walks the whole log from seq 1, checking numbering, links, hashes and
 * signatures. Deleting the newest entries leaves a sound shorter chain:
 * --expect-head (printed by an earlier run) catches that.
 */
int cmd_audit_verify(struct admin *a, int argc, char **argv)
{
	const char *head = opt(argc, argv, "--expect-head"), *kf = opt(argc, argv, "--lease-key");
	struct audit_verifier v;
	json_t *key = NULL;
	long long hseq = head ? atoll(head) : -1;
	const char *hhash = head && strchr(head, ':') ? strchr(head, ':') + 1 : "";
	bool head_seen = false;
	struct answer ans;
	char path[128];
	int r = 1;

	if (kf) {
		key = json_load_file(kf, 0, NULL);
	} else if (admin_call(a, "GET", "/v1/server", NULL, 0, NULL, &ans) == 0) {
		key = json_incref(json_object_get(ans.json, "lease_key"));
		answer_free(&ans);
	}
	if (!key) {
		fprintf(stderr, "pocketvm-admin: cannot get the server's lease key\n");
		return 1;
	}
	audit_verifier_init(&v, key);
	for (;;) {
		json_t *entries, *e;
		size_t i;

		snprintf(path, sizeof(path), "/v1/admin/audit?after=%" PRId64 "&limit=1000",
			 v.next_seq - 1);
		if (admin_call(a, "GET", path, NULL, 0, NULL, &ans) < 0)
			goto out;
		if (ans.status != 200) {
			answer_fail(&ans);
			answer_free(&ans);
			goto out;
		}
		entries = json_object_get(ans.json, "entries");
		json_array_foreach(entries, i, e)
		{
			const char *why = audit_verify_entry(&v, e);

			if (why) {
				printf("audit log BROKEN at seq %" PRId64 " (entry %lld): %s\n",
				       v.next_seq,
				       (long long)json_integer_value(json_object_get(e, "seq")),
				       why);
				answer_free(&ans);
				goto out;
			}
			if (v.next_seq - 1 == hseq) {
				head_seen = true;
				if (strcmp(v.prev, hhash) != 0) {
					printf("audit log BROKEN: entry %lld differs from the expected "
					       "head (history rewritten)\n",
					       hseq);
					answer_free(&ans);
					goto out;
				}
			}
		}
		i = json_array_size(entries);
		answer_free(&ans);
		if (i < 1000)
			break;
	}
	if (head && !head_seen) {
		printf("audit log BROKEN: ends at seq %" PRId64 ", expected at least %lld "
		       "(newest entries deleted)\n",
		       v.next_seq - 1, hseq);
		goto out;
	}
	printf("audit log verified: %" PRId64 " entries, head %" PRId64 ":%s\n", v.checked,
	       v.next_seq - 1, v.prev);
	r = 0;
out:
	json_decref(key);
	return r;
}

#define CHUNK (1024 * 1024)

/* Uploads one file in chunks, resuming where the server's partial copy ends. */
static int upload_file(struct admin *a, const char *name, const char *ver, const char *kind,
		       const char *file)
{
	char path[512], *buf = malloc(CHUNK);
	int fd = open(file, O_RDONLY | O_CLOEXEC), r = 1;
	uint64_t off = 0;
	struct answer ans;
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0 || !buf) {
		fprintf(stderr, "pocketvm-admin: cannot read %s: %s\n", file, strerror(errno));
		goto out;
	}
	for (;;) {
		n = pread(fd, buf, CHUNK, (off_t)off);
		if (n < 0)
			goto out;
		if (n == 0 && off > 0)
			break;
		snprintf(path, sizeof(path), "/v1/admin/images/%s/%s/files/%s?offset=%" PRIu64,
			 name, ver, kind, off);
		if (admin_call(a, "PUT", path, buf, (size_t)n, "application/octet-stream", &ans) <
		    0)
			goto out;
		if (ans.status == 409 && json_object_get(ans.json, "size")) {
			off = json_integer_value(json_object_get(ans.json, "size"));
			answer_free(&ans);
			continue;
		}
		if (ans.status != 200) {
			answer_fail(&ans);
			answer_free(&ans);
			goto out;
		}
		off = json_integer_value(json_object_get(ans.json, "size"));
		answer_free(&ans);
		if (n == 0 || off >= (uint64_t)st.st_size)
			break;
	}
	fprintf(stderr, "pocketvm-admin: uploaded %s (%" PRIu64 " bytes)\n", kind, off);
	r = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

int cmd_image_upload(struct admin *a, int argc, char **argv)
{
	static const char *const kinds[] = { "kernel", "initrd", "disk" };
	struct answer ans;
	char path[256], flag[16];
	int files = 0;

	if (argc < 2 || strpbrk(argv[0], "/?#% ") || strpbrk(argv[1], "/?#% "))
		return 2;
	for (int i = 0; i < 3; i++) {
		const char *f;

		snprintf(flag, sizeof(flag), "--%s", kinds[i]);
		f = opt(argc, argv, flag);
		if (!f)
			continue;
		if (upload_file(a, argv[0], argv[1], kinds[i], f))
			return 1;
		files++;
	}
	if (!files)
		return 2;
	snprintf(path, sizeof(path), "/v1/admin/images/%s/%s/publish", argv[0], argv[1]);
	if (admin_call(a, "POST", path, "{}", 2, NULL, &ans) < 0)
		return 1;
	return answer_print(&ans, 201);
}
