// SPDX-License-Identifier: Apache-2.0
/*
 * Images: admins upload files in chunks (resumable) and publish a signed
 * manifest; devices fetch the manifest and the files with HTTP ranges.
 * Layout: IMAGE_DIR/<name>/<version>/<file>[.part], file in kernel|initrd|disk.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/api.h"

static const char *const image_files[] = { "kernel", "initrd", "disk" };

static bool file_kind_valid(const char *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(image_files); i++)
		if (strcmp(f, image_files[i]) == 0)
			return true;
	return false;
}

static bool image_path(struct req *r, char *out, size_t n, const char *file, const char *sfx)
{
	if (!name_valid(r->args[0], 64) || !name_valid(r->args[1], 64) ||
	    (file && !file_kind_valid(file))) {
		reply_error(r, 404, "not_found", "bad image name, version or file");
		return false;
	}
	int len = snprintf(out, n, "%s/%s/%s%s%s%s", r->w->srv->image_dir, r->args[0], r->args[1],
			   file ? "/" : "", file ? file : "", sfx);

	if (len < 0 || (size_t)len >= n) {
		reply_error(r, 414, "uri_too_long", "image path too long");
		return false;
	}
	return true;
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* 1 if published, 0 if not, <0 on error (replied). */
static int image_published(struct req *r, struct store_rows *rows)
{
	int rc = SQ(r->w->store, Q_IMAGE_GET, rows, r->args[0], r->args[1]);

	if (rc < 0)
		reply_store_error(r, rc);
	return rc;
}

void h_admin_image_upload(struct req *r)
{
	char path[4096], dir[4096], obuf[32];
	struct store_rows rows;
	const char *ostr = req_query(r, "offset", obuf, sizeof(obuf));
	uint64_t off;
	struct stat st;
	char *end;
	int fd, rc;

	if (!image_path(r, path, sizeof(path), r->args[2], ".part") ||
	    !image_path(r, dir, sizeof(dir), NULL, ""))
		return;
	rc = image_published(r, &rows);
	store_rows_free(&rows);
	if (rc < 0)
		return;
	if (rc > 0) {
		reply_error(r, 409, "already_published", "%s %s is published", r->args[0],
			    r->args[1]);
		return;
	}
	off = ostr ? strtoull(ostr, &end, 10) : 0;
	if (!ostr || *end || ostr[0] == '-') {
		reply_error(r, 400, "bad_request", "offset=N query parameter required");
		return;
	}
	if (mkdir_p(dir) < 0) {
		reply_error(r, 500, "internal", "cannot create the image directory");
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (off == 0 ? O_TRUNC : 0), 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		reply_error(r, 500, "internal", "cannot open the upload file");
		goto out;
	}
	if ((uint64_t)st.st_size != off) {
		reply_json(r, 409,
			   json_pack("{s:s,s:s,s:I}", "error", "offset_mismatch", "message",
				     "resume at the current size", "size", (json_int_t)st.st_size));
		goto out;
	}
	if (pwrite(fd, r->body, r->body_len, (off_t)off) != (ssize_t)r->body_len) {
		reply_error(r, 500, "internal", "cannot write the upload");
		goto out;
	}
	reply_json(r, 200, json_pack("{s:I}", "size", (json_int_t)(off + r->body_len)));
out:
	if (fd >= 0)
		close(fd);
}

static int hash_file(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char buf[65536], md[32];
	unsigned int mdlen = sizeof(md);
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -EIO;
	ssize_t n;

	*size = 0;
	if (fd < 0 || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		*size += n;
	}
	if (n < 0 || !EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return r;
}

void h_admin_image_publish(struct req *r)
{
	json_t *files = json_object(), *manifest = NULL, *jws = NULL;
	char part[4096], final[4096], hex[SHA256_HEX_LEN + 1], b[24];
	struct store_rows rows;
	char *mtext = NULL, *jtext = NULL;
	int64_t now = now_s();
	uint64_t size;
	int rc;

	rc = image_published(r, &rows);
	store_rows_free(&rows);
	if (rc != 0) {
		if (rc > 0)
			reply_error(r, 409, "already_published", "%s %s is published", r->args[0],
				    r->args[1]);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(image_files); i++) {
		if (!image_path(r, part, sizeof(part), image_files[i], ".part") ||
		    !image_path(r, final, sizeof(final), image_files[i], ""))
			goto out;
		if (access(part, F_OK) != 0)
			continue;
		if (hash_file(part, hex, &size) < 0 || rename(part, final) < 0) {
			reply_error(r, 500, "internal", "cannot finalize %s", image_files[i]);
			goto out;
		}
		json_object_set_new(
			files, image_files[i],
			json_pack("{s:I,s:s}", "size", (json_int_t)size, "sha256", hex));
	}
	if (json_object_size(files) == 0) {
		reply_error(r, 400, "no_files", "upload kernel, initrd and/or disk first");
		goto out;
	}
	manifest =
		json_pack("{s:s,s:s,s:s,s:I,s:O}", "iss", r->w->keys.server_id, "name", r->args[0],
			  "version", r->args[1], "published", (json_int_t)now, "files", files);
	jws = manifest ? keys_sign(&r->w->keys, manifest, "pocketvm-manifest+jwt") : NULL;
	mtext = manifest ? json_dumps(manifest, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	jtext = jws ? json_dumps(jws, JSON_COMPACT) : NULL;
	if (!mtext || !jtext) {
		reply_error(r, 500, "internal", "cannot sign the manifest");
		goto out;
	}
	rc = store_begin(r->w->store);
	if (rc >= 0)
		rc = SQ(r->w->store, Q_IMAGE_INSERT, NULL, r->args[0], r->args[1], mtext, jtext,
			i64s(b, now));
	if (rc >= 0)
		rc = audit_append(r->w, r->actor, "image.publish", r->args[0],
				  json_pack("{s:s,s:O}", "version", r->args[1], "files", files));
	if (rc >= 0)
		rc = store_commit(r->w->store);
	if (rc < 0) {
		store_rollback(r->w->store);
		reply_store_error(r, rc);
		goto out;
	}
	reply_json(r, 201, json_pack("{s:O,s:O}", "manifest", manifest, "jws", jws));
out:
	free(mtext);
	free(jtext);
	json_decref(files);
	json_decref(manifest);
	json_decref(jws);
}

void h_admin_image_list(struct req *r)
{
	struct store_rows rows;
	json_t *arr = json_array();
	int rc = SQ0(r->w->store, Q_IMAGE_LIST, &rows);

	if (rc < 0) {
		json_decref(arr);
		reply_store_error(r, rc);
		return;
	}
	for (int i = 0; i < rows.nrows; i++) {
		json_t *m = json_loads(store_cell(&rows, i, 3), 0, NULL);

		json_array_append_new(
			arr, json_pack("{s:s,s:s,s:I,s:o?}", "name", store_cell(&rows, i, 0),
				       "version", store_cell(&rows, i, 1), "published",
				       (json_int_t)store_cell_i64(&rows, i, 2), "files",
				       json_incref(json_object_get(m, "files"))));
		json_decref(m);
	}
	store_rows_free(&rows);
	reply_json(r, 200, json_pack("{s:o}", "images", arr));
}

/* Loads the published image the device may use; replies itself when not. */
static bool device_image(struct req *r, struct store_rows *rows)
{
	json_t *pol;
	bool ok;

	memset(rows, 0, sizeof(*rows));
	if (strcmp(r->device_status, "active") != 0) {
		reply_error(r, 403, "device_revoked", "device is revoked");
		return false;
	}
	if (!name_valid(r->args[0], 64) || !name_valid(r->args[1], 64)) {
		reply_error(r, 404, "not_found", "no such image");
		return false;
	}
	if (image_published(r, rows) < 0)
		return false;
	if (rows->nrows != 1) {
		reply_error(r, 404, "not_found", "no such image");
		return false;
	}
	pol = policy_effective(r->w, r->device_grp, r->device_policy, NULL);
	ok = pol && policy_image_allowed(pol, r->args[0], r->args[1]);
	json_decref(pol);
	if (!ok) {
		reply_error(r, 403, "image_not_allowed", "policy does not allow %s@%s", r->args[0],
			    r->args[1]);
		store_rows_free(rows);
	}
	return ok;
}

void h_image_manifest(struct req *r)
{
	struct store_rows rows;
	const char *jws;

	if (!device_image(r, &rows))
		return;
	jws = store_cell(&rows, 0, 1);
	reply_raw(r, 200, "application/jose+json", jws, strlen(jws));
	store_rows_free(&rows);
}

static void send_file(struct req *r, int fd, uint64_t size, const char *sha)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	const char *range = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Range");
	struct evbuffer *buf = evbuffer_new();
	uint64_t first = 0, last = size ? size - 1 : 0;
	char v[128];
	int status = 200, pr = range ? http_range_parse(range, size, &first, &last) : 0;

	snprintf(v, sizeof(v), "\"%s\"", sha);
	evhttp_add_header(h, "ETag", v);
	evhttp_add_header(h, "Accept-Ranges", "bytes");
	if (pr < 0) {
		snprintf(v, sizeof(v), "bytes */%" PRIu64, size);
		evhttp_add_header(h, "Content-Range", v);
		close(fd);
		evbuffer_free(buf);
		reply_error(r, 416, "range_not_satisfiable", "range outside 0..%" PRIu64, size);
		return;
	}
	if (pr > 0) {
		status = 206;
		snprintf(v, sizeof(v), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
		evhttp_add_header(h, "Content-Range", v);
	}
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	r->replied = true;
	if (size == 0)
		close(fd);
	else if (evbuffer_add_file(buf, fd, (ev_off_t)first, (ev_off_t)(last - first + 1)) < 0)
		close(fd);
	evhttp_send_reply(r->ev, status, NULL, buf);
	evbuffer_free(buf);
}

void h_image_file(struct req *r)
{
	struct store_rows rows;
	json_t *m = NULL, *f;
	const char *sha = NULL;
	json_int_t size = 0;
	char path[4096];
	struct stat st;
	int fd;

	if (!file_kind_valid(r->args[2])) {
		reply_error(r, 404, "not_found", "file is kernel, initrd or disk");
		return;
	}
	if (!device_image(r, &rows))
		return;
	m = json_loads(store_cell(&rows, 0, 0), 0, NULL);
	f = json_object_get(json_object_get(m, "files"), r->args[2]);
	if (!f || json_unpack(f, "{s:I,s:s}", "size", &size, "sha256", &sha) < 0) {
		reply_error(r, 404, "not_found", "image has no %s", r->args[2]);
		goto out;
	}
	if (!image_path(r, path, sizeof(path), r->args[2], ""))
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != size) {
		if (fd >= 0)
			close(fd);
		reply_error(r, 500, "internal", "image file missing or changed on the server");
		goto out;
	}
	send_file(r, fd, (uint64_t)size, sha);
out:
	json_decref(m);
	store_rows_free(&rows);
}
