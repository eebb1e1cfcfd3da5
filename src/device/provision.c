// SPDX-License-Identifier: Apache-2.0
/*
 * Provisioning a work VM from the image the server assigned to it
 * (docs/protocol.md section 7): the manifest is verified with the lease key,
 * each file is downloaded (resumed with Range after an interruption) and
 * checked against the manifest's size and SHA-256, the disk is encrypted
 * here under a fresh DEK bound to the VM's Tang path on the server (the DEK
 * exists only in secret memory during this), and the VM directory appears
 * atomically (built under vms/.NAME.new, then renamed). Runs in a worker
 * thread; the event loop only learns the result.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "crypto/aead.h"
#include "crypto/secret.h"
#include "device/client.h"
#include "device/daemon.h"
#include "device/fsutil.h"
#include "device/jsonx.h"
#include "device/lease.h"
#include "device/proto.h"
#include "disk/binding.h"
#include "disk/blockdev.h"
#include "disk/create.h"

#define DEFAULT_CMDLINE "console=ttyS0 root=/dev/vda rw quiet"

struct prov_job {
	struct netjob job;
	struct pvd *d;
	char url[URL_MAX_LEN + 1];
	char dir[PATH_MAX];
	X509 *ca, *cert;
	EVP_PKEY *key;
	json_t *lease_key;
	char vm[ID_LEN + 1];
	char name[NAME_MAX_LEN + 1];
	char image[NAME_MAX_LEN + 1];
	char version[NAME_MAX_LEN + 1];
	int r;
	char err[400];
};

#define FAIL(r_, ...)                                          \
	do {                                                   \
		j->r = (r_);                                   \
		snprintf(j->err, sizeof(j->err), __VA_ARGS__); \
		goto out;                                      \
	} while (0)

/* GETs a small JSON document over the pinned, mutually authenticated channel. */
static json_t *get_json(struct prov_job *j, const char *path)
{
	struct client_tls tls = { .ca = j->ca, .cert = j->cert, .key = j->key };
	struct http_resp resp = { 0 };
	json_t *out = NULL;
	int r = client_request(j->url, &tls, "GET", path, NULL, NULL, 0, &resp, j->err,
			       sizeof(j->err));

	if (r < 0)
		j->r = r;
	else if (resp.status != 200)
		snprintf(j->err, sizeof(j->err), "GET %s: %ld %s", path, resp.status, resp.error);
	else
		out = jx_load(resp.body, resp.len, CLIENT_MAX_BODY);
	http_resp_free(&resp);
	return out;
}

static bool sha256_file(const char *path, char hex[65])
{
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;
	bool ok = c && fd >= 0 && EVP_DigestInit_ex(c, EVP_sha256(), NULL);

	while (ok && (n = read(fd, buf, sizeof(buf))) > 0)
		ok = EVP_DigestUpdate(c, buf, (size_t)n);
	ok = ok && n == 0 && EVP_DigestFinal_ex(c, md, NULL);
	for (int i = 0; ok && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(c);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Downloads one file to path, resuming a previous partial download. */
static int fetch(struct prov_job *j, int which, const struct manifest *m, const char *path)
{
	struct client_tls tls = { .ca = j->ca, .cert = j->cert, .key = j->key };
	char part[PATH_MAX + 320], url[512], hex[65];
	uint64_t want = m->files[which].size;
	struct stat st;
	long long n;
	int fd;

	snprintf(part, sizeof(part), "%s.part", path);
	snprintf(url, sizeof(url), "/v1/images/%s/%s/files/%s", j->image, j->version,
		 manifest_file_names[which]);
	fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fd < 0 ? -errno : -EIO;
	if ((uint64_t)st.st_size > want && ftruncate(fd, 0) == 0)
		st.st_size = 0;
	n = (uint64_t)st.st_size < want ?
		    client_download(j->url, &tls, url, fd, (unsigned long long)st.st_size, want,
				    j->err, sizeof(j->err)) :
		    0;
	if (n >= 0 && fsync(fd) < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	if ((uint64_t)st.st_size + (uint64_t)n != want || !sha256_file(part, hex) ||
	    strcmp(hex, m->files[which].sha256) != 0) {
		unlink(part); /* corrupt: start over next time */
		snprintf(j->err, sizeof(j->err), "%s: size or SHA-256 differs from the manifest",
			 manifest_file_names[which]);
		return -EBADMSG;
	}
	return rename(part, path) < 0 ? -errno : 0;
}

/* Encrypts raw into img under a new DEK bound to the VM's Tang path. */
static int encrypt_disk(struct prov_job *j, const char *raw, const char *img, const char *thp)
{
	char cert[PATH_MAX + 16], key[PATH_MAX + 16], ca[PATH_MAX + 16], tang[URL_MAX_LEN + 64];
	struct tang_client_opts o = { .cafile = ca, .cert = cert, .key = key, .timeout_s = 20 };
	uint8_t uuid[IMAGE_UUID_LEN];
	struct blockdev *src = NULL;
	struct secret *dek = NULL;
	json_t *arr = json_array(), *thps = NULL;
	char *doc = NULL;
	struct stat st;
	int fd = -1, r;

	snprintf(ca, sizeof(ca), "%s/ca.pem", j->dir);
	snprintf(cert, sizeof(cert), "%s/device.pem", j->dir);
	snprintf(key, sizeof(key), "%s/device.key", j->dir);
	snprintf(tang, sizeof(tang), "%s/tang/%s", j->url, j->vm);
	r = stat(raw, &st) < 0 ? -errno : 0;
	r = r ? r : blockdev_raw_open(raw, true, &src);
	r = r ? r : secret_new(IMAGE_DEK_LEN, &dek);
	r = r ? r : crypto_random(dek->data, IMAGE_DEK_LEN);
	r = r ? r : image_new_uuid(uuid);
	r = r ? r : binding_add_tang(arr, uuid, dek, tang, thp, false, &o, &thps);
	if (r) {
		snprintf(j->err, sizeof(j->err), "cannot bind the disk to %.200s: %s", tang,
			 strerror(-r));
		goto out;
	}
	doc = bindings_dump(arr);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (!doc || fd < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	r = image_create(fd, ALIGN_UP((uint64_t)st.st_size, (uint64_t)IMAGE_BLOCK_SIZE), uuid, dek,
			 doc, src, 2);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (r)
		snprintf(j->err, sizeof(j->err), "cannot create the encrypted disk: %s",
			 strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	if (src)
		blockdev_close(src);
	secret_free(dek);
	free(doc);
	json_decref(arr);
	json_decref(thps);
	return r;
}

static int write_vmconf(struct prov_job *j, const char *tmp, const struct manifest *m)
{
	char p[PATH_MAX + 160], *txt;
	json_t *c = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:s}", "name", j->name, "managed", j->vm,
			      "kernel", "kernel", "disk", "disk.img", "encrypted", 1, "cmdline",
			      DEFAULT_CMDLINE, "image", j->image);
	int r;

	if (m->files[MANIFEST_INITRD].present)
		json_object_set_new(c, "initrd", json_string("initrd"));
	txt = c ? json_dumps(c, JSON_INDENT(2)) : NULL;
	json_decref(c);
	if (!txt)
		return -ENOMEM;
	snprintf(p, sizeof(p), "%s/vm.json", tmp);
	r = write_file_atomic(p, txt, strlen(txt), 0600);
	free(txt);
	return r;
}

static void prov_run(struct netjob *job)
{
	struct prov_job *j = (struct prov_job *)job;
	char tmp[PATH_MAX + 128], fin[PATH_MAX + 128], p[PATH_MAX + 256], raw[PATH_MAX + 256];
	char thp[128] = "";
	json_t *srv = NULL, *mj = NULL;
	struct manifest m;
	char path[300];

	j->r = -EIO;
	snprintf(tmp, sizeof(tmp), "%s/vms/.%s.new", j->dir, j->name);
	snprintf(fin, sizeof(fin), "%s/vms/%s", j->dir, j->name);
	srv = get_json(j, "/v1/server");
	if (!srv || !jx_str(srv, "adv_thp", thp, sizeof(thp))) {
		j->r = j->r == -EHOSTUNREACH ? j->r : -EPROTO;
		goto out; /* j->err says why */
	}
	snprintf(path, sizeof(path), "/v1/images/%s/%s/manifest", j->image, j->version);
	mj = get_json(j, path);
	if (!mj)
		goto out;
	if (!manifest_verify(mj, j->lease_key, j->image, j->version, &m, j->err, sizeof(j->err))) {
		j->r = -EBADMSG;
		goto out;
	}
	if (!m.files[MANIFEST_KERNEL].present || !m.files[MANIFEST_DISK].present)
		FAIL(-EINVAL, "image %s %s has no kernel or no disk", j->image, j->version);
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		FAIL(-errno, "cannot create %.200s: %s", tmp, strerror(errno));
	for (int i = 0; i < MANIFEST_NFILES; i++) {
		if (!m.files[i].present)
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmp,
			 i == MANIFEST_DISK ? "disk.raw" : manifest_file_names[i]);
		j->r = fetch(j, i, &m, p);
		if (j->r < 0)
			goto out;
	}
	snprintf(raw, sizeof(raw), "%s/disk.raw", tmp);
	snprintf(p, sizeof(p), "%s/disk.img", tmp);
	j->r = encrypt_disk(j, raw, p, thp);
	if (j->r < 0)
		goto out;
	unlink(raw);
	j->r = write_vmconf(j, tmp, &m);
	if (!j->r && rename(tmp, fin) < 0)
		j->r = -errno;
	if (j->r)
		FAIL(j->r, "cannot install %.200s: %s", fin, strerror(-j->r));
	snprintf(p, sizeof(p), "%s/vms", j->dir);
	fsync_dir(p);
out:
	json_decref(srv);
	json_decref(mj);
}

static void prov_done(struct netjob *job)
{
	struct prov_job *j = (struct prov_job *)job;
	struct pvd *d = j->d;

	d->provisioning = false;
	if (j->r)
		log_error("vm %s: provisioning image %s %s failed: %s", j->name, j->image,
			  j->version, j->err);
	else
		log_info("vm %s: provisioned from image %s %s (disk encrypted, bound to the "
			 "server)",
			 j->name, j->image, j->version);
	X509_free(j->ca);
	X509_free(j->cert);
	EVP_PKEY_free(j->key);
	json_decref(j->lease_key);
	free(j);
	pvd_scan_vms(d);
	pvd_autostart(d);
}

void provision_check(struct pvd *d, const struct proto_vm *vms, size_t n)
{
	struct prov_job *j;

	if (d->provisioning || !d->id.enrolled)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct proto_vm *v = &vms[i];

		if (!v->image[0] || strcmp(v->state, "active") != 0 || pvd_vm_by_id(d, v->id) ||
		    !vm_name_ok(v->name) || pvd_vm(d, v->name))
			continue;
		j = calloc(1, sizeof(*j));
		if (!j)
			return;
		j->job.run = prov_run;
		j->job.done = prov_done;
		j->d = d;
		snprintf(j->url, sizeof(j->url), "%s", d->id.url);
		snprintf(j->dir, sizeof(j->dir), "%s", d->dir);
		snprintf(j->vm, sizeof(j->vm), "%s", v->id);
		snprintf(j->name, sizeof(j->name), "%s", v->name);
		snprintf(j->image, sizeof(j->image), "%s", v->image);
		snprintf(j->version, sizeof(j->version), "%s", v->image_version);
		X509_up_ref(j->ca = d->id.ca);
		X509_up_ref(j->cert = d->id.cert);
		EVP_PKEY_up_ref(j->key = d->id.key);
		j->lease_key = json_incref(d->id.lease_key);
		log_info("vm %s: provisioning image %s %s from the server", v->name, v->image,
			 v->image_version);
		if (netq_submit(d->net, &j->job) < 0) {
			prov_done(&j->job);
			return;
		}
		d->provisioning = true;
		return; /* one at a time */
	}
}
