/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device identity: its private key (generated here, never sent), the
 * certificate and CA received at enrollment, the server's lease key, and the
 * key that authenticates the state file.
 *
 * Files in the state directory (0700, root): device.key and state.key are
 * 0600. They are files because pocketvmd must check in and authenticate to
 * the server after an unattended reboot, with no user to type a secret and no
 * TPM on our targets yet; root on the device can read them, which is why the
 * disk keys are never stored on the device (docs/security.md). In memory the
 * keys live in OpenSSL's secure heap (locked, not dumped).
 */
#ifndef POCKETVM_DEVICE_IDENTITY_H
#define POCKETVM_DEVICE_IDENTITY_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "device/state.h"

#define URL_MAX_LEN 512

struct identity {
	bool enrolled;
	char device_id[ID_LEN + 1];
	char server_id[ID_LEN + 1];
	char url[URL_MAX_LEN + 1]; /* https://host:port, no trailing slash */
	char group[NAME_MAX_LEN + 1];
	EVP_PKEY *key;
	X509 *cert;
	X509 *ca;
	json_t *lease_key;
};

/* Loads the identity from dir; not enrolled (and 0) if there is none. */
int __must_check identity_load(struct identity *id, const char *dir, char *err, size_t errlen);
void identity_clear(struct identity *id);

/* Generates an EC P-256 key and a CSR (PEM, malloc'd) signed with it. */
int __must_check identity_new_key(EVP_PKEY **key, char **csr_pem);

/*
 * Writes the identity durably (key first, the marker file identity.json
 * last, so a crash leaves either no identity or a complete one).
 */
int __must_check identity_save(const struct identity *id, const char *dir);

/*
 * Destroys the identity files (marker first: a crash halfway leaves no
 * identity that looks valid). The caller then clears the memory copy.
 */
int __must_check identity_destroy(const char *dir);

/* Loads dir/state.key, creating 32 random bytes (0600) if absent. */
int __must_check state_key_load(const char *dir, uint8_t key[STATE_KEY_LEN], bool *created);

/* Parses one PEM certificate; NULL if malformed. */
X509 *x509_from_pem(const char *pem);

/* SHA-256 of a certificate's DER encoding. */
void cert_sha256(X509 *x, uint8_t out[32]);

/* Parses "64 hex digits" (colons allowed) into out. */
bool parse_sha256_hex(const char *s, uint8_t out[32]);

#endif
